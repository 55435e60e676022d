"""The one renderer: tables and results to stdout, progress and log lines to stderr (`progress.console`).

Stages return plain data (dataclasses / dicts); only the CLI renders it. `--json` prints the same data as
one JSON object, so scripts read stdout and never parse tables.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stdout
from contextvars import ContextVar
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

out = Console(soft_wrap=True, highlight=False)  # stdout: what the command produced


# the command's real stdout while a `--json` command runs (see `json_only_stdout`)
_JSON_STREAM: ContextVar[TextIO | None] = ContextVar("adqa_json_stream", default=None)


@contextmanager
def json_only_stdout() -> Iterator[None]:
    """Keep stdout to the one JSON object: while a `--json` command runs, whatever a library prints on
    stdout goes to stderr instead — a Python `print`, a logging handler that was bound to stdout before
    the command began (DeepSpeed's logger is), and, when stdout is a real file descriptor, writes to fd 1
    from C code or a child process (a compiler probe). The JSON goes to the real stdout."""
    real = sys.stdout
    moved = _stdout_handlers(real)
    for handler in moved:
        handler.setStream(sys.stderr)
    fd_saved, json_stream = _detach_fd1(real)
    token = _JSON_STREAM.set(json_stream or real)
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:
        _JSON_STREAM.reset(token)
        if fd_saved is not None:
            sys.stderr.flush()
            json_stream.flush()  # type: ignore[union-attr]
            os.dup2(fd_saved, 1)
            os.close(fd_saved)
            json_stream.close()  # type: ignore[union-attr]
        for handler in moved:
            handler.setStream(real)


def _stdout_handlers(stream: TextIO) -> list[logging.StreamHandler]:
    """The logging handlers that write to `stream` (or the process's stdout)."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    found = []
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if isinstance(handler, logging.StreamHandler) and handler.stream in (stream, sys.__stdout__):
                found.append(handler)
    return found


def _detach_fd1(stream: TextIO) -> tuple[int | None, TextIO | None]:
    """Point fd 1 at stderr, returning a saved copy of it and a text stream on that copy for the JSON;
    (None, None) where stdout is not the process's fd 1 (a test runner's buffer)."""
    try:
        if stream.fileno() != 1:
            return None, None
    except (AttributeError, OSError, ValueError):
        return None, None
    stream.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    return saved, os.fdopen(os.dup(saved), "w", encoding=getattr(stream, "encoding", None) or "utf-8")


def print_json(obj: object) -> None:
    """One JSON object on stdout (dataclasses and paths as their plain values)."""
    stream = _JSON_STREAM.get() or sys.stdout
    stream.write(json.dumps(obj, indent=2, default=_plain) + "\n")
    stream.flush()


def _plain(obj: object) -> object:
    if hasattr(obj, "__dataclass_fields__"):
        return {k: getattr(obj, k) for k in obj.__dataclass_fields__}  # type: ignore[attr-defined]
    return str(obj)


def result(message: str) -> None:
    """A line of what the command produced, on stdout (a headline above its tables, a path written)."""
    out.print(message)


def pct(x: float | None) -> str:
    """A share as a percentage with one decimal; "-" when there is none."""
    return "-" if x is None else f"{100 * x:.1f}%"


def log(message: str) -> None:
    """A status line on stderr (never mixed into stdout tables or JSON)."""
    from ..core.progress import console

    console.print(message, soft_wrap=True, highlight=False)


# C0 and C1 control characters, DEL, and the bidirectional overrides and isolates that reorder a line
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Text from a user's file, safe to show in a terminal: control characters and escape sequences as
    visible `\\xNN`/`\\uNNNN` escapes (an id cannot retitle the window or clear the screen), and rich's
    markup escaped (`[bold]` shows as typed)."""
    from rich.markup import escape

    shown = _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
    return escape(shown)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else printable(str(value))


def table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, right: Sequence[str] = ()
) -> None:
    """A titled table on stdout; numbers right-aligned (also every column named in `right`)."""
    rows = [list(r) for r in rows]
    t = Table(title=title, title_justify="left")
    for i, name in enumerate(columns):
        numeric = name in right or (
            rows and all(isinstance(r[i], (int, float)) for r in rows if r[i] is not None)
        )
        # names fold onto a second line rather than end in "…": two members may share a long prefix
        t.add_column(name, justify="right" if numeric else "left", overflow="fold")
    for r in rows:
        t.add_row(*(_cell(v) for v in r))
    out.print(t)


def counts(title: str, key: str, mapping: Mapping[str, Any], *, total: int | None = None) -> None:
    """A two- (or three-, with `total`: share) column table of counts by key."""
    if total:
        table(title, [key, "count", "share"], [(k, v, f"{v / total:.1%}") for k, v in mapping.items()])
    else:
        table(title, [key, "count"], list(mapping.items()))
