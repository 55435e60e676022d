"""The rollout stage's summary of a rollout set: the numbers its record holds and `stats` reports.

`summarize` is the only code that describes a rollout table (the stage records it; `stats` and the
online rounds read it), so accuracy, the zero-signal share and the parse counts mean one thing
everywhere. A group has zero signal when rollout flagged it (`zero_signal`: its total rewards are equal
within 1e-6, or span less than the set's `min_spread`: `advantages.group_advantages`);
`zero_signal_share` applies that same rule to rewards that carry no flag.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from ...mcq.advantages import group_advantages
from .config import RolloutConfig


def summarize(table: pa.Table, config: RolloutConfig) -> dict[str, Any]:
    """What a researcher checks first: accuracy, format, signal, lengths, parse layers, by type."""
    t = table.select(
        [
            c
            for c in table.column_names
            if c.startswith("reward")
            or c
            in (
                "group_id",
                "question_type",
                "completion_length",
                "finish_reason",
                "parse_layer",
                "parse_reason",
                "zero_signal",
            )
        ]
    ).to_pylist()
    n = len(t)
    groups = {r["group_id"] for r in t}
    zero = {r["group_id"] for r in t if r["zero_signal"]}
    by_type: dict[str, list[float]] = {}
    for r in t:
        by_type.setdefault(r["question_type"] or "(none)", []).append(r["reward_correctness"])
    anchored = [
        r["reward_anchoring"] for r in t if r["reward_anchoring"] is not None and r["reward_correctness"] == 1
    ]

    def mean(xs: Sequence[float]) -> float | None:
        return round(float(np.mean(xs)), 4) if len(xs) else None

    reward_cols = sorted(c for c in table.column_names if c.startswith("reward_"))
    return {
        "groups": len(groups),
        "rows": n,
        "k": config.k,
        "rewards": dict(config.rewards),
        "accuracy": mean([r["reward_correctness"] for r in t]),
        "mean_reward": mean([r["reward"] for r in t]),
        "reward_means": {c: mean([r[c] for r in t if r[c] is not None]) for c in reward_cols},
        "anchoring_mean_when_correct": mean(anchored),
        "zero_signal_groups": len(zero),
        "zero_signal_share": round(len(zero) / max(len(groups), 1), 4),
        "mean_completion_length": mean([r["completion_length"] for r in t]),
        "truncated_share": round(sum(r["finish_reason"] == "length" for r in t) / max(n, 1), 4),
        "parse": dict(sorted(Counter(r["parse_layer"] or r["parse_reason"] or "?" for r in t).items())),
        "accuracy_by_type": {k: mean(v) for k, v in sorted(by_type.items())},
    }


def zero_signal_share(
    group_ids: Sequence[str], rewards: Sequence[float], min_spread: float = 0.0
) -> float | None:
    """Share of groups rollout's rule gives no signal (`advantages.group_advantages`: rewards equal
    within 1e-6, or spanning less than `min_spread`); None without groups."""
    if not len(group_ids):
        return None
    flags = group_advantages(np.asarray(rewards, dtype=np.float64), list(group_ids), min_spread=min_spread)
    by_group = dict(zip(group_ids, flags.all_equal))
    return float(np.mean(list(by_group.values())))
