"""The export folder: replace only what adqa-data made, and never leave the user without an export.

`export --out DIR` may replace a folder only when it carries the marker file (`MARKER`, the export's
identity: format, dataset, table, written by adqa-data, and the list of its files) that every export
writes, and holds no file the marker does not list (a file the user added, or a marker copied into a
project folder, makes the folder the user's). Any other non-empty
folder is refused, whatever it holds (a project folder with a README.md, `.`, a git clone, a Hub
snapshot, an export made before markers existed): a tool may delete only what it made.

The new export is written into a hidden staging folder beside DIR and checked there; only when it is
complete is the old export moved aside, the new one renamed into place and the old one deleted. A
failure while writing (disk full, a bug, Ctrl-C) leaves the old export as it was, and the staging folder
is removed. Both renames stay on one filesystem (the staging folder is a sibling), so each is atomic.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from .. import __version__
from ..core.errors import UserError

MARKER = ".adqa-export.json"
CREATED_BY = "adqa-data"
STAGING = ".adqa-staging-"  # infix of the staging folder's name: .<name>.adqa-staging-<random>
OLD = ".adqa-old-"

T = TypeVar("T")


def identity(fmt: str, dataset: str, table: str | None, configs: list[str]) -> dict[str, Any]:
    """What the marker records: enough to tell whose folder it is and what it holds."""
    return {
        "created_by": CREATED_BY,
        "version": __version__,
        "format": fmt,
        "dataset": dataset,
        "table": table,
        "configs": configs,
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The folder's marker when it is a regular file written by adqa-data, else None."""
    path = folder / MARKER
    if path.is_symlink() or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("created_by") != CREATED_BY or "format" not in data:
        return None
    return data


def check_target(out: Path) -> None:
    """Refuse an `--out` that is not a new, empty or adqa-data export folder (module docstring)."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise UserError(
            f"--out {out} exists and is not a folder", fix="choose a new or empty folder for --out"
        )
    cwd = Path.cwd().absolute()
    if out == cwd or out in cwd.parents:
        raise UserError(
            f"--out {out} is the current folder or holds it: an export never replaces it",
            fix="choose a new or empty folder for --out, e.g. exports/<name>",
        )
    if not out.is_dir() or not any(out.iterdir()):
        return
    marker = read_marker(out)
    if marker is None:
        raise UserError(
            f"--out {out} is not empty and is not an adqa-data export (no {MARKER}): refusing to replace it",
            fix="choose a new or empty folder for --out (an export replaces only folders it wrote)",
        )
    foreign = _foreign_files(out, marker)
    if foreign:
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        raise UserError(
            f"--out {out} holds files the export there did not write ({', '.join(foreign[:3])}{more}): refusing to "
            "replace it",
            fix="move them out of the folder, or choose a new or empty folder for --out",
        )


def _files(folder: Path) -> list[str]:
    """Every file (or link) below `folder` but the marker, relative, never following a link."""
    out = []
    for here, dirs, names in os.walk(folder):
        rel = Path(here).relative_to(folder)
        out += [(rel / n).as_posix() for n in names + [d for d in dirs if (Path(here) / d).is_symlink()]]
    return sorted(f for f in out if f != MARKER)


def _foreign_files(folder: Path, marker: dict[str, Any]) -> list[str]:
    """The files in `folder` that its marker does not list (all of them for a marker without a list:
    a marker copied into another folder, or one written before exports listed their files)."""
    recorded = marker.get("files")
    recorded = set(recorded) if isinstance(recorded, list) else set()
    return [f for f in _files(folder) if f not in recorded]


def record_files(folder: Path) -> None:
    """Add the list of the export's files to its marker: only those may be replaced by the next export."""
    marker = read_marker(folder) or {}
    write_marker(folder, {**marker, "files": _files(folder)})


def _leftovers(out: Path) -> list[Path]:
    """Staging or set-aside folders of an earlier export to `out` that was killed before cleaning up."""
    if not out.parent.is_dir():
        return []
    prefixes = (f".{out.name}{STAGING}", f".{out.name}{OLD}")
    return [
        p for p in out.parent.iterdir() if p.name.startswith(prefixes) and p.is_dir() and not p.is_symlink()
    ]


def write_replacing(out: Path, write: Callable[[Path], T]) -> T:
    """Run `write(staging)` into a fresh staging folder beside `out`, then swap it in (module docstring)."""
    check_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in _leftovers(out):
        if read_marker(stale) is not None or not any(stale.iterdir()):
            shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}{STAGING}", dir=out.parent))
    try:
        result = write(staging)
        record_files(staging)
        check_target(out)  # the folder may have changed while the export was being written
        swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return result


def swap_in(staging: Path, out: Path) -> None:
    """Move the old export (or empty folder) aside, rename `staging` to `out`, delete the old one."""
    if not out.exists():
        os.rename(staging, out)
        return
    old = out.parent / f".{out.name}{OLD}{uuid.uuid4().hex[:8]}"
    os.rename(out, old)
    try:
        os.rename(staging, out)
    except BaseException:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_marker(folder: Path, ident: dict[str, Any]) -> Path:
    path = folder / MARKER
    path.write_text(json.dumps(ident, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
