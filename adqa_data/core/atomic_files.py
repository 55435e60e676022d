"""The one way a file is written into a workspace (or a code cache): whole or not at all, never through a link.

Every table shard, provenance record, run marker, split list, submission, plot and code-cache entry goes
through `write_atomic`, so three guarantees hold for all of them:

- a reader sees the old file or the new one, never half of one (a temporary file in the same folder,
  flushed and fsynced, then renamed over the destination);
- a destination that is a symbolic link is replaced by the new file, never written through (rename
  replaces the directory entry; it does not follow it), so a link planted in the workspace cannot make a
  stage overwrite a file elsewhere;
- the destination's folder must resolve inside `inside` (the workspace root, or the folder the user
  named for this output): a folder that is a link out of it is refused before anything is created there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from .errors import UserError


def is_inside(path: str | Path, root: str | Path) -> bool:
    """`path`, every link resolved, is `root` (resolved) or below it."""
    base = os.path.realpath(root).rstrip(os.sep) + os.sep
    real = os.path.realpath(path)
    return real == base.rstrip(os.sep) or real.startswith(base)


def _refuse_outside(folder: Path, inside: Path) -> None:
    if not is_inside(folder, inside):
        raise UserError(
            f"refusing to write into {folder}: it resolves to {os.path.realpath(folder)}, outside {inside}",
            fix="a link in the workspace points elsewhere: remove it (the stage recreates the folder)",
        )


def _lexically_inside(path: str | Path, root: str | Path) -> bool:
    base, here = os.path.abspath(root), os.path.abspath(path)
    return here == base or here.startswith(base.rstrip(os.sep) + os.sep)


def check_output_place(path: str | Path, root: str | Path, own: str | Path, what: str, fix: str) -> None:
    """An output a command writes where the user may point it (`--out`, or its default folder): inside
    workspace `root` only under the command's `own` folder (`submissions/`, `stats/`, `report/`,
    `exports/`), as typed and with every link resolved; never into a table, and never through a link
    out of the workspace. Outside the workspace anything goes (the user's choice)."""
    real = os.path.realpath(path)
    if not (_lexically_inside(path, root) or is_inside(real, root)):
        return
    # the own folder itself may not be a link out: compare with it under the resolved root, unresolved
    own_real = os.path.join(
        os.path.realpath(root), os.path.relpath(os.path.abspath(own), os.path.abspath(root))
    )
    if (_lexically_inside(path, own) or not _lexically_inside(path, root)) and _lexically_inside(
        real, own_real
    ):
        return
    via = f" (it resolves to {real})" if real != os.path.abspath(path) else ""
    raise UserError(
        f"refusing to write {what} to {path}{via}: it is inside workspace {root}, outside its "
        f"{Path(own).name}/ folder",
        fix=fix,
    )


def ensure_folder(folder: Path, inside: Path) -> Path:
    """Create `folder` (and its parents) after checking that the deepest existing part of it, and then
    the folder itself, resolve inside `inside`: nothing is created through a link that leads out."""
    folder = Path(folder)
    Path(inside).mkdir(parents=True, exist_ok=True)  # the root itself is the user's choice
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    _refuse_outside(existing, inside)
    folder.mkdir(parents=True, exist_ok=True)
    _refuse_outside(folder, inside)
    return folder


def write_atomic(path: Path, write: Callable[[IO[bytes]], Any], *, inside: Path | None = None) -> Path:
    """Write `path` with `write(binary_file)`: a temporary file beside it, fsynced, renamed over it.

    `inside` is the folder the write must stay in; None only where the caller has checked the folder
    already (`StageRun.output` checks each table folder it hands out)."""
    path = Path(path)
    if inside is None:
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        ensure_folder(path.parent, inside)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if os.path.lexists(tmp):  # left by a killed run of the same pid; unlink removes a link, not its target
        tmp.unlink()
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            tmp.unlink()
    return path


def unlinked_path(path: Path, inside: Path) -> Path:
    """`path`, its folder created inside `inside` (a link out refused) and a link at `path` itself
    removed: for a file opened in place (a lock, a log), so it is never opened through a link."""
    path = Path(path)
    ensure_folder(path.parent, inside)
    if path.is_symlink():
        path.unlink()  # removes the link, never its target
    return path


def append_text(path: Path, text: str, *, inside: Path) -> Path:
    """Append `text` to a log (`metrics.jsonl`): the folder must resolve inside `inside`, and a link at
    the log's name is removed first (the log is opened with O_NOFOLLOW), so an append never lands in a
    file elsewhere. Not atomic: a kill mid-line leaves a cut line, which the log's readers skip."""
    path = unlinked_path(path, inside)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(text)
    return path


def write_bytes_atomic(path: Path, data: bytes, *, inside: Path | None = None) -> Path:
    return write_atomic(path, lambda f: f.write(data), inside=inside)


def write_text_atomic(path: Path, text: str, *, inside: Path | None = None) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"), inside=inside)


def write_json_atomic(path: Path, obj: Any, *, inside: Path | None = None) -> Path:
    return write_text_atomic(
        path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", inside=inside
    )
