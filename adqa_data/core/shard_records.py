"""What a finished run left in each output folder, and whether the folder still holds exactly that.

"Up to date" and every reader trust the files only as far as they match this record: each shard's
name, row count, size and sha256. A finished run writes the list into its provenance record and into the
folder itself (`_shards.json`, so a reader that knows only the folder can check it). The checks are cheap
where they must be (names, sizes, modification times and the row count in each Parquet footer: no data
is read while they match) and complete where the data is read anyway (the hash of the bytes a reader is
about to parse). A shard whose modification time is not the recorded one (edited in place, even to the
same size; or copied without keeping times) is hashed, so "up to date" never trusts an edited file.

A deleted shard, a shard copied under another part number, or an edited one (even if still valid
Parquet) is then a mismatch: a stage redoes its output, a reader refuses it with a one-line error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from .atomic_files import write_json_atomic
from .fingerprints import file_sha256

MANIFEST = "_shards.json"
PART_GLOB = "part-*.parquet"


def describe(directory: Path) -> list[dict[str, Any]]:
    """The record of every shard in `directory`: name, rows, bytes, sha256 (reads each file once)."""
    out = []
    for p in sorted(directory.glob(PART_GLOB)):
        out.append(
            {
                "name": p.name,
                "rows": pq.read_metadata(p).num_rows,
                "bytes": p.stat().st_size,
                "mtime_ns": p.stat().st_mtime_ns,
                "sha256": file_sha256(p),
            }
        )
    return out


def record_outputs(root: Path, folders: Iterable[Path]) -> dict[str, list[dict[str, Any]]]:
    """Each output folder's shards (folder relative to `root` -> records), also written into the folder."""
    outputs = {}
    for folder in sorted(folders):
        if folder.is_dir():
            shards = describe(folder)
            write_manifest(folder, shards, root)
            outputs[folder.relative_to(root).as_posix()] = shards
    return outputs


def outputs_mismatch(root: Path, outputs: dict[str, list[dict[str, Any]]]) -> tuple[Path, str] | None:
    """(a file, why) when a recorded output folder does not hold exactly its recorded shards (cheap
    checks), or its own manifest says otherwise; None when every folder matches."""
    for rel, shards in outputs.items():
        directory = root / rel
        recorded = {s["name"]: s for s in shards}
        found = cheap_mismatch(directory, recorded)
        if found is None and read_manifest(directory) != recorded:
            found = (directory / MANIFEST, "the folder's own record differs")
        if found is not None:
            return found
    return None


def write_manifest(directory: Path, shards: list[dict[str, Any]], inside: Path) -> None:
    write_json_atomic(directory / MANIFEST, {"shards": shards}, inside=inside)


def drop_manifest(directory: Path) -> None:
    """A folder about to be written in place no longer matches its record."""
    (directory / MANIFEST).unlink(missing_ok=True)


def read_manifest(directory: Path) -> dict[str, dict[str, Any]] | None:
    """name -> record from the folder's own manifest; None when it has none (written before records
    existed) or an unreadable one (then the provenance record decides)."""
    try:
        raw = json.loads((directory / MANIFEST).read_text())
        return {s["name"]: s for s in raw["shards"]}
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None


def cheap_mismatch(directory: Path, recorded: dict[str, dict[str, Any]]) -> tuple[Path, str] | None:
    """(the shard, why) when `directory` does not hold the recorded shards (names, sizes, row counts; the
    sha256 of a shard whose modification time differs from the record's, or that has none recorded)."""
    present = {p.name: p for p in directory.glob(PART_GLOB)} if directory.is_dir() else {}
    missing = sorted(set(recorded) - set(present))
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        return directory / missing[0], f"it is missing{more}"
    extra = sorted(set(present) - set(recorded))
    if extra:
        return present[extra[0]], "it is not in the record (copied or left there)"
    for name, p in sorted(present.items()):
        want = recorded[name]
        try:
            size = p.stat().st_size
            if size != want.get("bytes"):
                return p, f"it was changed ({size} bytes, recorded {want.get('bytes')})"
            rows = pq.read_metadata(p).num_rows
        except Exception:  # noqa: BLE001 - an unreadable footer is a mismatch, whatever pyarrow raises
            return p, "it is not readable Parquet"
        if rows != want.get("rows"):
            return p, f"it was changed ({rows} rows, recorded {want.get('rows')})"
        if p.stat().st_mtime_ns != want.get("mtime_ns") and file_sha256(p) != want.get("sha256"):
            return p, "it was edited (its sha256 differs from the record)"
    return None


def bytes_mismatch(path: Path, data: bytes, recorded: dict[str, dict[str, Any]]) -> tuple[Path, str] | None:
    """(the shard, why) when the bytes a reader read for shard `path` are not the recorded ones."""
    want = recorded.get(path.name)
    if want is None:
        return path, "it is not in the record (copied or left there)"
    if hashlib.sha256(data).hexdigest() != want.get("sha256"):
        return path, "it was edited (its sha256 differs from the record)"
    return None
