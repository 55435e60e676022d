"""What offline and online training runs share: the run folder's names, the trainer started (or resumed
from the run's newest checkpoint), the one summary both record, and the result both return.

The run folder `runs/<dataset>/<name>/`:
    checkpoints/step-NNNNNN/   trainable weights, optimizer, scheduler, RNG, data position
    policy/                    the final policy, loadable by rollout (--model runs/<dataset>/<name>/policy)
    policy-avg/                with average_last N: the mean of the last N checkpoints' weights
    metrics.jsonl              one line per logged step
    completions/step-*.parquet what was trained on every completions_steps steps
    rounds.json                online runs: each round's rollout set and what it earned
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...core.workspace import StageRun, Workspace
from ...train.config import TrainConfig
from ...train.groups import SamplingInfo

if TYPE_CHECKING:  # pragma: no cover
    from ...train.loop import Trainer, TrainState

STAGE = "train"
RUNS = "runs"
LAST_KEYS = ("loss", "reward", "kl", "clip_ratio/region_mean", "ratio_mean", "nll", "grad_norm", "lr")
OnStep = Callable[[int, int, dict[str, float]], None]  # (step, total steps, the step's metrics)


@dataclass
class TrainResult:
    dataset: str
    name: str
    method: str
    up_to_date: bool
    steps: int
    total_steps: int
    groups: int
    resumed_from: int | None  # the step a killed run resumed from
    run_dir: str
    policy_dir: str
    averaged_dir: str | None
    summary: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def stage_run(
    ws: Workspace,
    dataset: str,
    name: str,
    run_config: Mapping[str, Any],
    inputs: Mapping[str, str],
    force: bool,
    *versions: str,
) -> StageRun:
    """The run's `StageRun` (unit: the run's name), recording the training libraries' versions and
    `versions` (online: vllm)."""
    return StageRun(
        ws,
        STAGE,
        dataset,
        run_config,
        inputs,
        force=force,
        unit=name,
        extra_versions=("torch", "transformers", "accelerate", "peft", *versions),
    )


def start_trainer(
    cfg: TrainConfig, run_dir: Path, model: str, sampling: SamplingInfo, total: int, run_name: str, acc: Any
) -> tuple[Trainer, int | None]:
    """The run's Trainer, resumed from its last checkpoint when there is one (and the step it resumed at)."""
    from ...train.loop import Trainer

    trainer = Trainer(
        cfg,
        run_dir,
        model=model,
        sampling=sampling,
        total_steps=total,
        family=cfg.family,
        run_name=run_name,
        accelerator=acc,
    )
    return trainer, (trainer.state.step if trainer.resume() else None)


def step_callback(
    on_step: OnStep | None, total: int
) -> Callable[[TrainState, dict[str, float]], None] | None:
    """The loop's per-step hook from the stage's `on_step(step, total, metrics)`."""
    return None if on_step is None else lambda state, metrics: on_step(state.step, total, metrics)


def run_summary(
    trainer: Trainer,
    *,
    total: int,
    groups: int,
    model: str,
    resumed: int | None,
    sources: Sequence[str],
    last: Mapping[str, float],
    quarantined: Sequence[Mapping[str, Any]] = (),
    rounds: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The summary every training run records (offline and online alike; `rounds` only online)."""
    state, cfg = trainer.state, trainer.cfg
    summary: dict[str, Any] = {
        "method": cfg.method,
        "online": rounds is not None,
        "steps": state.step,
        "total_steps": total,
        "groups": groups,
        "quarantined": dict(sorted(Counter(q["reason"] for q in quarantined).items())),
        "sources": list(sources),
        "model": model,
        "temperature": trainer.temperature,
        "resumed_from": resumed,
        "tokens": state.tokens,
        "train_seconds": round(state.seconds, 3),
        "checkpoints": len(trainer.checkpoints()),
        "averaged_last": cfg.average_last or None,
        "last": {k: v for k, v in last.items() if k in LAST_KEYS},
    }
    if rounds is not None:
        summary["rounds"] = rounds
    return summary


def train_result(
    ws: Workspace,
    dataset: str,
    name: str,
    summary: Mapping[str, Any],
    *,
    method: str,
    up_to_date: bool,
    averaged: bool,
    seconds: float = 0.0,
    groups: int | None = None,
    total: int = 0,
) -> TrainResult:
    """The result of a run, from its summary (an up-to-date run's is its provenance record's; `groups`
    and `total` stand in for counts an older record lacks)."""
    final_dir = ws.table_dir(RUNS, dataset, name)
    return TrainResult(
        dataset=dataset,
        name=name,
        method=method,
        up_to_date=up_to_date,
        steps=int(summary.get("steps", 0)),
        total_steps=int(summary.get("total_steps", total)),
        groups=int(summary.get("groups", 0) if groups is None else groups),
        resumed_from=None if up_to_date else summary.get("resumed_from"),
        run_dir=str(final_dir),
        policy_dir=str(final_dir / "policy"),
        averaged_dir=str(final_dir / "policy-avg") if averaged else None,
        summary=dict(summary),
        seconds=seconds,
    )


def recorded_summary(ws: Workspace, dataset: str, name: str) -> dict[str, Any]:
    """The summary of the run's provenance record (empty without one)."""
    return dict((ws.provenance(STAGE, dataset, name) or {}).get("summary", {}))
