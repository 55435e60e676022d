"""`stats`' rollouts section: each finished rollout set read through its contract, described by the
rollout stage's own `summarize` (accuracy, parse reasons, zero-signal groups as rollout flagged them),
with the distributions behind those numbers (reward components, completion lengths, advantages, accuracy
by question type). A set of no rows is reported as empty, never skipped."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from ...core.frames import histogram, quantiles, rounded
from ...core.workspace import Workspace
from ..rollout import contract as rollout_contract
from ..rollout.summary import summarize as summarize_rollouts

LENGTH_BINS = 20


def _components(t: pl.DataFrame, reward_cols: list[str]) -> dict[str, dict[str, Any]]:
    return {
        ("total" if c == "reward" else c.removeprefix("reward_")): {
            "mean": rounded(t[c].mean()),  # type: ignore[arg-type]
            "std": rounded(t[c].std()),  # type: ignore[arg-type]
            "rows": int(t[c].is_not_null().sum()),
        }
        for c in [*reward_cols, "reward"]
    }


def _by_type(t: pl.DataFrame) -> list[dict[str, Any]]:
    return (
        t.with_columns(pl.col("question_type").fill_null("(none)"))
        .group_by("question_type")
        .agg(
            rows=pl.len(),
            accuracy=pl.col("reward_correctness").mean().round(4),
            mean_reward=pl.col("reward").mean().round(4),
        )
        .sort("question_type")
        .to_dicts()
    )


def describe_set(rset: rollout_contract.RolloutSet) -> dict[str, Any]:
    """One rollout set: rollout's own summary and the distributions behind it."""
    table = rset.table()
    own = summarize_rollouts(table, rset.config)
    t = pl.from_arrow(table)
    assert isinstance(t, pl.DataFrame)
    reward_cols = sorted(c for c in t.columns if c.startswith("reward_"))
    t = t.with_columns(pl.col([*reward_cols, "reward", "advantage"]).cast(pl.Float64))
    lengths = t["completion_length"].to_numpy().astype(np.float64)
    hi = float(max(lengths.max(), 1.0)) if lengths.size else 1.0
    return {
        "rows": own["rows"],
        "groups": own["groups"],
        "k": own["k"],
        "policy": t["policy"][0] if t.height else rset.config.model,
        "rewards": _components(t, reward_cols),
        "accuracy": own["accuracy"],
        "parse": own["parse"],
        "zero_signal_share": own["zero_signal_share"],
        "zero_signal_groups": own["zero_signal_groups"],
        "zero_signal_flag_share": own["zero_signal_share"],  # one rule: the flag rollout wrote
        "completion_length": {**quantiles(lengths), **histogram(lengths, LENGTH_BINS, 0.0, hi)},
        "truncated_share": own["truncated_share"],
        "advantage": quantiles(t["advantage"].to_numpy().astype(np.float64)),
        "by_question_type": _by_type(t),
    }


def rollouts_section(ws: Workspace, dataset: str) -> dict[str, Any] | None:
    """Every finished rollout set of the dataset; None without one."""
    sets = {
        name: describe_set(rollout_contract.open_set(ws, dataset, name))
        for name in rollout_contract.finished_sets(ws, dataset)
    }
    return sets or None
