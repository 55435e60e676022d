"""Reading a file a user names (a pipeline, a config, a submission CSV) without trusting what it is.

A path on the command line may name a FIFO (opening it blocks until a writer comes, forever), a device
(`/dev/zero` never ends), a folder, or a file far larger than any config. `read_user_file` reads only a
regular file, checked with `os.stat` before opening and again with `fstat` on the descriptor (opened
non-blocking, so a FIFO swapped in between cannot block either), and reads at most `max_bytes`; every
refusal is one `UserError` naming the file. `decode_utf8` turns bytes into text the same way.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import UserError


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _refuse_irregular(mode: int, what: str, p: Path, fix: str | None) -> None:
    if not stat.S_ISREG(mode):
        raise UserError(f"{what} {p} is {_kind(mode)}, not a regular file", fix=fix or "name a regular file")


def read_user_file(path: str | Path, what: str, max_bytes: int, fix: str | None = None) -> bytes:
    """The bytes of a regular file of at most `max_bytes`, else a one-line `UserError` (missing, not a
    regular file, too large, unreadable)."""
    p = Path(path)
    try:
        _refuse_irregular(os.stat(p).st_mode, what, p, fix)
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UserError(f"no such {what}: {p}", fix=fix) from None
    except ValueError as e:  # an embedded NUL byte
        raise UserError(f"{what} path {str(p)!r} is not a valid path: {e}", fix=fix) from None
    except NotADirectoryError:
        raise UserError(f"no such {what}: {p} (a part of the path is a file)", fix=fix) from None
    with os.fdopen(fd, "rb") as f:
        _refuse_irregular(os.fstat(fd).st_mode, what, p, fix)  # swapped between stat and open
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UserError(
            f"{what} {p} is larger than {max_bytes:,} bytes, more than any such file needs",
            fix=fix or "check that this is the file you meant",
        )
    return data


def decode_utf8(data: bytes, what: str, where: str, fix: str | None = None) -> str:
    """`data` as UTF-8 text, or a one-line `UserError` giving the offset of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UserError(
            f"{what} is not UTF-8 text: byte {data[e.start]:#04x} at line {line} (offset {e.start})",
            where=where,
            fix=fix or "save the file as UTF-8",
        ) from None
