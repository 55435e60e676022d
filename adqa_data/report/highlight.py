"""Which part of a completion the answer parser read: the span the report marks in the text.

The parser (`answers.parse_answer`) decides what an output names and which layer decided; this module
only locates, for display, the text that layer reads, with the parser's own tag patterns: the answer
blocks for the block layers and for a block the parser refused (empty, unparseable, two options ...),
the text after the last `</think>` for `after_think`, and the last mention of the credited letter or
option text for `last_letter`. An output with nothing that looks like an answer has no span.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..mcq.answers import ANSWER_BLOCK, ANSWER_UNCLOSED, BLOCK_LAYERS, LETTERS, THINK_CLOSE, Layer

Span = tuple[int, int]


def answer_spans(text: str) -> list[Span]:
    """Every answer block of `text`, closed ones and a trailing unclosed one, as (start, end)."""
    spans = [m.span() for m in ANSWER_BLOCK.finditer(text)]
    if m := ANSWER_UNCLOSED.search(text):
        spans.append(m.span())
    return spans


def read_spans(
    text: str, layer: str | None, reason: str | None, index: int | None, choices: Sequence[str]
) -> list[Span]:
    """The spans of `text` the deciding layer read (module docstring); [] when there is none."""
    blocks = answer_spans(text)
    if layer in BLOCK_LAYERS or (layer is None and blocks):
        return blocks
    if layer == Layer.AFTER_THINK:
        closes = list(THINK_CLOSE.finditer(text))
        return [(closes[-1].end(), len(text))] if closes else []
    if layer == Layer.LAST_LETTER and index is not None and 0 <= index < len(choices):
        last: Span | None = None
        letter = re.compile(rf"(?<![A-Za-z0-9]){LETTERS[index]}(?![A-Za-z0-9])")
        option = re.compile(re.escape(choices[index]), re.IGNORECASE)
        for pattern in (letter, option):
            for m in pattern.finditer(text):
                if last is None or m.start() >= last[0]:
                    last = m.span()
        return [last] if last else []
    return []
