"""Group-relative advantages for GRPO: each completion is judged against the other K of its prompt.

    mean baseline (GRPO, default):   A_i = (r_i - mean(r)) / (std(r) + eps)
    leave-one-out (RLOO):            A_i = (r_i - mean(r_j, j != i)) [/ (std(r) + eps)]

`std` is the sample standard deviation by default (ddof=1, what TRL's GRPOTrainer uses via
`torch.std`), so advantages match a TRL run on the same rewards; "population" (ddof=0) is the
option. `scale="none"` keeps raw differences (Dr. GRPO argues std scaling over-weights groups that
are nearly all right or all wrong). A group whose rewards are all equal (within `equal_atol`), or that
has a single completion, carries no learning signal: its advantages are exactly 0 and it is flagged,
so a trainer or a sampler can count or skip it.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike


class GroupAdvantages(NamedTuple):
    advantages: np.ndarray  # float64, the shape of `rewards`
    all_equal: np.ndarray  # bool, the shape of `rewards`: the row's group has no signal


def group_advantages(
    rewards: ArrayLike,
    group_ids: ArrayLike | None = None,
    *,
    baseline: Literal["mean", "leave_one_out"] = "mean",
    scale: Literal["group", "none"] = "group",
    std: Literal["sample", "population"] = "sample",
    eps: float = 1e-4,  # TRL's value: bounds the advantage of a group with tiny spread
    equal_atol: float = 1e-6,  # rewards stored as float32 differ by ~1e-7 when "equal"
) -> GroupAdvantages:
    """Advantages per completion, vectorised over all groups at once.

    Either `rewards` is [G, K] (one row per prompt) and `group_ids` is None, or `rewards` is flat [N]
    and `group_ids` [N] names each completion's group (any hashable values; groups may differ in size
    and need not be contiguous).
    """
    r = np.asarray(rewards, dtype=np.float64)
    if group_ids is None:
        if r.ndim != 2:
            raise ValueError(f"without group_ids, rewards must be [groups, K], got shape {r.shape}")
        inverse = np.repeat(np.arange(r.shape[0]), r.shape[1])
    else:
        ids = np.asarray(group_ids)
        if r.ndim != 1 or ids.shape != r.shape:
            raise ValueError(f"need flat rewards and group_ids of one length, got {r.shape} and {ids.shape}")
        _, inverse = np.unique(ids, return_inverse=True)
        inverse = inverse.reshape(-1)
    if baseline not in ("mean", "leave_one_out") or scale not in ("group", "none"):
        raise ValueError(f"unknown baseline {baseline!r} or scale {scale!r}")
    if std not in ("sample", "population") or eps < 0 or equal_atol < 0:
        raise ValueError(f"unknown std {std!r}, or a negative eps / equal_atol")
    flat = r.reshape(-1)
    if not np.isfinite(flat).all():
        raise ValueError("rewards must be finite")

    count = np.bincount(inverse)
    total = np.bincount(inverse, weights=flat, minlength=count.size)
    mean = total / np.maximum(count, 1)
    deviation = flat - mean[inverse]
    squares = np.bincount(inverse, weights=deviation**2, minlength=count.size)
    dof = count - (1 if std == "sample" else 0)
    group_std = np.sqrt(np.divide(squares, dof, out=np.zeros_like(squares), where=dof > 0))
    high = np.full(count.size, -np.inf)
    low = np.full(count.size, np.inf)
    np.maximum.at(high, inverse, flat)
    np.minimum.at(low, inverse, flat)
    no_signal = ((high - low) <= equal_atol) | (count < 2)

    if baseline == "mean":
        adv = deviation
    else:
        others = np.maximum(count - 1, 1)[inverse]
        adv = flat - (total[inverse] - flat) / others
    flags = no_signal[inverse]
    denominator = group_std[inverse] + eps if scale == "group" else np.ones_like(adv)
    adv = np.divide(adv, denominator, out=np.zeros_like(adv), where=~flags)
    return GroupAdvantages(adv.reshape(r.shape), flags.reshape(r.shape))
