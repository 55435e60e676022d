"""`adqa-data filter`: audio-contribution filtering by a panel of LALMs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import (
    DEFAULT_WS,
    DatasetOpt,
    EngineOpt,
    ForceOpt,
    JsonOpt,
    WorkspaceOpt,
    app,
    print_json,
)


@app.command("filter")
def filter_cmd(
    panel: Annotated[str, typer.Option("--panel", help="Panel YAML file, or a built-in panel name (pipelines/panels/: audiomcq, tiny).")] = "audiomcq",
    condition: Annotated[list[str], typer.Option("--condition", help="Extra condition besides audio and silence, repeatable: noise | swap.")] = [],
    mode: Annotated[str | None, typer.Option("--mode", help="letters | options | generate for every member (default: each member's own, letters).")] = None,
    permutations: Annotated[int, typer.Option("--permutations", "-k", help="Score each item under K cyclic rotations of its options and average; K = the number of options (4) fully cancels a letter-position bias.")] = 1,
    min_correct: Annotated[int | None, typer.Option("--min-correct", help="Weak when at least this many members are correct on silence (default: the panel's, 2).")] = None,
    silence_seconds: Annotated[float, typer.Option("--silence-seconds", help="Length of the silent (and noise) clip.")] = 30.0,
    noise_color: Annotated[str, typer.Option("--noise-color", help="noise condition: white | pink.")] = "white",
    noise_level: Annotated[float, typer.Option("--noise-level", help="noise condition: RMS level in dBFS.")] = -30.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the noise clip and the swap draws.")] = 0,
    chunk_items: Annotated[int, typer.Option("--chunk-items", help="Items per votes shard (the unit of resume).")] = 256,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="generate mode: reply length limit.")] = 256,
    device: Annotated[str | None, typer.Option("--device", help="cpu | cuda (default: cuda when available).")] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    dataset: DatasetOpt = None,
    engine: EngineOpt = "local",
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Audio-contribution filtering: a panel of LALMs answers every item with its audio and with silence;
    items that at least --min-correct members answer without listening are weak, the rest strong.

    Writes votes, item_scores, splits/<dataset>/{weak,strong}.txt and statistics (also in the provenance).
    Resumable per (model, condition) shard; each model is loaded once; a rerun with the same config is a no-op.
    """
    from ..executor import check_engine
    from ..progress import console, progress_bar
    from ..stages.filter import FilterOptions, filter_dataset
    from ..stages.filter_stats import render
    from ..workspace import Workspace

    options = FilterOptions(
        conditions=("audio", "silence", *condition), mode=mode, permutations=permutations, min_correct=min_correct,
        silence_seconds=silence_seconds, noise_color=noise_color, noise_level_dbfs=noise_level, seed=seed,
        chunk_items=chunk_items, max_new_tokens=max_new_tokens, device=device,
    )
    with progress_bar("panel votes", "shards") as on_progress:
        res = filter_dataset(Workspace(workspace), panel, dataset, options, engine=check_engine(engine), force=force,
                             on_progress=on_progress)
    if as_json:
        print_json(res.to_json())
        return
    if res.up_to_date:
        console.print(f"[green]up to date[/]: {res.dataset} with panel {res.panel}; --force redoes it")
    else:
        console.print(f"{res.chunks_run} votes shards written, {res.chunks_reused} reused, {res.seconds:.1f} s")
    render(res.to_json())
    console.print(f"splits: {Path(workspace) / 'splits' / res.dataset}/{{weak,strong}}.txt")
