"""Correctness reward: 1.0 when the parsed option is the gold one, else 0.0 (docs/method.md#rewards).

Parsing goes through `adqa_data.mcq.answers.parse_answer`, the parser filter and eval use, so the reward,
the panel votes and the dev accuracy agree on what an output answered.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..mcq.answers import parse_answer


def correctness(
    completions: list[str],
    *,
    choices: Sequence[Sequence[str]],
    answer_index: Sequence[int | None],
    **_columns: object,
) -> list[float]:
    """Per completion, 1.0 if it names option `answer_index` of its `choices` (shown order), else 0.0.

    Raises ValueError for a missing gold answer: an item without one (an eval set) cannot be rewarded.
    """
    if not len(completions) == len(choices) == len(answer_index):
        raise ValueError(
            f"batch columns differ in length: {len(completions)} completions, "
            f"{len(choices)} choices, {len(answer_index)} answer_index"
        )
    rewards = []
    for text, options, gold in zip(completions, choices, answer_index):
        if gold is None:
            raise ValueError("answer_index is missing: correctness needs the gold answer of every item")
        rewards.append(1.0 if parse_answer(text, list(options)).index == gold else 0.0)
    return rewards
