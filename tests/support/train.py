"""The trainer the trainer tests build on the tiny model's rollouts (tests/train/conftest.py's `tws`)."""

from __future__ import annotations

from pathlib import Path

from adqa_data.core.workspace import Workspace
from adqa_data.stages.rollout.contract import load_rollout_groups
from adqa_data.train.config import load_config

DS = "audiomcq"


def _trainer(ws: Workspace, run: Path, **overrides):
    from adqa_data.train.loop import Trainer, total_steps_for

    groups, info = load_rollout_groups(ws, DS, ["tf"])
    settings = {"learning_rate": 1e-3, "warmup_ratio": 0.0, "beta": 0.0, "save_steps": 1000, **overrides}
    cfg = load_config(None, **settings)
    total = total_steps_for(cfg, len(groups))
    return Trainer(cfg, run, model=info.policy, sampling=info, total_steps=total), groups
