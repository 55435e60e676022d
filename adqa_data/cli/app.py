"""The `adqa-data` command: one thin command per stage. Options are parsed here; the work is done in
`adqa_data.stages.*`, imported lazily so that `adqa-data --help` never imports torch."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .render import print_json  # noqa: F401  (re-exported for the command modules)

app = typer.Typer(
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
DEFAULT_WS = Path("adqa-work")


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    from ..errors import UserError

    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise UserError(f"--map {pair!r} is not FIELD=COLUMN", fix="e.g. --map question=q --map choices=options")
        k, v = pair.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def main() -> None:
    """Entry point: user mistakes become one clear message and exit code 2, not a traceback."""
    from ..errors import UserError

    try:
        app()
    except UserError as e:
        from ..progress import console

        # soft_wrap: paths in messages stay on one line, so they can be copied
        console.print(f"[bold red]error:[/] {e.what}", soft_wrap=True, highlight=False)
        if e.where:
            console.print(f"  [dim]where:[/] {e.where}", soft_wrap=True, highlight=False)
        if e.fix:
            console.print(f"  [dim]fix:[/]   {e.fix}", soft_wrap=True, highlight=False)
        sys.exit(2)
