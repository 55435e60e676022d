"""`adqa-data rollout`: K rewarded completions per prompt."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import render
from .app import (
    ANCHORING_ROWS,
    DEFAULT_WS,
    DatasetOpt,
    DeviceOpt,
    DtypeOpt,
    EngineOpt,
    FamilyOpt,
    ForceOpt,
    JsonOpt,
    WorkspaceOpt,
    app,
    options_checked,
    print_json,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..stages.rollout import RolloutResult


@app.command()
def rollout(
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="The policy: a checkpoint directory or hub id.")
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend", help="transformers (default) | vllm | scripted (no model: dry runs, tests)."
        ),
    ] = None,
    prompts: Annotated[
        str | None, typer.Option("--prompts", help="Prompt set from 'sample' (default: the only one).")
    ] = None,
    k: Annotated[int | None, typer.Option("--k", "-k", help="Completions per prompt (default 4).")] = None,
    temperature: Annotated[
        float | None,
        typer.Option("--temperature", help="Sampling temperature (default 1.0: the policy itself)."),
    ] = None,
    top_p: Annotated[
        float | None, typer.Option("--top-p", help="Nucleus sampling (default 1.0: off).")
    ] = None,
    max_new_tokens: Annotated[
        int | None, typer.Option("--max-new-tokens", help="Completion length limit (default 512).")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Completion s of item i is seeded by (seed, item_id, s) (default 0)."),
    ] = None,
    prompt_style: Annotated[
        str | None,
        typer.Option(
            "--prompt-style",
            help="Prompt style: a built-in name (think, letters, answer_tag, audiomcq; default think) or a style YAML file.",
        ),
    ] = None,
    reward: Annotated[
        list[str] | None,
        typer.Option(
            "--reward",
            help="NAME=WEIGHT, repeatable; the rewards listed replace the default set (correctness=1, format=0.25, anchoring=0.5). NAME: correctness | format | anchoring | package.module:function.",
        ),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option("--baseline", help="Advantage baseline: mean (GRPO, default) | leave-one-out."),
    ] = None,
    scale: Annotated[
        str | None,
        typer.Option(
            "--scale",
            help="Advantage divisor, as TRL's scale_rewards: batch (default: the std of all rewards of a shard) | group (the group's std, GRPO) | none (Dr. GRPO).",
        ),
    ] = None,
    min_spread: Annotated[
        float | None,
        typer.Option(
            "--min-spread",
            help="Groups whose total rewards span less than this get advantage 0 and zero_signal (total-reward units; default 0.05; 0 = only exactly equal groups).",
        ),
    ] = None,
    shard_size: Annotated[
        int | None,
        typer.Option(
            "--shard-size",
            help="Groups per shard: the unit of resume, of a Ray task and the batch of --scale batch (default 64).",
        ),
    ] = None,
    anchoring_rows: Annotated[
        str | None,
        typer.Option(
            "--anchoring-rows",
            help=f"Query rows of the anchoring reward: {ANCHORING_ROWS}",
        ),
    ] = None,
    family: FamilyOpt = None,
    codec: Annotated[
        str | None,
        typer.Option(
            "--codec",
            help="For a policy that reads RVQ codes, not audio (MiMo-Audio): the code index to read, e.g. mimo-audio or a codec key from 'encode' (default: the policy's codec).",
        ),
    ] = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="YAML of rollout settings (see pipelines/rollout.yaml); options given here override it.",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="Rollout set name (default: <prompts>-<model>-k<K>-seed<seed>-<settings hash>; a complete set of that name made with other settings is replaced only with --force).",
        ),
    ] = None,
    revision: Annotated[
        str | None,
        typer.Option("--revision", help="vllm backend: the policy's hub commit (40 characters pin it)."),
    ] = None,
    max_prompt_tokens: Annotated[
        int | None,
        typer.Option(
            "--max-prompt-tokens",
            help="Quarantine prompts longer than this in the policy's tokens (prompt_too_long; default 2048).",
        ),
    ] = None,
    trust_remote_code: Annotated[
        bool,
        typer.Option(
            "--trust-remote-code",
            help="Allow the policy's repository code to run; it must be a local folder or pinned with --revision to a commit.",
        ),
    ] = False,
    workspace: WorkspaceOpt = DEFAULT_WS,
    dataset: DatasetOpt = None,
    engine: EngineOpt = "local",
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="--engine ray: shards in flight at once (default: as many as fit)."),
    ] = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Sample K completions per prompt from the policy, parse and reward them, rank them within their group.

    Writes rollouts/<dataset>/<name>/part-*.parquet: one row per completion, whole groups per shard, with
    token ids, log-probs, one reward_<name> column per reward, the weighted total and the group advantage.
    Resumable per shard; a rerun with the same settings is a no-op.
    """
    from ..core.engine import check_engine
    from ..core.progress import progress_bar
    from ..core.workspace import Workspace
    from ..stages.rollout import load_config, parse_reward_weights
    from ..stages.rollout import rollout as run_rollout

    cfg = load_config(
        config,
        model=model,
        backend=backend,
        k=k,
        temperature=temperature,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        seed=seed,
        prompt_style=prompt_style,
        rewards=parse_reward_weights(reward or []) or None,
        baseline=baseline,
        scale=scale,
        min_spread=min_spread,
        shard_size=shard_size,
        anchoring_rows=anchoring_rows,
        family=family,
        device=device,
        dtype=dtype,
        codec=codec,
        revision=revision,
        max_prompt_tokens=max_prompt_tokens,
        trust_remote_code=trust_remote_code or None,
    )
    check_engine(engine)
    options_checked()
    from rich.markup import escape

    for message in cfg.warnings():
        render.log(f"[yellow]warning:[/] {escape(message)}")
    with progress_bar("rollout groups", "groups") as on_progress:
        res = run_rollout(
            Workspace(workspace),
            cfg,
            dataset=dataset,
            prompts=prompts,
            name=name,
            engine=check_engine(engine),
            workers=workers,
            force=force,
            on_progress=on_progress,
        )
    if as_json:
        print_json(res)
        return
    show(res)


def show(res: RolloutResult) -> None:
    """What a researcher checks first about a rollout set, as one table."""
    s = res.summary
    state = (
        "up to date (--force redoes it)"
        if res.up_to_date
        else f"{res.shards_written} of {res.shards} shards written, {res.seconds:.1f} s"
    )
    render.log(f"{res.dataset} / {res.name}: {res.groups} groups x {s.get('k')} = {res.rows} rows; {state}")
    rows: list[tuple[str, object]] = [
        (key, s.get(key))
        for key in (
            "accuracy",
            "mean_reward",
            "anchoring_mean_when_correct",
            "zero_signal_share",
            "mean_completion_length",
            "truncated_share",
        )
    ]
    rows += [(f"mean {col}", v) for col, v in (s.get("reward_means") or {}).items()]
    rows += [(f"parse: {layer}", count) for layer, count in (s.get("parse") or {}).items()]
    rows += [(f"accuracy: {qt}", acc) for qt, acc in (s.get("accuracy_by_type") or {}).items()]
    render.table("rollouts", ["measure", "value"], rows, right=["value"])
    render.log(f"output: {res.out_dir}\nread it: polars.read_parquet('{res.out_dir}/part-*.parquet')")
