"""The `adqa-data` command: one thin command per stage. Options are parsed here; the work is done in
`adqa_data.stages.*`, imported lazily so that `adqa-data --help` never imports torch."""

from __future__ import annotations

import contextvars
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from .render import (
    json_only_stdout,
    print_json,  # noqa: F401  (re-exported for the command modules)
)


class _Commands(TyperGroup):
    """The command group: a command given `--json` prints nothing on stdout but its JSON object."""

    def invoke(self, ctx):  # type: ignore[no-untyped-def]
        args = [*getattr(ctx, "_protected_args", ()), *ctx.args]
        if "--json" in args[1:]:  # the command's own option (args[0] is the command's name)
            with json_only_stdout():
                return super().invoke(ctx)
        return super().invoke(ctx)


app = typer.Typer(
    cls=_Commands,
    name="adqa-data",
    help=(
        "Turn audio multiple-choice data into GRPO post-training data for audio-language models that "
        "listen.\n\nThe chain: download -> encode -> filter -> sample -> rollout -> train -> eval. Every "
        "stage writes Parquet shards into one workspace, is resumable, and is a no-op when up to date."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

WorkspaceOpt = Annotated[
    Path, typer.Option("--workspace", "-w", help="Workspace directory holding every stage's tables.")
]
DatasetOpt = Annotated[
    str | None, typer.Option("--dataset", "-d", help="Dataset name in the workspace (default: the only one).")
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Redo the stage even when it is up to date.")]
EngineOpt = Annotated[
    str, typer.Option("--engine", help="'local' (in-process, default) or 'ray' (a Ray cluster; RAY_ADDRESS).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of tables.")]
FamilyOpt = Annotated[
    str | None, typer.Option("--family", help="Model adapter family (default: from config.json).")
]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="cpu | cuda (default: cuda when available).")]
DtypeOpt = Annotated[str | None, typer.Option("--dtype", help="float32 | bfloat16 | float16 | auto.")]
# the values of --anchoring-rows (rollout's option, and train's under --online)
ANCHORING_ROWS = (
    "reasoning (default: the <think> content, else the text before <answer>) | all (every completion token)."
)
DEFAULT_WS = Path("adqa-work")


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="On an error, show the Python traceback too (also: ADQA_DEBUG=1).")
    ] = False,
) -> None:
    if debug:
        os.environ["ADQA_DEBUG"] = "1"


def _debug() -> bool:
    return os.environ.get("ADQA_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def describe_error(e: BaseException) -> tuple[str, str | None, str | None, int]:
    """(what, where, fix, exit code) of an error that is not a `UserError`: the operating system's
    errors in words a user can act on, anything else as one line that says how to see the traceback."""
    import errno

    from ..core.errors import UserError

    if isinstance(e, UserError):
        return e.what, e.where, e.fix, e.exit_code
    if isinstance(e, OSError) and e.errno is not None:
        where = str(e.filename) if e.filename is not None else None
        code = e.errno
        if code == errno.ENOSPC:
            return (
                "no space left on the device",
                where,
                "free some space and rerun: finished shards are kept and the run resumes",
                1,
            )
        if code == errno.EROFS:
            return "the file system is read-only", where, "use a writable --workspace (or output path)", 1
        if code in (errno.EACCES, errno.EPERM):
            return "permission denied", where, "check the permissions of that path, or use another one", 1
        if code in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
            return (
                f"{e.strerror}: a file is where a folder is needed, or the other way round",
                where,
                "choose another output path, or move the file away",
                1,
            )
        return f"{e.strerror or e}", where, None, 1
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return (
        f"unexpected {type(e).__name__}{': ' + first if first else ''}",
        None,
        "rerun with --debug (or ADQA_DEBUG=1) for the traceback, and report it if it is not your input",
        1,
    )


def print_error(what: str, where: str | None, fix: str | None) -> None:
    from ..core.progress import console

    # soft_wrap: paths in messages stay on one line, so they can be copied
    console.print(f"[bold red]error:[/] {what}", soft_wrap=True, highlight=False, markup=True)
    if where:
        console.print(f"  [dim]where:[/] {where}", soft_wrap=True, highlight=False)
    if fix:
        console.print(f"  [dim]fix:[/]   {fix}", soft_wrap=True, highlight=False)


def main() -> None:
    """Entry point: a user mistake is a clear message and exit code 2; any other error (disk full, a
    read-only folder, a bug) is one line and exit code 1. Tracebacks only with --debug or ADQA_DEBUG=1."""
    if not _debug():
        warnings.showwarning = _one_line_warning
    try:
        app()
    except KeyboardInterrupt:
        print_error(
            "interrupted", None, "rerun the same command: finished shards are kept and the run resumes"
        )
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the one place errors become messages
        from ..core.errors import UserError

        if _debug() and not isinstance(e, UserError):
            raise
        what, where, fix, code = describe_error(e)
        print_error(_escape(what), _escape(where), _escape(fix))
        if _debug():
            raise
        sys.exit(code)


_show_warning = warnings.showwarning


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """adqa-data's own warnings as one `warning:` line on stderr, as the stages print theirs (Python's
    format adds the file, line and source line, which reads like a traceback); others as Python shows them."""
    if issubclass(category, UserWarning) and Path(filename).resolve().is_relative_to(_PACKAGE):
        print(f"warning: {message}", file=sys.stderr)
    else:
        _show_warning(message, category, filename, lineno, file, line)


_PACKAGE = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------- a pipeline's check pass
CHECKING_OPTIONS: contextvars.ContextVar[bool] = contextvars.ContextVar("checking_options", default=False)


class OptionsChecked(Exception):
    """Raised by `options_checked` in a check pass: the command's option values are valid."""


def options_checked() -> None:
    """A command calls this once it has checked its option values (built its settings) and before it
    reads or writes anything else. In a pipeline's check pass (`CHECKING_OPTIONS`), it stops the command
    there, so every step's values are checked before the first step runs; otherwise it does nothing."""
    if CHECKING_OPTIONS.get():
        raise OptionsChecked


def _escape(text: str | None) -> str | None:
    """Messages quote user input: keep rich from reading `[...]` in it as markup."""
    from rich.markup import escape

    return None if text is None else escape(text)
