"""`adqa-data sample`: a type-balanced prompt set."""

from __future__ import annotations

from typing import Annotated

import typer

from .app import (
    DEFAULT_WS,
    DatasetOpt,
    ForceOpt,
    JsonOpt,
    WorkspaceOpt,
    app,
    print_json,
)


@app.command()
def sample(
    n: Annotated[int, typer.Option("--n", help="Number of prompts to draw.")] = 1000,
    split: Annotated[str, typer.Option("--split", help="Pool: strong | weak (from 'filter') | all (every answered item).")] = "strong",
    weights: Annotated[str, typer.Option("--weights", help="Per question type: uniform | proportional | TYPE=W,TYPE=W,...")] = "uniform",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    name: Annotated[str | None, typer.Option("--name", help="Prompt set name (default: <split>-<n>-seed<seed>).")] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    dataset: DatasetOpt = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Draw a prompt set from a split, balanced by question type, without replacement, seeded."""
    from ..stages.sample import render
    from ..stages.sample import sample as run_sample
    from ..workspace import Workspace

    res = run_sample(Workspace(workspace), dataset, n=n, split=split, weights=weights, seed=seed, name=name, force=force)
    if as_json:
        print_json(res.__dict__)
        return
    if res.up_to_date:
        from ..progress import console

        console.print(f"[green]up to date[/]: prompt set {res.name} ({res.n} prompts); --force redoes it")
    render(res)
