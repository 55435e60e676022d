"""The workspace: where every table lives, how it is written safely, and when a stage is up to date.

One job, kept in one module (hence its length): the workspace's write and resume guarantees (layout,
atomic shards, runs, locks, provenance), which every stage relies on and which must agree with each
other.

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
finished shards and one with other inputs starts clean, in a staging folder that replaces the old
output only once the new one is complete; a stage is up to date when its provenance record holds the
same key. Every name in a path is one checked component (`names.safe_name`) and nothing outside a
table's own folder is ever deleted (`Workspace.remove_tree`).
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
from .names import is_safe_name, safe_name
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
    """Write one Parquet shard so that it appears whole or not at all. A shard of no rows has no row group
    (as `datasets` writes one): a zero-row row group breaks `datasets.load_dataset` ("BatchSize must be
    greater than 0"); an all-empty table loads with `streaming=True` (docs/data.md#empty-tables)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = conform(table, spec)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            if table.num_rows:
                pq.write_table(table, f, compression="zstd")
            else:
                pq.ParquetWriter(f, table.schema, compression="zstd").close()
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

    Extra columns are kept after the spec's own (stages may add, e.g., one column per reward). A missing
    column, a value that cannot be cast without loss, or a null in a non-nullable column is a ValueError
    naming the table and the column.
    """
    target = spec.with_metadata()
    missing = [f.name for f in target if f.name not in table.column_names]
    if missing:
        raise ValueError(f"table {spec.name!r} is missing columns {missing}")
    cols = []
    for f in target:
        col, where = table.column(f.name), f"table {spec.name!r}, column {f.name!r}"
        try:
            col = col.cast(f.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise ValueError(f"{where}: cannot store {col.type} as {f.type}: {e}") from e
        if not f.nullable and col.null_count:
            raise ValueError(f"{where} holds {col.null_count} null(s) but is not nullable")
        cols.append(col)
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
        try:
            meta = pq.read_schema(p).metadata or {}
        except (pa.ArrowException, OSError) as e:
            raise _corrupt_shard(p, spec, e) from None
        name, version = meta.get(META_TABLE, b"").decode(), meta.get(META_VERSION, b"0").decode()
        if name != spec.name or version != str(spec.version):
            raise UserError(
                f"{p} holds table {name or '?'} v{version}, this version of adqa-data reads "
                f"{spec.name} v{spec.version}",
                fix="rerun the stage that wrote it with --force",
            )
        try:
            tables.append(pq.read_table(p, columns=columns))
        except (pa.ArrowException, OSError) as e:
            raise _corrupt_shard(p, spec, e) from None
    return pa.concat_tables(tables, promote_options="default")


def _corrupt_shard(path: Path, spec: TableSpec, e: Exception) -> UserError:
    detail = str(e).splitlines()[0] if str(e) else type(e).__name__
    return UserError(
        f"{path} is not a readable {spec.name} shard ({detail})",
        fix=f"rerun the stage that writes '{spec.name}' with --force, or delete {path.parent}",
    )


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
    """A workspace folder. Every path under it is built here from validated names (`names.safe_name`),
    and every folder a stage deletes or replaces must resolve inside its own table directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().absolute()
        self.read_only = False  # set when a lock could not be taken because the workspace is not writable
        if self.root.exists() and not self.root.is_dir():
            raise UserError(
                f"workspace {self.root} is a file, not a folder",
                fix="point --workspace at a folder (it is created when missing)",
            )

    def require_exists(self) -> None:
        """For commands that only read: a workspace that is not there is an error, not an empty report."""
        if not self.root.is_dir():
            raise UserError(f"workspace {self.root} does not exist", fix="check --workspace")

    # paths
    def table_dir(self, table: str, dataset: str, *sub: str) -> Path:
        parts = [safe_name(dataset, "dataset name"), *(safe_name(s, "name") for s in sub)]
        return self.root.joinpath(table, *parts)

    def provenance_path(self, stage: str, dataset: str, unit: str | None = None) -> Path:
        dataset = safe_name(dataset, "dataset name")
        if unit is not None:
            unit = safe_name(unit, "name")
        return self.root / "provenance" / stage / (f"{dataset}.{unit}.json" if unit else f"{dataset}.json")

    def remove_tree(self, path: Path, table: str) -> None:
        """Delete a folder a stage owns. Refuses anything that does not resolve strictly inside
        `<workspace>/<table>/` (a link, `..`, an absolute path that slipped through): a second line
        of defence behind `safe_name`, so no input can make a stage delete outside its own tables."""
        base = os.path.realpath(self.root / table)
        if path.is_symlink():
            raise UserError(f"refusing to delete {path}: it is a link", fix="remove the link by hand")
        real = os.path.realpath(path)
        if not real.startswith(base.rstrip(os.sep) + os.sep):
            raise UserError(
                f"refusing to delete {path}: it is not inside {base}",
                fix="this is a bug or a tampered workspace; check the path and remove it by hand",
            )
        if os.path.lexists(path):
            shutil.rmtree(path)

    # dataset registry
    @property
    def _registry_path(self) -> Path:
        return self.root / "datasets.json"

    def datasets(self) -> dict[str, DatasetRecord]:
        p = self._registry_path
        if not p.is_file():
            return {}
        fix = "restore it from a backup, or delete it and rerun 'adqa-data download' for each dataset"
        try:
            raw = json.loads(p.read_text())
            if not isinstance(raw, dict):
                raise TypeError("not a JSON object")
            records = {k: DatasetRecord(**v) for k, v in raw.items()}
        except (ValueError, TypeError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise UserError(f"{p} is corrupt ({str(e).splitlines()[0]})", fix=fix) from None
        for k in records:
            if not is_safe_name(k):
                raise UserError(f"{p} names a dataset {k!r} that is not a plain folder name", fix=fix)
        return records

    def register_dataset(self, rec: DatasetRecord) -> None:
        safe_name(rec.name, "dataset name")
        with self._registry_lock():
            reg = {k: v.__dict__ for k, v in self.datasets().items()}
            reg[rec.name] = rec.__dict__
            write_json_atomic(self._registry_path, reg)

    def dataset(self, name: str | None) -> DatasetRecord:
        """The named dataset, or the only one; a clear error otherwise."""
        if name is not None:
            safe_name(name, "--dataset")
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
        if not p.is_file():
            return None
        try:
            record = json.loads(p.read_text())
            if not isinstance(record, dict):
                raise TypeError("not a JSON object")
        except (ValueError, TypeError) as e:
            raise UserError(
                f"provenance record {p} is corrupt ({str(e).splitlines()[0]})",
                fix=f"rerun the '{stage}' stage with --force, or delete that file",
            ) from None
        return record

    def finished_sets(self, stage: str, table: str, dataset: str) -> list[str]:
        """Names of a dataset's complete named sets written by `stage` into `table` (prompt sets,
        rollout sets, prediction sets): folders with a safe name whose provenance record is complete."""
        root = self.table_dir(table, dataset)
        if not root.is_dir():
            return []
        return sorted(
            d.name
            for d in root.iterdir()
            if d.is_dir()
            and is_safe_name(d.name)
            and (self.provenance(stage, dataset, d.name) or {}).get("status") == "complete"
        )

    def pick_set(
        self, stage: str, table: str, dataset: str, name: str | None, what: str, option: str, make: str
    ) -> str:
        """`name` when it is a complete set, else the only one; one clear error when there is none,
        several or no such set. `what` names the kind ("prompt set"), `option` the command-line option
        that names one, `make` the command that makes one."""
        if name is not None:
            safe_name(name, option)
        known = self.finished_sets(stage, table, dataset)
        if name is None:
            if len(known) == 1:
                return known[0]
            if not known:
                raise UserError(f"dataset {dataset!r} has no {what} yet", fix=f"run {make} first")
            raise UserError(
                f"dataset {dataset!r} has several {what}s: {', '.join(known)}", fix=f"name one with {option}"
            )
        if name not in known:
            raise UserError(
                f"no finished {what} {name!r} in dataset {dataset!r}",
                fix=f"use one of: {', '.join(known)}" if known else f"run {make} first",
            )
        return name

    @contextlib.contextmanager
    def lock(self, stage: str, dataset: str, unit: str | None = None) -> Iterator[None]:
        """One run of a stage per (workspace, dataset[, unit]) at a time.

        A workspace that cannot be written (a read-only mount, no write permission) gets no lock and
        `read_only` is set: reading needs none, and a run with work to do stops at its first write with
        a clear error (`StageRun.output`)."""
        import errno

        from filelock import FileLock, Timeout

        name = safe_name(dataset, "dataset name") + (f".{safe_name(unit, 'name')}" if unit else "")
        path = self.root / "locks" / f"{stage}.{name}.lock"
        lock = FileLock(str(path), timeout=0)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except Timeout:
            raise UserError(
                f"another '{stage}' run is using dataset {dataset!r} in this workspace",
                where=str(path),
                fix="wait for it to finish (a lock left by a killed run is released by the OS)",
            ) from None
        except OSError as e:
            if e.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            self.read_only = True
            yield
            return
        try:
            yield
        finally:
            lock.release()


# ------------------------------------------------------------------------------------------ stage runs
@dataclass
class StageRun:
    """One run of a stage over one dataset: decides up-to-date, keeps or stages shards, records provenance.

    Use:
        run = StageRun(ws, "download", dataset, config, inputs)
        with run:                      # takes the lock
            if run.up_to_date: ...     # nothing to do
            out = run.output("items")  # a table directory for this run's shards
            ... write shards with run.write_shard(...), skipping run.shard_done(...)
            run.finish(summary)        # swaps staged outputs in, then records provenance

    A complete output is never replaced before its replacement is complete: when a table directory
    holds another run's shards, this run writes into a staging folder (`<workspace>/<table>/.staging/`)
    and `finish` swaps it in; the provenance record of the old output stays until then. A named unit
    (a prompt or rollout set) whose complete record has other settings is refused without `force`.
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
    # final -> (staging, table)
    _staged: dict[Path, tuple[Path, str]] = field(init=False, default_factory=dict)
    _outputs: dict[Path, Path] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        safe_name(self.dataset, "dataset name")
        if self.unit is not None:
            safe_name(self.unit, "name")
        self.key = stable_hash(
            {"stage": self.stage, "config": dict(self.config), "inputs": dict(self.inputs)}, n=24
        )

    def __enter__(self) -> StageRun:
        self._lock = self.ws.lock(self.stage, self.dataset, self.unit)
        self._lock.__enter__()
        try:
            if self.unit is not None:
                self._refuse_other_settings()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self._lock.__exit__(*exc)

    def _refuse_other_settings(self) -> None:
        """A named set made with other settings is not replaced silently (inputs may change: a rerun
        after new data is the normal way to refresh a set)."""
        if self.force:
            return
        prov = self.ws.provenance(self.stage, self.dataset, self.unit)
        if (
            prov
            and prov.get("status") == "complete"
            and prov.get("config_hash") != stable_hash(dict(self.config))
        ):
            raise UserError(
                f"{self.stage} set {self.unit!r} of dataset {self.dataset!r} is complete and was made with other "
                "settings",
                where=str(self.ws.provenance_path(self.stage, self.dataset, self.unit)),
                fix="choose another --name (the default name differs per settings), or pass --force to replace it "
                "(the old set stays until the new one is complete)",
            )

    @property
    def up_to_date(self) -> bool:
        if self.force:
            return False
        prov = self.ws.provenance(self.stage, self.dataset, self.unit)
        return bool(prov and prov.get("key") == self.key and prov.get("status") == "complete")

    def output(self, table: str, *sub: str, key: str | None = None) -> Path:
        """The directory this run writes `table` (under this dataset, `sub` folders) into.

        It is the table directory itself when that is empty or holds this run's shards (a resumed run
        keeps them); otherwise a staging folder that `finish` swaps in, so the complete output there
        survives until this run is complete. `key` marks the directory with another key than the
        run's (one unit among several, e.g. the votes of one model and condition)."""
        if self.ws.read_only:
            raise UserError(
                f"workspace {self.ws.root} is read-only and this '{self.stage}' run has work to do",
                fix="make the workspace writable, or use another --workspace",
            )
        key = key or self.key
        final = self.ws.table_dir(table, self.dataset, *sub)
        if final in self._outputs:
            return self._outputs[final]
        staging = (
            self.ws.root
            / table
            / ".staging"
            / self.dataset
            / "-".join([*sub, key[:16]] if sub else [key[:16]])
        )
        if not self.force and _marker_key(final) == key:
            target = final
        elif not self.force and _marker_key(staging) == key:
            target = staging
        elif not final.exists() or not any(final.iterdir()):
            target = final
        else:
            target = staging
            self.ws.remove_tree(staging, table)
        if target == staging:
            self._staged[final] = (staging, table)
        else:
            self._drop_record()  # this run writes into a directory the record describes
        if _marker_key(target) != key:
            target.mkdir(parents=True, exist_ok=True)
            write_json_atomic(target / RUN_FILE, {"stage": self.stage, "key": key})
        # a killed run can leave temporary files behind; they are never read, remove them
        for tmp in target.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        self._outputs[final] = target
        return target

    def invalidate(self) -> None:
        """Nothing to do up front: the provenance record is dropped exactly when a directory it describes
        is written (`output`, in place) or replaced (`commit`), so a crash never looks complete and a
        failing run leaves the previous complete output and its record alone."""

    def _drop_record(self) -> None:
        if not self.ws.read_only:
            self.ws.provenance_path(self.stage, self.dataset, self.unit).unlink(missing_ok=True)

    def commit(self) -> None:
        """Swap every staged output in for the directory it replaces (after the record is dropped)."""
        if not self._staged:
            return
        self._drop_record()
        for final, (staging, table) in list(self._staged.items()):
            trash = (
                self.ws.root / table / ".trash" / f"{self.dataset}-{self.key[:16]}-{os.getpid()}-{final.name}"
            )
            if final.exists():
                trash.parent.mkdir(parents=True, exist_ok=True)
                self.ws.remove_tree(trash, table)
                os.replace(final, trash)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging, final)
            self._outputs[final] = final
            del self._staged[final]
            self.ws.remove_tree(trash, table)

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
        self.commit()
        write_json_atomic(self.ws.provenance_path(self.stage, self.dataset, self.unit), record)
        return record


def _marker_key(directory: Path) -> str | None:
    """The run key a table directory is marked with (None: no marker, or an unreadable one)."""
    try:
        return json.loads((directory / RUN_FILE).read_text()).get("key")
    except (OSError, ValueError, AttributeError):
        return None
