"""`adqa-data export`: a workspace table as a Hugging Face dataset (native, verl, trl, groups, sft)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import render
from .app import DEFAULT_WS, DatasetOpt, JsonOpt, WorkspaceOpt, app, print_json


@app.command()
def export(
    format: Annotated[
        str,
        typer.Option("--format", "-f", help="native (a table as it is) | verl | trl | groups | sft | swift."),
    ] = "native",
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "--out-dir",
            "-o",
            help="Folder to write the dataset into (Hub layout: README.md + data/).",
        ),
    ] = None,
    push_to_hub: Annotated[
        str | None, typer.Option("--push-to-hub", help="Also upload it as this Hub dataset repo (user/name).")
    ] = None,
    private: Annotated[bool, typer.Option("--private", help="Create the Hub repo private.")] = False,
    table: Annotated[
        str | None,
        typer.Option(
            "--table",
            help="native: items | probes | quarantine | code_index | votes | item_scores | prompts | rollouts.",
        ),
    ] = None,
    unit: Annotated[
        str | None,
        typer.Option(
            "--unit",
            help="native: a sub-folder of the table (a prompt or rollout set, a quarantine stage, votes MODEL/CONDITION).",
        ),
    ] = None,
    prompts: Annotated[
        str | None,
        typer.Option(
            "--prompts",
            help="verl, trl, sft, swift: this prompt set (default for verl/trl/swift: the only one).",
        ),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            help="verl, trl, sft, swift: a split instead: weak | strong | all (default for sft, swift's sft: weak).",
        ),
    ] = None,
    rollouts: Annotated[
        str | None, typer.Option("--rollouts", help="groups, trl: the rollout set (default: the only one).")
    ] = None,
    split_name: Annotated[
        str, typer.Option("--split-name", help="The Hugging Face split the rows are written as.")
    ] = "train",
    prompt_style: Annotated[
        str,
        typer.Option(
            "--prompt-style", help="verl, trl, sft: prompt style of the rows (think | letters | audiomcq)."
        ),
    ] = "think",
    audio: Annotated[
        str | None,
        typer.Option(
            "--audio", help="embed (waveform) | path | none (default: embed for verl, path otherwise)."
        ),
    ] = None,
    sample_rate: Annotated[
        int,
        typer.Option(
            "--sample-rate",
            help="--audio embed: rate of the waveforms, the processor's (16000 for Whisper-based encoders).",
        ),
    ] = 16000,
    cot_only: Annotated[
        bool, typer.Option("--cot-only", help="sft: keep only items with a chain of thought.")
    ] = False,
    reward: Annotated[
        list[str] | None,
        typer.Option(
            "--reward",
            help="verl: NAME=WEIGHT, repeatable: the reward mix compute_score grades with (default correctness=1.0 "
            "format=0.25; anchoring needs attention and cannot be weighted).",
        ),
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="Dataset card title.")] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write (--out) or push (--push-to-hub) a table as a Hugging Face dataset with a generated dataset card
    (what it is, schema, row counts, provenance chain, statistics, source licence).

    Formats: native (any table as it is); verl (prompt rows with an <audio> placeholder, reward_model,
    extra_info and an audios column for verl's RL dataset); trl (GRPOTrainer prompts whose extra columns reach
    reward functions, plus the rollouts as TRL completion logs); groups (one row per rollout group: prompt,
    responses, rewards); sft (a split, weak by default, as chat messages with the chain of thought); swift
    (ms-swift: the sft rows plus GRPO prompt rows with `solution`, clips copied beside them, a reward plugin).
    Every export is loaded back and compared with what was written before it is reported or pushed.
    """
    from ..core.workspace import Workspace
    from ..export import ExportOptions
    from ..export import export as run_export
    from ..stages.rollout.config import parse_reward_weights

    options = ExportOptions(
        table=table,
        unit=unit,
        prompts=prompts,
        rollouts=rollouts,
        split=split,
        split_name=split_name,
        prompt_style=prompt_style,
        audio=audio,
        sample_rate=sample_rate,
        cot_only=cot_only,
        rewards=parse_reward_weights(reward) if reward else None,
    )
    res = run_export(
        Workspace(workspace),
        format,
        dataset,
        options,
        out=out_dir,
        push_to_hub=push_to_hub,
        private=private,
        title=title,
    )
    if as_json:
        print_json(res)
        return
    check = res.check["configs"]
    render.table(
        f"{res.dataset} exported as {res.format}",
        ["config", "rows", "loaded back", "rows compared", "check"],
        [
            (c, n, check[c]["loaded_rows"], check[c]["rows_compared"], "ok" if check[c]["ok"] else "MISMATCH")
            for c, n in res.rows.items()
        ],
    )
    for note in res.notes:
        render.log(f"  {note}")
    if res.out:
        render.log(f"written: {res.out} (dataset card: {Path(res.out) / 'README.md'})")
    if res.pushed_to:
        render.log(f"pushed: {res.pushed_to}")
