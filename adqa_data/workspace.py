"""The workspace: where every table lives, how it is written safely, and when a stage is up to date.

Layout (table first, so the directory listing reads like the pipeline):

    <workspace>/
      datasets.json                      name -> dataset root, layout, revision (written by download)
      probes/<dataset>/part-00000.parquet
      items/<dataset>/part-00000.parquet
      quarantine/<dataset>/<stage>/part-00000.parquet
      votes/ item_scores/ prompts/ rollouts/ ...   (same pattern)
      provenance/<stage>/<dataset>.json  stage, config, input fingerprints, versions, times, summary
      locks/<stage>.<dataset>.lock

Guarantees: a shard file appears whole or not at all (temporary file, fsync, rename); a table
directory carries the run key of the run that is filling it, so a rerun with the same inputs keeps
finished shards and one with other inputs starts clean; a stage is up to date when its provenance
record holds the same key.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from .errors import UserError
from .fingerprints import file_sha256, stable_hash, tree_fingerprint  # noqa: F401  (re-exported)
from .schema import META_TABLE, META_VERSION, TableSpec

RUN_FILE = "_run.json"
PART_GLOB = "part-*.parquet"


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def package_versions(*names: str) -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version(), "adqa-data": __version__}
    for n in ("pyarrow", "numpy", "soundfile", *names):
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            pass
    return out


# -------------------------------------------------------------------------------------- table files
def write_table_atomic(path: Path, table: pa.Table, spec: TableSpec) -> Path:
    """Write one Parquet shard so that it appears whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = conform(table, spec)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            pq.write_table(table, f, compression="zstd")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text_atomic(path: Path, text: str) -> None:
    """Write a text file so that it appears whole or not at all (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def conform(table: pa.Table, spec: TableSpec) -> pa.Table:
    """Cast a table to the spec's schema (same columns, spec order), with the version metadata.

    Extra columns are kept after the spec's own (stages may add, e.g., one column per reward).
    """
    target = spec.with_metadata()
    missing = [f.name for f in target if f.name not in table.column_names]
    if missing:
        raise ValueError(f"table {spec.name!r} is missing columns {missing}")
    cols = [table.column(f.name).cast(f.type) for f in target]
    fields = list(target)
    for name in table.column_names:
        if name not in target.names:
            cols.append(table.column(name))
            fields.append(table.schema.field(name))
    return pa.Table.from_arrays(cols, schema=pa.schema(fields, metadata=target.metadata))


def shard_paths(directory: Path) -> list[Path]:
    return sorted(directory.glob(PART_GLOB)) if directory.is_dir() else []


def read_table(directory: Path, spec: TableSpec, columns: list[str] | None = None) -> pa.Table:
    """Read every finished shard of a table directory, checking the schema version."""
    parts = shard_paths(directory)
    if not parts:
        return spec.empty() if columns is None else spec.empty().select(columns)
    tables = []
    for p in parts:
        meta = pq.read_schema(p).metadata or {}
        name, version = meta.get(META_TABLE, b"").decode(), meta.get(META_VERSION, b"0").decode()
        if name != spec.name or version != str(spec.version):
            raise UserError(
                f"{p} holds table {name or '?'} v{version}, this version of adqa-data reads "
                f"{spec.name} v{spec.version}",
                fix="rerun the stage that wrote it with --force",
            )
        tables.append(pq.read_table(p, columns=columns))
    return pa.concat_tables(tables, promote_options="default")


# ------------------------------------------------------------------------------------------ workspace
@dataclass
class DatasetRecord:
    name: str
    root: str  # absolute path of the dataset root (audio paths are relative to it)
    layout: str
    split: str
    source: str  # where it came from: a directory, or hub repo@revision
    revision: str | None = None

    def resolve(self, audio_path: str) -> Path:
        return Path(self.root) / audio_path


class Workspace:
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().absolute()

    # paths
    def table_dir(self, table: str, dataset: str, *sub: str) -> Path:
        return self.root.joinpath(table, dataset, *sub)

    def provenance_path(self, stage: str, dataset: str, unit: str | None = None) -> Path:
        return self.root / "provenance" / stage / (f"{dataset}.{unit}.json" if unit else f"{dataset}.json")

    # dataset registry
    @property
    def _registry_path(self) -> Path:
        return self.root / "datasets.json"

    def datasets(self) -> dict[str, DatasetRecord]:
        if not self._registry_path.exists():
            return {}
        raw = json.loads(self._registry_path.read_text())
        return {k: DatasetRecord(**v) for k, v in raw.items()}

    def register_dataset(self, rec: DatasetRecord) -> None:
        with self._registry_lock():
            reg = {k: v.__dict__ for k, v in self.datasets().items()}
            reg[rec.name] = rec.__dict__
            write_json_atomic(self._registry_path, reg)

    def dataset(self, name: str | None) -> DatasetRecord:
        """The named dataset, or the only one; a clear error otherwise."""
        known = self.datasets()
        if not known:
            raise UserError(
                f"workspace {self.root} has no dataset yet",
                fix="run 'adqa-data download ... --workspace' on it first",
            )
        if name is None:
            if len(known) == 1:
                return next(iter(known.values()))
            raise UserError(
                f"workspace {self.root} holds several datasets: {', '.join(sorted(known))}",
                fix="name one with --dataset",
            )
        if name not in known:
            raise UserError(
                f"no dataset {name!r} in workspace {self.root}",
                fix=f"use one of: {', '.join(sorted(known))}",
            )
        return known[name]

    @contextlib.contextmanager
    def _registry_lock(self) -> Iterator[None]:
        from filelock import FileLock

        (self.root / "locks").mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.root / "locks" / "datasets.lock"), timeout=60):
            yield

    # tables
    def read(self, spec: TableSpec, dataset: str, *sub: str, columns: list[str] | None = None) -> pa.Table:
        return read_table(self.table_dir(spec.name, dataset, *sub), spec, columns)

    def items(self, dataset: str, columns: list[str] | None = None) -> pa.Table:
        from .schema import ITEMS

        return self.read(ITEMS, dataset, columns=columns)

    def provenance(self, stage: str, dataset: str, unit: str | None = None) -> dict | None:
        p = self.provenance_path(stage, dataset, unit)
        return json.loads(p.read_text()) if p.exists() else None

    @contextlib.contextmanager
    def lock(self, stage: str, dataset: str, unit: str | None = None) -> Iterator[None]:
        """One run of a stage per (workspace, dataset[, unit]) at a time."""
        from filelock import FileLock, Timeout

        (self.root / "locks").mkdir(parents=True, exist_ok=True)
        path = self.root / "locks" / (f"{stage}.{dataset}.{unit}.lock" if unit else f"{stage}.{dataset}.lock")
        lock = FileLock(str(path), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise UserError(
                f"another '{stage}' run is using dataset {dataset!r} in this workspace",
                where=str(path),
                fix="wait for it to finish (a lock left by a killed run is released by the OS)",
            ) from None
        try:
            yield
        finally:
            lock.release()


# ------------------------------------------------------------------------------------------ stage runs
@dataclass
class StageRun:
    """One run of a stage over one dataset: decides up-to-date, keeps or clears shards, records provenance.

    Use:
        run = StageRun(ws, "download", dataset, config, inputs)
        with run:                      # takes the lock
            if run.up_to_date: ...     # nothing to do
            out = run.output("items")  # a table directory, cleared if it holds another run's shards
            ... write shards with run.write_shard(...), skipping run.shard_done(...)
            run.finish(summary)
    """

    ws: Workspace
    stage: str
    dataset: str
    config: Mapping[str, Any]
    inputs: Mapping[str, str]  # name -> fingerprint
    force: bool = False
    extra_versions: tuple[str, ...] = ()
    unit: str | None = None  # a named output of the stage, e.g. one prompt set among several
    key: str = field(init=False)
    started: float = field(init=False, default_factory=time.time)
    _lock: Any = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.key = stable_hash(
            {"stage": self.stage, "config": dict(self.config), "inputs": dict(self.inputs)}, n=24
        )

    def __enter__(self) -> StageRun:
        self._lock = self.ws.lock(self.stage, self.dataset, self.unit)
        self._lock.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._lock.__exit__(*exc)

    @property
    def up_to_date(self) -> bool:
        if self.force:
            return False
        prov = self.ws.provenance(self.stage, self.dataset, self.unit)
        return bool(prov and prov.get("key") == self.key and prov.get("status") == "complete")

    def output(self, table: str, *sub: str) -> Path:
        """A table directory for this run: kept if it holds this run's shards, emptied otherwise."""
        d = self.ws.table_dir(table, self.dataset, *sub)
        marker = d / RUN_FILE
        current = json.loads(marker.read_text()).get("key") if marker.exists() else None
        if current != self.key or self.force:
            if d.exists():
                shutil.rmtree(d)
            d.mkdir(parents=True, exist_ok=True)
            write_json_atomic(marker, {"stage": self.stage, "key": self.key})
        # a killed run can leave temporary files behind; they are never read, remove them
        for tmp in d.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        return d

    def invalidate(self) -> None:
        """Forget the provenance record before (re)writing outputs, so a crash never looks complete."""
        self.ws.provenance_path(self.stage, self.dataset, self.unit).unlink(missing_ok=True)

    @staticmethod
    def shard_done(directory: Path, index: int) -> bool:
        return (directory / part_name(index)).exists()

    @staticmethod
    def write_shard(directory: Path, index: int, table: pa.Table, spec: TableSpec) -> Path:
        return write_table_atomic(directory / part_name(index), table, spec)

    def finish(self, summary: Mapping[str, Any]) -> dict:
        record = {
            "stage": self.stage,
            "dataset": self.dataset,
            "unit": self.unit,
            "key": self.key,
            "status": "complete",
            "config": dict(self.config),
            "config_hash": stable_hash(dict(self.config)),
            "inputs": dict(self.inputs),
            "versions": package_versions(*self.extra_versions),
            "started": datetime.fromtimestamp(self.started, timezone.utc).isoformat(),
            "finished": datetime.now(timezone.utc).isoformat(),
            "seconds": round(time.time() - self.started, 3),
            "summary": dict(summary),
        }
        write_json_atomic(self.ws.provenance_path(self.stage, self.dataset, self.unit), record)
        return record
