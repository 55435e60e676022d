"""TRL (1.16): reward functions for `GRPOTrainer` that grade with our parser, and the audio of a prompt row.

    from adqa_data.integrations.trl import REWARD_FUNCS, REWARD_WEIGHTS
    GRPOTrainer(model=..., reward_funcs=REWARD_FUNCS, args=GRPOConfig(reward_weights=REWARD_WEIGHTS, ...),
                train_dataset=load_dataset("<export>", "prompts", split="train"))

`correctness` and `format` are the rollout's rewards (`rewards.correctness`, `rewards.format`) in TRL's
calling convention, `fn(completions, **columns) -> list[float]`: TRL passes every dataset column but
`prompt` as a keyword, and the `trl` export's `choices` and `answer_index` are what they read. Their
names are the column names of the rollout's completion logs, so TRL's own `log_completions` tables and
the export's `completions` config have the same reward columns. `total` is the rollout's weighted total
in one function (`integrations.grading`), for a run that wants one reward column.

TRL 1.16's GRPOTrainer cannot train an audio model (its setup reads `image_token_id` from the model
config, and its log-prob path forwards image inputs only): these functions serve text-model runs, and
`adqa-data train` is the trainer for audio models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..rewards import REWARDS
from .grading import TEXT_WEIGHTS, grade

__all__ = [
    "REWARD_FUNCS",
    "REWARD_WEIGHTS",
    "audio_arrays",
    "completion_texts",
    "correctness",
    "format",
    "total",
]


def completion_texts(completions: Sequence[Any]) -> list[str]:
    """TRL hands conversational completions as message lists: the assistant's text, else the string."""
    out = []
    for c in completions:
        if isinstance(c, str):
            out.append(c)
        else:
            content = c[-1]["content"] if c else ""
            if not isinstance(content, str):
                content = "".join(p.get("text") or "" for p in content if isinstance(p, dict))
            out.append(content)
    return out


def correctness(
    completions: Sequence[Any], *, choices, answer_index, log_extra=None, item_id=None, **_columns: Any
) -> list[float]:
    """1.0 when the parser reads the gold option, else 0.0 (`rewards.correctness`). Under GRPOTrainer it
    also logs `item_id` as an extra column of the completion logs, as the export's `completions` has it."""
    if log_extra is not None and item_id is not None:
        log_extra("item_id", list(item_id))
    return REWARDS["correctness"](completion_texts(completions), choices=choices, answer_index=answer_index)


def _format(completions: Sequence[Any], *, choices, **_columns: Any) -> list[float]:
    """The think-then-answer template minus the repetition penalty (`rewards.format`)."""
    return REWARDS["format"](completion_texts(completions), choices=choices)


_format.__name__ = "format"  # TRL names a reward's log column and metrics after the function
format = _format  # noqa: A001  (the reward's name, as in the rollout's `reward_format` column)


def total(completions: Sequence[Any], *, choices, answer_index, **columns: Any) -> list[float]:
    """The rollout's weighted total (default weights: correctness 1.0, format 0.25)."""
    columns.pop("trainer_state", None)
    columns.pop("log_extra", None)
    columns.pop("log_metric", None)
    values = grade(completion_texts(completions), choices=choices, answer_index=answer_index, **columns)
    return values["reward"]


REWARD_FUNCS = [correctness, format]
REWARD_WEIGHTS = [TEXT_WEIGHTS["correctness"], TEXT_WEIGHTS["format"]]


def audio_arrays(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A prompt row's messages with embedded clips (`--audio embed`) as float32 arrays and keys the row
    does not use dropped. `datasets` returns the stored waveform as a Python list, which a processor's
    `apply_chat_template` does not take (it loads an audio part's `audio` only as an array, or as a
    path or URL string); `--audio path` rows need no conversion."""
    out = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            parts = []
            for p in content:
                p = {k: v for k, v in p.items() if v is not None}
                if p.get("type") == "audio" and isinstance(p.get("audio"), (list, tuple)):
                    p["audio"] = np.asarray(p["audio"], dtype=np.float32)
                parts.append(p)
            m = {**m, "content": parts}
        out.append(m)
    return out
