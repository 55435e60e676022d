"""Rollout rows rewarded by the rollout stage's own code: what an integration's reward function (verl's
compute_score, the ms-swift plugin, TRL's) must reproduce for the same text. `rewarded_rows` takes rows
with the fields that vary (text, choices, gold, ids) and fills the rest; `rewarded_case_rows` is the
answer-case table through it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adqa_data.rewards.plugins import resolve_rewards
from adqa_data.stages.rollout.config import RolloutConfig
from adqa_data.stages.rollout.shards import _reward_and_rank
from support.answer_cases import ALL_CASES


def rewarded_rows(rows: Sequence[Mapping[str, Any]], weights: dict[str, float]) -> list[dict[str, Any]]:
    """`rows` (completion_text, choices, answer_index, item_id, question_type, source_dataset, group_id)
    completed with the columns a reward may read and rewarded as the rollout stage rewards a shard."""
    recs = [
        {
            "answer_text": r["choices"][r["answer_index"]],
            "prompt": "p",
            "completion_token_ids": [],
            "finish_reason": "stop",
            "completion_length": 0,
            "parsed_index": None,
            "parse_layer": None,
            **r,
        }
        for r in rows
    ]
    cfg = RolloutConfig(rewards=weights)
    _reward_and_rank(recs, resolve_rewards(cfg.rewards), cfg, None, [], [])
    return recs


def rewarded_case_rows(weights: dict[str, float]) -> list[dict[str, Any]]:
    """One row per case (gold on the parsed option for even cases, the next one for odd), with the
    reward columns the rollout stage computes under `weights`."""
    rows = []
    for i, (choices, text, index, _) in enumerate(ALL_CASES):
        gold = index if index is not None and i % 2 == 0 else ((index or 0) + 1) % len(choices)
        rows.append(
            {
                "completion_text": text,
                "choices": list(choices),
                "answer_index": gold,
                "item_id": f"it{i}",
                "question_type": "sound",
                "source_dataset": "cases",
                "group_id": f"g{i}",
            }
        )
    return rewarded_rows(rows, weights)
