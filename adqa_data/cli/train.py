"""`adqa-data train`: GRPO on rollout shards, or SFT on a split, into runs/<dataset>/<name>/."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import render
from .app import DEFAULT_WS, ForceOpt, JsonOpt, WorkspaceOpt, app, options_checked, print_json
from .options import build_settings, file_settings, settings_options
from .stage_run import run_state

if TYPE_CHECKING:  # pragma: no cover
    from ..stages.train import TrainResult

# online runs: these rollout settings as train options (the backend's flag says whose it is)
ROLLOUT_OPTIONS = ("k", "max_new_tokens", "backend", "anchoring_rows")
ROLLOUT_FLAGS = {"backend": ["--rollout-backend"]}


def _settings_model() -> Any:
    from ..stages.train.config import TrainStageConfig

    return TrainStageConfig


def _rollout_model() -> Any:
    from ..stages.rollout.config import RolloutConfig

    return RolloutConfig


@app.command()
@settings_options(_settings_model(), exclude=("rollout",))
@settings_options(_rollout_model(), only=ROLLOUT_OPTIONS, flags=ROLLOUT_FLAGS, into="rollout_settings")
def train(
    settings: dict[str, Any],
    rollout_settings: dict[str, Any],
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="YAML of train settings or a preset name from pipelines/train/ (reference-000 = the defaults, reference-001); options given here override it.",
        ),
    ] = None,
    rollout_config: Annotated[
        str | None,
        typer.Option(
            "--rollout-config",
            help="--online: YAML of rollout settings (pipelines/rollout.yaml); --k, --max-new-tokens, --rollout-backend, --anchoring-rows and --reward override it.",
        ),
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Train the policy: GRPO on stored rollout groups (default) or SFT on a split's gold answers.

    Writes runs/<dataset>/<name>/: checkpoints/ (resumable: a killed run continues from the newest),
    policy/ (the trained checkpoint, loadable by rollout), metrics.jsonl and completions/ tables. Past one
    process: accelerate launch --config_file pipelines/accelerate/ddp.yaml (or zero3.yaml)
    [--num_machines N --machine_rank R --main_process_ip HOST] -m adqa_data train ...
    """
    from ..core.errors import UserError
    from ..core.workspace import Workspace
    from ..stages.rollout.config import RolloutConfig
    from ..stages.rollout.config import load_config as load_rollout_config
    from ..stages.train import TrainStageConfig, run
    from ..train.config import load_config

    given = [f"--{k.replace('_', '-')}" for k in ("prompts", "round_prompts") if k in settings]
    given += ["--rollout-config"] * (rollout_config is not None)
    given += [ROLLOUT_FLAGS.get(k, [f"--{k.replace('_', '-')}"])[0] for k in rollout_settings]
    if "online" not in settings and given:
        raise UserError(f"{', '.join(given)} only apply to online training", fix="add --online ROUNDS")
    base = file_settings(load_config, config)
    if "online" in settings:
        # the rollouts sample on the trainer's device
        rollout_settings = {**rollout_settings, **{k: settings[k] for k in ("device",) if k in settings}}
        file = file_settings(load_rollout_config, rollout_config or None)
        rcfg = build_settings(RolloutConfig, rollout_settings, "train", base=file, flags=ROLLOUT_FLAGS)
        settings = {**settings, "rollout": rcfg}
    cfg = build_settings(TrainStageConfig, settings, "train", base=base)
    options_checked()
    with step_progress(cfg.logging_steps) as on_step:
        res = run(Workspace(workspace), cfg, force=force, on_step=on_step)
    if not is_main_process():  # under accelerate launch, one process reports
        return
    if as_json:
        print_json(res)
        return
    show(res)


def is_main_process() -> bool:
    """True unless this is a non-main process of an `accelerate launch` (the stage has set up its state)."""
    from accelerate.state import PartialState

    return PartialState().is_main_process


SHOWN = (
    ("loss", "loss"),
    ("reward", "reward"),
    ("kl", "kl"),
    ("clip_ratio/region_mean", "clip"),
    ("nll", "nll"),
    ("tokens_per_s", "tok/s"),
)


def step_line(step: int, total: int, metrics: dict[str, float]) -> str:
    """`step 12/100  loss 0.0123  reward 0.51  kl 0.0004  clip 0.01  tok/s 4210`."""
    parts = [f"step {step}/{total}"]
    for key, label in SHOWN:
        if key in metrics:
            v = metrics[key]
            parts.append(f"{label} {v:.0f}" if key == "tokens_per_s" else f"{label} {v:.4g}")
    return "  ".join(parts)


def step_progress(every: int):
    """A rich progress bar on stderr with the latest step's line; without a terminal, one log line every
    `every` steps."""
    import contextlib
    import sys

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..core.progress import console

    @contextlib.contextmanager
    def ctx():
        tty = sys.stderr.isatty()
        bar = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=console,
            disable=not tty,
        )
        with bar:
            task = bar.add_task("", total=None)

            def on_step(step: int, total: int, metrics: dict[str, float]) -> None:
                if not is_main_process():
                    return
                line = step_line(step, total, metrics)
                bar.update(task, completed=step, total=total, description=line.split("  ", 1)[-1])
                if not tty and step % every == 0:
                    render.log(line)

            yield on_step

    return ctx()


def show(res: TrainResult) -> None:
    state = run_state(
        res.up_to_date,
        f"{res.steps} of {res.total_steps} steps"
        + (f", resumed from step {res.resumed_from}" if res.resumed_from is not None else "")
        + f", {res.seconds:.1f} s",
    )
    render.log(f"{res.dataset} / {res.name} ({res.method}, {res.groups} groups): {state}")
    quarantined = (res.summary or {}).get("quarantined") or {}
    if quarantined:
        reasons = ", ".join(f"{n} {r}" for r, n in quarantined.items())
        render.log(f"quarantined: {reasons} (quarantine/{res.dataset}/train/{res.name})")
    rounds = (res.summary or {}).get("rounds") or []
    if rounds:  # online: what each round's rollout earned, before the round trained on it
        render.table(
            "online rounds",
            ["round", "rollout set", "accuracy", "mean reward", "zero signal", "steps"],
            [
                [
                    r["round"],
                    r["rollouts"],
                    r["rollout"].get("accuracy"),
                    r["rollout"].get("mean_reward"),
                    r["rollout"].get("zero_signal_share"),
                    f"{r.get('start_step')}-{r.get('end_step')}",
                ]
                for r in rounds
            ],
            right=["steps"],
        )
    last = (res.summary or {}).get("last") or {}
    if last:
        render.table("last step", ["measure", "value"], list(last.items()), right=["value"])
    render.log(
        f"policy: {res.policy_dir}"
        + (f"\naveraged: {res.averaged_dir}" if res.averaged_dir else "")
        + f"\nmetrics: {Path(res.run_dir) / 'metrics.jsonl'}"
    )
