"""`adqa-data rollout`: K rewarded completions per prompt."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import render
from .app import DEFAULT_WS, EngineOpt, ForceOpt, JsonOpt, WorkspaceOpt, app, print_json
from .options import build_settings, file_settings, settings_options
from .stage_run import run_stage, shards_state

if TYPE_CHECKING:  # pragma: no cover
    from ..stages.rollout import RolloutResult

# where rollout's flags are not the field's own: the model's short form, and remote code as a plain
# switch (it can only be turned on, and only here or in a pipeline step)
FLAGS = {"model": ["--model", "-m"], "trust_remote_code": ["--trust-remote-code"]}


def _settings_model() -> Any:
    from ..stages.rollout.config import RolloutConfig

    return RolloutConfig


@app.command()
@settings_options(_settings_model(), exclude=("backend_options", "anchoring_layers"), flags=FLAGS)
def rollout(
    settings: dict[str, Any],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="YAML of rollout settings (see pipelines/rollout.yaml); options given here override it.",
        ),
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
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
    from ..stages.rollout import RolloutConfig, load_config, run

    base = file_settings(load_config, config)
    cfg = build_settings(RolloutConfig, settings, "rollout", base=base, flags=FLAGS)
    res = run_stage(
        run,
        workspace,
        cfg,
        progress=("rollout groups", "groups"),
        engine=engine,
        force=force,
        warnings=cfg.warnings(),
        workers=workers,
    )
    if as_json:
        print_json(res)
        return
    show(res)


def show(res: RolloutResult) -> None:
    """What a researcher checks first about a rollout set, as one table."""
    s = res.summary
    render.log(
        f"{res.dataset} / {res.name}: {res.groups} groups x {s.get('k')} = {res.rows} rows; {shards_state(res)}"
    )
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
