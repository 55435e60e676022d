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
finished shards and one with other inputs starts clean, in a staging folder that replaces the old
output only once the new one is complete; a stage is up to date when its provenance record holds the
same key and every output folder still holds exactly the shards it records (`shard_records`). Every
name in a path is one checked component (`names.safe_name`), every file is written through
`atomic_files` (never through a link, never into a folder that resolves outside the workspace), and
nothing outside a table's own folder is ever deleted or swapped (`Workspace.remove_tree`, `commit`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa

from . import shard_records
from .atomic_files import ensure_folder, is_inside, unlinked_path, write_json_atomic, write_text_atomic  # noqa: F401
from .errors import UserError
from .fingerprints import file_sha256, stable_hash, tree_fingerprint  # noqa: F401  (re-exported)
from .names import is_safe_name, safe_name
from .provenance import package_versions, validate_record
from .schema import TableSpec
from .tables import PART_GLOB, conform, part_name, read_table, shard_paths, write_table_atomic  # noqa: F401

RUN_FILE = "_run.json"


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
        self._warned: set[Path] = set()  # invalid provenance records already reported
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
        # JSONDecodeError and UnicodeDecodeError are ValueErrors; RecursionError: JSON nested too deep
        except (ValueError, TypeError, RecursionError) as e:
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
            write_json_atomic(self._registry_path, reg, inside=self.root)

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

        with FileLock(str(unlinked_path(self.root / "locks" / "datasets.lock", self.root)), timeout=60):
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
            raw = json.loads(p.read_text())
            if not isinstance(raw, dict):
                raise TypeError("not a JSON object")
        except (ValueError, TypeError, RecursionError) as e:  # RecursionError: JSON nested too deep
            raise UserError(
                f"provenance record {p} is corrupt ({str(e).splitlines()[0]})",
                fix=f"rerun the '{stage}' stage with --force, or delete that file",
            ) from None
        record, why = validate_record(raw)
        if record is None and p not in self._warned:
            self._warned.add(p)
            print(
                f"warning: provenance record {p} is not valid ({why}); treated as absent, so '{stage}' redoes "
                "its work",
                file=sys.stderr,
            )
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
        try:
            lock = FileLock(str(unlinked_path(path, self.root)), timeout=0)  # never through a link
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
    _distrusted: bool = field(init=False, default=False)  # the record's shards are not on disk: redo all

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
        """The record holds this run's key and every output folder holds exactly the shards it lists
        (names, sizes, row counts). A mismatch is said on stderr and the outputs are redone whole."""
        if self.force:
            return False
        prov = self.ws.provenance(self.stage, self.dataset, self.unit)
        if not (prov and prov.get("key") == self.key and prov.get("status") == "complete"):
            return False
        found = shard_records.outputs_mismatch(self.ws.root, prov.get("outputs") or {})
        if found is not None and not self._distrusted:  # said once, however often a stage asks
            print(
                f"warning: {found[0]} does not match the '{self.stage}' record ({found[1]}); redoing it",
                file=sys.stderr,
            )
            self._distrusted = True
        return found is None

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
                exit_code=1,  # the system, not the input (README: 1 for a read-only folder)
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
        fresh = self.force or self._distrusted
        if not fresh and _marker_key(final) == key:
            target = final
        elif not fresh and _marker_key(staging) == key:
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
            shard_records.drop_manifest(target)
        ensure_folder(target, self.ws.root)  # a table folder that is a link out of the workspace is refused
        if _marker_key(target) != key:
            write_json_atomic(target / RUN_FILE, {"stage": self.stage, "key": key}, inside=self.ws.root)
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
        path = self.ws.provenance_path(self.stage, self.dataset, self.unit)
        if not self.ws.read_only and is_inside(path.parent, self.ws.root):  # never unlink through a link out
            path.unlink(missing_ok=True)

    def commit(self) -> None:
        """Swap every staged output in for the directory it replaces (after the record is dropped)."""
        if not self._staged:
            return
        self._drop_record()
        for final, (staging, table) in list(self._staged.items()):
            trash = (
                self.ws.root / table / ".trash" / f"{self.dataset}-{self.key[:16]}-{os.getpid()}-{final.name}"
            )
            for folder in (final, staging):  # a swap moves only folders of this table (links refused)
                if folder.is_symlink() or not is_inside(folder, self.ws.root / table):
                    raise UserError(
                        f"refusing to replace {folder}: it is a link or not inside {self.ws.root / table}",
                        fix="this is a tampered workspace; check the path and remove it by hand",
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
        """Write shard `index` into a folder `output` handed out (it checked that the folder resolves
        inside the workspace); the shard replaces a link at its name, never writes through it."""
        if directory.is_symlink():
            raise UserError(f"refusing to write into {directory}: it is a link", fix="remove the link")
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
        record["outputs"] = shard_records.record_outputs(self.ws.root, self._outputs)
        write_json_atomic(
            self.ws.provenance_path(self.stage, self.dataset, self.unit), record, inside=self.ws.root
        )
        return record


def _marker_key(directory: Path) -> str | None:
    """The run key a table directory is marked with (None: no marker, or an unreadable one)."""
    try:
        return json.loads((directory / RUN_FILE).read_text()).get("key")
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
