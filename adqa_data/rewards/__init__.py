"""Rewards for GRPO rollouts: plain callables over a batch, TRL style, one column each.

Every reward is `reward(completions: list[str], **columns) -> list[float]`; it takes the batch columns
it needs by keyword and ignores the rest, so the same functions work on our rollout tables and as
`reward_funcs` of TRL's GRPOTrainer. The caller stores each component as its own column
`reward_<name>` and the weighted total from `combine`. `anchoring` is gated on correctness: compute
`correctness` first and pass its output as `correct=`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from .anchoring import AnchoringConfig, anchoring, anchoring_score
from .correctness import correctness
from .format import FormatConfig, format_reward, repetition, structure

RewardFn = Callable[..., list[float]]

REWARDS: dict[str, RewardFn] = {
    "correctness": correctness,
    "format": format_reward,
    "anchoring": anchoring,
}

# Correctness dominates: with format in [-1, 1] weighted below 0.5, a correct answer always totals
# more than a wrong one (wrong answers earn no anchoring), so format and anchoring only rank
# completions that agree on correctness.
DEFAULT_WEIGHTS: dict[str, float] = {"correctness": 1.0, "format": 0.25, "anchoring": 0.5}


def combine(rewards: Mapping[str, Sequence[float]], weights: Mapping[str, float]) -> list[float]:
    """The weighted total per completion. Components and weights must name the same rewards, so a
    component is never left out of the total by a typo."""
    if set(rewards) != set(weights):
        raise ValueError(f"rewards {sorted(rewards)} and weights {sorted(weights)} name different components")
    lengths = {name: len(values) for name, values in rewards.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"reward components differ in length: {lengths}")
    n = next(iter(lengths.values()), 0)
    totals = [math.fsum(weights[name] * rewards[name][i] for name in rewards) for i in range(n)]
    if not all(math.isfinite(t) for t in totals):
        raise ValueError("a reward component is not finite")
    return totals


__all__ = [
    "DEFAULT_WEIGHTS",
    "REWARDS",
    "AnchoringConfig",
    "FormatConfig",
    "RewardFn",
    "anchoring",
    "anchoring_score",
    "combine",
    "correctness",
    "format_reward",
    "repetition",
    "structure",
]
