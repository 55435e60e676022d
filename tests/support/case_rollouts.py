"""The answer-case table as rollout rows rewarded by the rollout stage's own code: what an integration's
reward function (verl's compute_score, the ms-swift plugin, TRL's) must reproduce for the same text."""

from __future__ import annotations

from typing import Any

from adqa_data.rewards.plugins import resolve_rewards
from adqa_data.stages.rollout.config import RolloutConfig
from adqa_data.stages.rollout.shards import _reward_and_rank
from support.answer_cases import ALL_CASES


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
                "answer_text": choices[gold],
                "item_id": f"it{i}",
                "question_type": "sound",
                "source_dataset": "cases",
                "prompt": "p",
                "completion_token_ids": [],
                "finish_reason": "stop",
                "completion_length": 0,
                "parsed_index": None,
                "parse_layer": None,
                "group_id": f"g{i}",
            }
        )
    cfg = RolloutConfig(rewards=weights)
    _reward_and_rank(rows, resolve_rewards(cfg.rewards), cfg, None, [], [])
    return rows
