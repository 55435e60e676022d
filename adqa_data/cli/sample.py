"""`adqa-data sample`: a type-balanced prompt set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from . import render
from .app import (
    DEFAULT_WS,
    DatasetOpt,
    ForceOpt,
    JsonOpt,
    WorkspaceOpt,
    app,
    options_checked,
    print_json,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..stages.sample import SampleResult


@app.command()
def sample(
    n: Annotated[int, typer.Option("--n", help="Number of prompts to draw.")] = 1000,
    split: Annotated[
        str, typer.Option("--split", help="Pool: strong | weak (from 'filter') | all (every answered item).")
    ] = "strong",
    weights: Annotated[
        str, typer.Option("--weights", help="Per question type: uniform | proportional | TYPE=W,TYPE=W,...")
    ] = "uniform",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    name: Annotated[
        str | None, typer.Option("--name", help="Prompt set name (default: <split>-<n>-seed<seed>).")
    ] = None,
    exclude_leaked: Annotated[
        bool | None,
        typer.Option(
            "--exclude-leaked/--keep-leaked",
            help="Leave out items 'check-leakage' flagged (their audio or question is in a dev/eval set). Default: exclude once check-leakage has run on the dataset.",
        ),
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    dataset: DatasetOpt = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Draw a prompt set from a split, balanced by question type, without replacement, seeded."""
    from ..core.workspace import Workspace
    from ..stages.sample import check_options
    from ..stages.sample import sample as run_sample

    check_options(n, split, weights, seed)
    options_checked()
    res = run_sample(
        Workspace(workspace),
        dataset,
        n=n,
        split=split,
        weights=weights,
        seed=seed,
        name=name,
        force=force,
        exclude_leaked=exclude_leaked,
    )
    if as_json:
        print_json(res)
        return
    if res.up_to_date:
        render.log(f"up to date: prompt set {res.name} ({res.n} prompts); --force redoes it")
    if res.excluded_leaked:
        render.log(
            f"left out {res.excluded_leaked} items flagged by check-leakage (--keep-leaked keeps them)"
        )
    show(res)


def show(res: SampleResult) -> None:
    """The prompt set against its pool, by question type and by source."""
    for title, rows in (("question type", res.by_type), ("source", res.by_source)):
        render.table(
            f"{res.dataset} / {res.name}: chosen against the pool by {title}",
            [title, "pool", "chosen", "share"],
            [(k, v["pool"], v["chosen"], f"{v['chosen'] / max(res.n, 1):.1%}") for k, v in rows.items()],
            right=["share"],
        )
