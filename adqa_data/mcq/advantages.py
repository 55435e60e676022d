"""Group-relative advantages for GRPO: each completion is judged against the other K of its prompt.

    numerator    mean baseline (GRPO):        r_i - mean(group)
                 leave-one-out (RLOO):        r_i - mean(group without i)
    scale        "batch" (default):           / (std over the whole batch + eps)
                 "group" (GRPO, TRL's default): / (std of the group + eps)
                 "none" (Dr. GRPO):           no division: advantages in reward units

The three scales are TRL's `scale_rewards` (GRPOTrainer, TRL 1.16): the numerator is always centred on
the group, only the divisor differs; "batch" is TRL's "batch" exactly — the standard deviation of every
reward in the batch around the batch's mean. `std` is the sample standard deviation by default (ddof=1,
what TRL computes), "population" (ddof=0) the option; `eps` is TRL's 1e-4.

The batch. In the rollout stage the batch is one rollout shard (`shard_size` groups: the unit a
rollout task samples and rewards together, as TRL's batch is the unit it generates together); the
trainer's re-weighting uses the same shards (`batches`), so re-weighting with the rollout's own weights
reproduces the stored advantages.

The minimum spread. A group whose total rewards span less than `min_spread` (max - min, in units of
the weighted total reward: a right/wrong flip at correctness weight 1 spans 1.0) carries no usable
signal: its advantages are exactly 0 and it is flagged (`all_equal`: equal to within `min_spread`;
`below_spread` tells those apart from groups that are equal outright or have one completion).

Defaults: `scale="batch"`, `min_spread=0.05`. Group scaling gives every group unit variance, however
small its spread: four correct answers whose anchoring rewards are 0.30/0.31/0.32/0.33 (totals 0.015
apart at the default weights) get advantages of ±1.14 and ±0.38, the size of a right/wrong split, so
attention noise drives full-size updates. Batch scaling divides every group by the same number, so a
group's advantages stay proportional to its reward differences: a right/wrong split still gets
advantages of about ±1 in a typical batch, a 0.015 wiggle a hundredth of that. The spread rule covers
the batch that holds nothing but such wiggles (then the batch std is small too): 0.05 lies below the
smallest step the default rewards are built to make (one format tier, 0.25 x weight 0.25 = 0.0625) and
is a 0.1 difference of the anchoring score at its weight 0.5. It is absolute, in total-reward units,
because noise is: a relative rule would call a group noisy because another group is far apart. With
other weights, scale it with them (`min_spread=0` keeps every group that is not exactly equal).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

Baseline = Literal["mean", "leave_one_out"]
Scale = Literal["group", "batch", "none"]
StdKind = Literal["sample", "population"]
BASELINES: tuple[Baseline, ...] = ("mean", "leave_one_out")
SCALES: tuple[Scale, ...] = ("group", "batch", "none")
DEFAULT_SCALE: Scale = "batch"
DEFAULT_MIN_SPREAD = 0.05  # total-reward units (see the module docstring)
DEFAULT_EPS = 1e-4  # TRL's value: bounds the advantage of a group (or batch) with tiny spread


class GroupAdvantages(NamedTuple):
    advantages: np.ndarray  # float64, the shape of `rewards`
    all_equal: np.ndarray  # bool: the row's group is equal within min_spread (advantage exactly 0)
    below_spread: np.ndarray  # bool: ... and only because of min_spread (its rewards are not all equal)


def _index(values: ArrayLike, shape: tuple[int, ...], what: str) -> np.ndarray:
    ids = np.asarray(values)
    if ids.shape != shape:
        raise ValueError(f"{what} must have the shape of rewards {shape}, got {ids.shape}")
    return np.unique(ids.reshape(-1), return_inverse=True)[1].reshape(-1)


def group_advantages(
    rewards: ArrayLike,
    group_ids: ArrayLike | None = None,
    *,
    baseline: Baseline = "mean",
    scale: Scale = DEFAULT_SCALE,
    min_spread: float = DEFAULT_MIN_SPREAD,
    std: StdKind = "sample",
    eps: float = DEFAULT_EPS,
    equal_atol: float = 1e-6,  # rewards stored as float32 differ by ~1e-7 when "equal"
    batches: ArrayLike | None = None,
) -> GroupAdvantages:
    """Advantages per completion, vectorised over all groups at once.

    Either `rewards` is [G, K] (one row per prompt) and `group_ids` is None, or `rewards` is flat [N]
    and `group_ids` [N] names each completion's group (any hashable values; groups may differ in size
    and need not be contiguous). `batches` (the shape of `rewards`) names each completion's batch for
    `scale="batch"`, a group lying in one batch; None: all rows are one batch.
    """
    r = np.asarray(rewards, dtype=np.float64)
    if group_ids is None:
        if r.ndim != 2:
            raise ValueError(f"without group_ids, rewards must be [groups, K], got shape {r.shape}")
        inverse = np.repeat(np.arange(r.shape[0]), r.shape[1])
    else:
        if r.ndim != 1:
            raise ValueError(f"with group_ids, rewards must be flat [N], got shape {r.shape}")
        inverse = _index(group_ids, r.shape, "group_ids")
    if baseline not in BASELINES or scale not in SCALES or std not in ("sample", "population"):
        raise ValueError(f"unknown baseline {baseline!r}, scale {scale!r} or std {std!r}")
    for name, value in (("eps", eps), ("equal_atol", equal_atol), ("min_spread", min_spread)):
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be finite and >= 0, got {value}")
    flat = r.reshape(-1)
    if not np.isfinite(flat).all():
        raise ValueError("rewards must be finite")
    ddof = 1 if std == "sample" else 0

    count = np.bincount(inverse, minlength=1)
    total = np.bincount(inverse, weights=flat, minlength=count.size)
    mean = total / np.maximum(count, 1)
    deviation = flat - mean[inverse]
    low, high = _range(flat, inverse, count.size)
    spread = high - low
    equal = (spread <= equal_atol) | (count < 2)
    below = ~equal & (spread < min_spread)

    if baseline == "mean":
        adv = deviation
    else:
        others = np.maximum(count - 1, 1)[inverse]
        adv = flat - (total[inverse] - flat) / others
    if scale == "group":
        denominator = _std(deviation, inverse, count, ddof)[inverse] + eps
    elif scale == "batch":
        batch = np.zeros(flat.size, dtype=np.intp) if batches is None else _index(batches, r.shape, "batches")
        first, last = _range(batch.astype(np.float64), inverse, count.size)
        if (first != last).any():
            raise ValueError("every group must lie in one batch")
        b_count = np.bincount(batch)
        b_mean = np.bincount(batch, weights=flat) / np.maximum(b_count, 1)
        denominator = _std(flat - b_mean[batch], batch, b_count, ddof)[batch] + eps
    else:
        denominator = np.ones_like(adv)
    flags = (equal | below)[inverse]
    adv = np.divide(adv, denominator, out=np.zeros_like(adv), where=~flags & (denominator > 0))
    return GroupAdvantages(adv.reshape(r.shape), flags.reshape(r.shape), below[inverse].reshape(r.shape))


def _std(deviation: np.ndarray, index: np.ndarray, count: np.ndarray, ddof: int) -> np.ndarray:
    """Per index, sqrt(sum of squared deviations / (count - ddof)); 0 where that count is not positive
    (TRL's std of a single reward is 0 as well)."""
    squares = np.bincount(index, weights=deviation**2, minlength=count.size)
    dof = count - ddof
    return np.sqrt(np.divide(squares, dof, out=np.zeros_like(squares), where=dof > 0))


def _range(values: np.ndarray, index: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per index value, the smallest and the largest of its values."""
    low, high = np.full(n, np.inf), np.full(n, -np.inf)
    np.minimum.at(low, index, values)
    np.maximum.at(high, index, values)
    return low, high


def spread_warning(min_spread: float, weights: Mapping[str, float]) -> str | None:
    """A warning when `min_spread` is as large as the largest reward weight: groups that differ by a
    whole unit of a reward (a right/wrong split) could then be zeroed, which is rarely what was meant."""
    top = max((abs(w) for w in weights.values()), default=0.0)
    if top > 0 and min_spread >= top:
        return (
            f"min_spread {min_spread:g} is at least the largest reward weight ({top:g}): groups that differ "
            f"by a whole unit of a reward (a right/wrong split) may get advantage 0; it is in total-reward "
            f"units, so scale it with the weights (the default {DEFAULT_MIN_SPREAD:g} suits weights near 1)"
        )
    return None
