"""Format reward: the think-then-answer template, minus a penalty for repetition and loops.

Structure (the think-then-answer template: reason in `<think>…</think>`, then exactly one letter in
`<answer>…</answer>`), in tiers. What the answer block names, and how, is the answer parser's verdict
(`answers.parse_answer`, the one the correctness reward uses), never a second reading here:

    1.0   the exact template: a well-formed think block, then a well-formed answer block that the
          parser credits as ``strict`` (a single letter of the item's options, `<answer>C</answer>`,
          `<answer> (c). </answer>`), and nothing else but whitespace or punctuation between or after
    0.5   both blocks well formed, but the parser credits the answer by its text or by a letter inside
          a longer answer ("C. dog", "The answer is C"), or there are words between or after the blocks
    0.25  only one of the two blocks is well formed (e.g. an empty `<think></think>` beside a good answer
          block, or a good think block beside an answer block the parser refuses)
    0.0   neither

Well formed think block: exactly one opening and one closing tag, in order, with words inside, first in
the output, with no think or answer tag inside it. Well formed answer block: exactly one opening and one
closing tag, in order, after `</think>` when there are think tags, and the parser credits the output
through an answer-block layer (``answers.BLOCK_LAYERS``). An answer block the parser refuses — empty,
two options ("A or B"), a letter beyond the options (`<answer>E</answer>` on four options), a letter
contradicted by its text, only rejected letters ("not D"), or no option at all — is not well formed:
such an output earns at most the think-only tier, so the reward never pays for the shape of an answer
the correctness reward cannot read. The tags are read on the output as written (no Unicode folding):
the template asks for those exact tags.

Repetition severity in [0, 1] is the largest of three shares, each counted only above `tolerance`
and rescaled so that the tolerance maps to 0 and a share of 1 to 1:
    n-gram   duplicate word n-grams: 1 - distinct / total (paraphrase loops, copy-pasted reasoning)
    sentence duplicate sentences or lines: 1 - distinct / total (the same sentence said again)
    tail     the share of characters covered by a short unit repeated at the end of the output
             ("ha ha ha ha", "BBBBBBBB", a truncated loop), when it repeats at least `min_repeats` times
             and spans at least `min_loop_chars` characters

reward = structure - penalty_max * severity, in [-penalty_max, 1]. It is not clamped at 0 on purpose:
an output that loops scores below one that is merely unformatted, so GRPO pushes away from loops even
inside groups where no output has the template. The tolerance keeps clean outputs at exactly their
structure score: GRPO normalises rewards within a group, which would otherwise blow up tiny,
meaningless repetition differences between otherwise equal completions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..mcq.answers import (
    ANSWER_CLOSE,
    ANSWER_OPEN,
    ANY_TAG,
    BLOCK_LAYERS,
    THINK_CLOSE,
    THINK_OPEN,
    Layer,
    parse_answer,
)

_WORD = re.compile(r"[^\W_]+")
_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s+|\n+")


@dataclass(frozen=True)
class FormatConfig:
    ngram: int = 4  # word 4-grams: ordinary phrasing rarely repeats one, a loop repeats nearly all
    tolerance: float = 0.1  # repetition shares up to 10% are normal text and cost nothing
    penalty_max: float = 1.0  # a fully looping output loses the whole structure score and more
    max_period: int = 64  # longest repeated unit, in characters, the tail-loop check looks for
    min_repeats: int = 3  # a tail is a loop when its unit occurs at least this many times in a row
    min_loop_chars: int = 32  # and spans this many characters: a "!!!!" or "..." ending is no loop

    def __post_init__(self) -> None:
        if self.ngram < 1 or self.max_period < 1 or self.min_repeats < 2:
            raise ValueError("need ngram >= 1, max_period >= 1 and min_repeats >= 2")
        if not 0.0 <= self.tolerance < 1.0 or self.penalty_max < 0.0:
            raise ValueError("need 0 <= tolerance < 1 and penalty_max >= 0")


def structure(text: str, choices: Sequence[str]) -> float:
    """The template tier of one output among its item's `choices` (shown order): 1.0, 0.5, 0.25 or 0.0
    (see the module docstring)."""
    t_open, t_close = list(THINK_OPEN.finditer(text)), list(THINK_CLOSE.finditer(text))
    a_open, a_close = list(ANSWER_OPEN.finditer(text)), list(ANSWER_CLOSE.finditer(text))
    has_think_tags = bool(t_open or t_close)
    think = len(t_open) == 1 and len(t_close) == 1 and t_open[0].end() <= t_close[0].start()
    if think:
        inner = text[t_open[0].end() : t_close[0].start()]
        before = text[: t_open[0].start()]
        think = bool(_WORD.search(inner)) and not before.strip() and not ANY_TAG.search(inner)
    answer = len(a_open) == 1 and len(a_close) == 1 and a_open[0].end() <= a_close[0].start()
    layer = None
    if answer:
        answer = not has_think_tags or (bool(t_close) and t_close[-1].end() <= a_open[0].start())
    if answer:
        layer = parse_answer(text, choices).layer
        answer = layer in BLOCK_LAYERS
    if think and answer:
        between = text[t_close[0].end() : a_open[0].start()]
        after = text[a_close[0].end() :]
        clean = not _WORD.search(between) and not _WORD.search(after)
        return 1.0 if clean and layer == Layer.STRICT else 0.5
    return 0.25 if think or answer else 0.0


def _excess(share: float, tolerance: float) -> float:
    return min(max((share - tolerance) / (1.0 - tolerance), 0.0), 1.0)


def _duplicate_share(units: list) -> float:
    return 1.0 - len(set(units)) / len(units) if len(units) > 1 else 0.0


def _tail_loop_share(text: str, config: FormatConfig) -> float:
    """Share of `text` covered by the longest run of one short unit repeated at its end."""
    max_period, min_repeats = config.max_period, config.min_repeats
    best = 0
    for period in range(1, min(max_period, len(text) // min_repeats) + 1):
        unit, repeats = text[-period:], 1
        while text[-(repeats + 1) * period : -repeats * period] == unit:
            repeats += 1
        if repeats >= min_repeats and repeats * period >= config.min_loop_chars:
            best = max(best, repeats * period)
    return best / len(text) if text else 0.0


def repetition(text: str, config: FormatConfig = FormatConfig()) -> float:
    """Repetition severity in [0, 1]: 0 for ordinary text, 1 for an output that is all loop."""
    body = ANY_TAG.sub("\n", text).strip()
    words = _WORD.findall(body.casefold())
    n = config.ngram
    ngrams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    sentences = [" ".join(_WORD.findall(s.casefold())) for s in _SENTENCE_END.split(body)]
    shares = (
        _duplicate_share(ngrams),
        _duplicate_share([s for s in sentences if s]),
        _tail_loop_share(body, config),
    )
    return max(_excess(s, config.tolerance) for s in shares)


def format_reward(
    completions: list[str],
    *,
    choices: Sequence[Sequence[str]],
    config: FormatConfig = FormatConfig(),
    **_columns: object,
) -> list[float]:
    """Per completion, structure - penalty_max * repetition, in [-penalty_max, 1]. `choices` are each
    completion's item's options in shown order (the batch column the correctness reward takes too)."""
    if len(completions) != len(choices):
        raise ValueError(
            f"batch columns differ in length: {len(completions)} completions, {len(choices)} choices"
        )
    return [
        structure(t, options) - config.penalty_max * repetition(t, config)
        for t, options in zip(completions, choices)
    ]
