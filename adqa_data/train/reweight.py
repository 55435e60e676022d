"""Training one set of rollouts under another reward mix or advantage setting: every completion's total
reward and advantage recomputed from the stored reward columns, as rollout computed them.

`reweight` calls `advantages.group_advantages`, the function rollout used, with the batch of
scale="batch" being each group's rollout shard (`Group.batch`), so the rollout's own weights and settings
reproduce its stored advantages and other ones give what rollout would have stored with them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from ..core.errors import UserError
from ..mcq.advantages import (
    DEFAULT_EPS,
    DEFAULT_MIN_SPREAD,
    DEFAULT_SCALE,
    Baseline,
    Scale,
    StdKind,
    group_advantages,
)
from .groups import Completion, Group


def reward_columns(weights: Mapping[str, float]) -> dict[str, float]:
    """Reward name -> weight, as the column each name is stored in (rollout's naming, plugins included;
    a plugin is not imported: only its column is read)."""
    from ..rewards.plugins import reward_columns as columns

    return columns(weights)


def reweight(
    groups: Sequence[Group],
    weights: Mapping[str, float] | None,
    *,
    baseline: Baseline = "mean",
    scale: Scale = DEFAULT_SCALE,
    min_spread: float = DEFAULT_MIN_SPREAD,
    std: StdKind = "sample",
    eps: float = DEFAULT_EPS,
) -> None:
    """Recompute every completion's total reward and advantage, and every group's zero-signal flag, in
    place, as rollout computes them (`advantages.group_advantages`, the batch of scale="batch" being a
    group's rollout shard, `Group.batch`).

    `weights` are reward names as rollout takes them (`correctness`, `format`, `anchoring`, plugins as
    `module:function`); each must have been computed by the rollout (a column without values cannot be
    weighted, except with weight 0). None keeps the stored totals (new advantage settings only)."""
    rows = [c for g in groups for c in g.completions]
    totals = [c.reward for c in rows] if weights is None else _totals(rows, reward_columns(weights))
    ids = [g.group_id for g in groups for _ in g.completions]
    batches = [g.batch for g in groups for _ in g.completions]
    adv = group_advantages(
        np.asarray(totals),
        ids,
        baseline=baseline,
        scale=scale,
        min_spread=min_spread,
        std=std,
        eps=eps,
        batches=batches,
    )
    for c, total, a in zip(rows, totals, adv.advantages):
        c.reward, c.advantage = float(total), float(a)
    flags = dict(zip(ids, adv.all_equal))
    for g in groups:
        g.zero_signal = bool(flags[g.group_id])


def _totals(rows: Sequence[Completion], columns: Mapping[str, float]) -> list[float]:
    totals = []
    for c in rows:
        parts = []
        for column, w in columns.items():
            if w == 0:
                continue
            if column not in c.rewards:
                raise UserError(
                    f"the rollout shards have no {column} column to weight",
                    fix="roll out again with that reward, or leave it out of --reward",
                )
            v = c.rewards[column]
            if v is None:
                raise UserError(
                    f"{column} was not computed by this rollout (the column is empty)",
                    fix="roll out again with that reward configured, or give it weight 0",
                )
            parts.append(w * float(v))
        totals.append(math.fsum(parts))
    return totals
