"""The rollout's reward mix over completion text, for the frameworks that hand a reward function only text.

`adqa-data rollout` stores `reward_correctness`, `reward_format`, plugin columns and the weighted total
`reward` (`stages/rollout/shards.py`). This computes the same numbers the same way: correctness through
the answer parser, the other configured rewards through `rewards.plugins.score_rewards`, the total as
`math.fsum` of weight x value over the configured rewards. The anchoring reward needs the policy's
attention on the audio, which a framework's reward function never sees: a mix that gives it a weight
is refused here (leave it out, or give it weight 0, as `rollout --reward anchoring=0` does).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..rewards import DEFAULT_WEIGHTS, REWARDS
from ..rewards.plugins import check_weights, resolve_rewards, score_rewards

# the default mix without the attention-based term: what a text-only reward function can compute
TEXT_WEIGHTS: dict[str, float] = {k: v for k, v in DEFAULT_WEIGHTS.items() if k != "anchoring"}


def text_weights(weights: Mapping[str, float] | Sequence[Mapping[str, Any]] | None) -> dict[str, float]:
    """Weights as `{name: weight}` (also from a list of `{"name", "weight"}`, as Parquet stores them);
    `TEXT_WEIGHTS` when none are given. ValueError for a weighted anchoring term or bad weights."""
    if weights is None:
        return dict(TEXT_WEIGHTS)
    if not isinstance(weights, Mapping):
        weights = {str(w["name"]): float(w["weight"]) for w in weights}
    w = {str(k): float(v) for k, v in weights.items() if v is not None}
    if w.pop("anchoring", 0.0) != 0.0:
        raise ValueError(
            "the anchoring reward needs the policy's attention on the audio, which a reward function given "
            "only the completion text cannot compute: give it weight 0 or leave it out"
        )
    return check_weights(w)


def grade(
    completions: list[str],
    *,
    choices: Sequence[Sequence[str]],
    answer_index: Sequence[int | None],
    weights: Mapping[str, float] | None = None,
    **columns: Any,
) -> dict[str, list[float]]:
    """`reward_<name>` per configured reward (correctness and format always) and `reward`, the total, per
    completion, exactly as the rollout stage computes its columns. `columns` reach plugin rewards."""
    w = text_weights(weights)
    cols: dict[str, Any] = {**columns, "choices": list(choices), "answer_index": list(answer_index)}
    cols["correct"] = REWARDS["correctness"](completions, **cols)
    cols["anchor_scores"] = [None] * len(completions)
    specs = resolve_rewards(w)
    values: dict[str, list[float]] = {"reward_correctness": cols["correct"]}
    values.update(score_rewards([s for s in specs if s.name != "correctness"], completions, cols))
    values.setdefault("reward_format", REWARDS["format"](completions, **cols))
    values["reward"] = [
        math.fsum(s.weight * values[s.column][i] for s in specs) for i in range(len(completions))
    ]
    return values
