"""Reading a layout's manifest and turning each row into canonical fields, or a quarantine record."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ...core.errors import UserError
from ...core.quarantine import quarantine_row
from ...core.schema import QuarantineReason as R
from ...sources.base import (
    Layout,
    MappedRow,
    RowError,
    RowLimits,
    escapes_root,
    map_and_validate,
    read_jsonl,
    read_parquet_rows,
    safe_relative_path,
)


def manifest_path(root: Path, manifest: str) -> Path:
    """Where a layout's manifest is. A relative name resolves inside the dataset root and may not climb
    out of it, lexically or through a link; an absolute path is taken as typed (the user named that file
    on purpose). Either way it must be a regular file (a FIFO would block the reader)."""
    if "\0" in manifest:
        raise UserError(f"--manifest {manifest!r} contains a NUL byte")
    given = Path(manifest).expanduser()
    if given.is_absolute():
        path = given
    else:
        try:
            rel = safe_relative_path(manifest)
        except RowError:
            raise UserError(
                f"--manifest {manifest} climbs out of the dataset root {root}",
                fix="give a path inside the root, or an absolute path",
            ) from None
        path = root / rel
        if escapes_root(path, os.path.realpath(root)):
            raise UserError(
                f"--manifest {manifest} is a link that resolves outside the dataset root {root}",
                fix="give the real file's absolute path if you mean it",
            )
    if not path.is_file():
        what = "is not a regular file" if path.exists() else "not found"
        raise UserError(
            f"manifest {manifest} {what}",
            where=str(root),
            fix="point --from-dir at the dataset root that holds it, or fix --manifest",
        )
    return path


def read_rows(layout: Layout, root: Path):
    manifest = manifest_path(root, layout.manifest)
    return read_parquet_rows(manifest) if manifest.suffix == ".parquet" else read_jsonl(manifest)


def validate_rows(
    layout: Layout, root: Path, limits: RowLimits = RowLimits()
) -> tuple[list[MappedRow], list[dict[str, Any]], int]:
    """Map and validate every row; returns (good rows, quarantine records, input row count)."""
    good: list[MappedRow] = []
    bad: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    n = 0
    for raw in read_rows(layout, root):
        n += 1
        try:
            row = map_and_validate(layout, raw, limits)
        except RowError as e:
            bad.append(quarantine_row(raw.row_index, e.item_id, e.reason, e.detail, raw.raw))
            continue
        if row.item_id in seen:
            detail = f"id already used by row {seen[row.item_id]}"
            bad.append(quarantine_row(row.row_index, row.item_id, R.DUPLICATE_ID, detail, row.raw))
            continue
        seen[row.item_id] = row.row_index
        good.append(row)
    return good, bad, n
