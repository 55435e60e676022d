"""ms-swift (4.6): reward functions for `swift rlhf --rlhf_type grpo` that grade with our parser.

    swift rlhf --rlhf_type grpo --dataset <export>:grpo --external_plugins <export>/adqa_swift_plugin.py \\
        --reward_funcs adqa_correctness adqa_format --reward_weights 1.0 0.25 ...

ms-swift looks a name given to `--reward_funcs` up in its registry `swift.rewards.orms` (name -> class),
builds the class with `args=` (the GRPO config) and calls the instance as `fn(completions, **columns)`,
every dataset column of the batch as a keyword. The plugin file (`swift_plugin.py`, copied into every
`export --format swift` folder) imports this module and calls `register(orms)`; this module itself does
not import ms-swift.

The rewards are the rollout's (`integrations.grading.grade`: correctness through the answer parser,
`rewards.format`, the weighted total as `math.fsum`), read from the `grpo` config's `choices` and
`answer_index`. ms-swift's own `accuracy` reward compares math expressions against `solution` and gives
every option letter 0; `solution` is checked here against `answer_index`, so a row whose two disagree is
an error, not a silent zero.

- `adqa_correctness`: the rollout's `reward_correctness` (1.0 when the parser reads the gold option).
- `adqa_format`: the rollout's `reward_format`.
- `adqa_reward`: the rollout's `reward`, the total under the default mix without the attention-based
  anchoring term (correctness 1.0, format 0.25), for a run that wants one reward column. The same total
  is `--reward_funcs adqa_correctness adqa_format --reward_weights 1.0 0.25`, which logs both.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

from ..mcq.answers import LETTERS
from .grading import grade
from .trl import completion_texts

__all__ = ["PLUGIN_SOURCE", "REWARDS", "Correctness", "Format", "Total", "register"]

# the plugin file for `--external_plugins` (it imports ms-swift, so it is shipped, never imported here)
PLUGIN_SOURCE = Path(__file__).with_name("swift_plugin.py")


def _gold(solution: Any, choices: Sequence[str], index: Any, row: int) -> int:
    """The gold option index of one row; `solution` (a letter or the option text) must agree with it."""
    if index is None:
        raise ValueError(
            f"row {row} of the batch has no answer_index: train on the 'grpo' config of "
            "'adqa-data export --format swift'"
        )
    index = int(index)
    if solution is not None:
        text = str(solution).strip()
        named = {LETTERS[index], choices[index]}
        if text not in named and text.upper() != LETTERS[index]:
            raise ValueError(
                f"row {row}: solution {text!r} disagrees with answer_index {index} ({choices[index]!r})"
            )
    return index


class _Reward:
    """An ms-swift ORM: constructed with `args=`, called with the completions and the batch columns."""

    column = "reward"

    def __init__(self, args: Any = None, **_kwargs: Any) -> None:
        self.args = args

    def __call__(
        self,
        completions: Sequence[Any],
        choices: Sequence[Sequence[str]] | None = None,
        answer_index: Sequence[Any] | None = None,
        solution: Sequence[Any] | None = None,
        **columns: Any,
    ) -> list[float]:
        if choices is None or answer_index is None:
            raise ValueError(
                "the batch has no 'choices'/'answer_index' columns: train on the 'grpo' config of "
                "'adqa-data export --format swift' (ms-swift passes every dataset column to reward functions)"
            )
        texts = completion_texts(completions)
        sols = solution if solution is not None else [None] * len(texts)
        gold = [_gold(s, c, i, n) for n, (s, c, i) in enumerate(zip(sols, choices, answer_index))]
        passed = {k: v for k, v in columns.items() if isinstance(v, list) and len(v) == len(texts)}
        return grade(texts, choices=[list(c) for c in choices], answer_index=gold, **passed)[self.column]


class Correctness(_Reward):
    column = "reward_correctness"


class Format(_Reward):
    column = "reward_format"


class Total(_Reward):
    column = "reward"


REWARDS: dict[str, type[_Reward]] = {
    "adqa_correctness": Correctness,
    "adqa_format": Format,
    "adqa_reward": Total,
}


def register(orms: MutableMapping[str, Any]) -> None:
    """Add the rewards to ms-swift's registry (`swift.rewards.orms`) under their `REWARDS` names."""
    orms.update(REWARDS)
