"""What a run reports: the step's metrics (reduced over processes), `metrics.jsonl` in the run folder, an
optional tracker (trackio, wandb), and completions tables (`completions/step-NNNNNN.parquet`) of what the
policy was trained on. Only the main process writes."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from ..core.atomic_files import append_text, write_atomic
from ..core.errors import UserError
from .collate import Batch
from .config import TrainConfig


class MetricsLog:
    """`metrics.jsonl` in the run folder, an optional tracker (trackio, wandb), and completions tables
    (`completions/step-NNNNNN.parquet`). Only the main process writes."""

    def __init__(self, run_dir: Path, cfg: TrainConfig, main: bool, name: str):
        self.run_dir, self.cfg, self.main, self.name = run_dir, cfg, main, name
        self.tracker: Any = None
        if main and cfg.report_to != "none":
            self.tracker = _tracker(cfg.report_to)
            self.tracker.init(project=cfg.project, name=name, config=cfg.model_dump())

    def step(self, step: int, metrics: dict[str, float]) -> None:
        if not self.main or step % self.cfg.logging_steps:
            return
        line = json.dumps({"step": step, **{k: _round(v) for k, v in metrics.items()}}) + "\n"
        append_text(self.run_dir / "metrics.jsonl", line, inside=self.run_dir)
        if self.tracker is not None:
            self.tracker.log(metrics, step=step)

    def completions(self, step: int, micro: list[Batch], model: Any) -> None:
        """A small table of what the policy was trained on at this step."""
        if not self.main:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = []
        for b in micro:
            for g, c in b.refs:
                rows.append(
                    {
                        "step": step,
                        "group_id": g.group_id,
                        "item_id": g.item_id,
                        "prompt": g.prompt or g.question,
                        "completion": c.text,
                        "reward": c.reward,
                        "advantage": c.advantage,
                        "completion_length": len(c.token_ids or []),
                        **{k: v for k, v in c.rewards.items()},
                    }
                )
        table = pa.Table.from_pylist(rows)
        out = self.run_dir / "completions" / f"step-{step:06d}.parquet"
        write_atomic(out, lambda f: pq.write_table(table, f), inside=self.run_dir)

    def close(self) -> None:
        if self.tracker is not None:
            self.tracker.finish()
            self.tracker = None


def _tracker(kind: str) -> Any:
    try:
        return __import__(kind)
    except ImportError:
        raise UserError(
            f"--report-to {kind} needs the Python package '{kind}'", fix=f"pip install {kind}"
        ) from None


def batch_metrics(micro: list[Batch], accelerator: Any) -> dict[str, float]:
    """Reward, advantage, length and zero-signal statistics of the whole step, over every process."""
    rewards = torch.cat([b.rewards for b in micro]).double()
    adv = torch.cat([b.advantages for b in micro]).double()
    lengths = torch.cat([b.mask.sum(-1) for b in micro]).double()
    groups = {g.group_id: g.zero_signal for b in micro for g, _ in b.refs}
    sums = torch.tensor(
        [
            rewards.numel(),
            rewards.sum(),
            (rewards**2).sum(),
            adv.abs().sum(),
            lengths.sum(),
            len(groups),
            sum(groups.values()),
        ],
        dtype=torch.float64,
        device=accelerator.device,
    )
    n, r, r2, a, length, g, zero = accelerator.reduce(sums, "sum").tolist()
    var = (r2 - r * r / n) / (n - 1) if n > 1 else 0.0  # the sample variance, as advantages use
    return {
        "reward": r / n,
        "reward_std": math.sqrt(max(var, 0.0)),
        "advantage_abs": a / n,
        "completion_length": length / n,
        "zero_signal_share": zero / max(g, 1),
    }


def mean_over_processes(metrics: dict[str, float], accelerator: Any) -> dict[str, float]:
    """Each metric averaged over the processes (as it is, with one)."""
    if accelerator.num_processes == 1:
        return metrics
    keys = sorted(metrics)
    values = torch.tensor([metrics[k] for k in keys], dtype=torch.float64, device=accelerator.device)
    return dict(zip(keys, accelerator.reduce(values, "mean").tolist()))


def accumulate(totals: dict[str, float], metrics: dict[str, float], n: int) -> None:
    """Mean of per-micro-batch metrics (the loss is summed: it is already divided by the step's size)."""
    for k, v in metrics.items():
        if isinstance(v, float) and math.isnan(v):
            continue
        totals[k] = totals.get(k, 0.0) + (v if k == "loss" else v / n)


def as_float(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _round(x: float) -> float:
    return float(f"{x:.6g}") if isinstance(x, float) and math.isfinite(x) else x
