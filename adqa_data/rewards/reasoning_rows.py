"""Which completion tokens are the anchoring reward's query rows: the tokens of the reasoning.

The anchoring reward measures how much a response's *reasoning* attends to the audio (the DCASE 2026
MiMo-Audio report's CON / AR / ENT). Scoring every completion token would also score the `<answer>`
tags, the letter and the end-of-sequence token: rows that say nothing about whether the reasoning
listened, and that a policy could lean on instead of reasoning. The rows are found in the decoded text
with the tag patterns of `answers` (the one definition of the tags), in this order:

1. ``think``          the output has a think tag: the content of every `<think>…</think>` block (all
                      of them, so reasoning split over two blocks is measured whole and a short first
                      block cannot stand in for a long second one). A `</think>` before any `<think>`
                      closes a block that opened at the start (a chat template that prefills
                      `<think>`); a `<think>` that never closes (a truncated output) runs to the next
                      answer tag, else to the end.
2. ``before_answer``  no think tag but an answer tag: the text before the first one.
3. ``free_text``      no tag at all (a prompt style without tags, a bare letter, a truncated free-form
                      output): the whole text. Reasoning and answer are one text there and cannot be
                      told apart without guessing.

Special tokens (the end-of-sequence token, `<|im_end|>`, padding) are never rows; a special token that
spells a tag is read as that tag. Tags are never reasoning: a piece is cut at any tag inside it (a
stray second `<think>`, an answer block written inside the think block). Each piece is trimmed of
surrounding whitespace, and a piece without a letter or digit is no reasoning. An output whose pieces
are all empty (`<think> </think>`, `<answer>B</answer>` alone) has no reasoning rows: the anchoring
pass scores it 0, since there is nothing to measure and crediting its answer tokens would pay a policy
for skipping its reasoning.

Tokens to characters: token i covers the characters it adds to the decoded text (`token_char_spans`:
measured so that the pieces add up to the decoded whole; a byte-level piece that is half a character
adds nothing and is counted with the token that completes the character). A token straddling a tag
boundary (`>The`, `.</` in a byte-level BPE) is a row when any of its characters is inside a trimmed
reasoning piece: it carries reasoning; a token that holds only tag characters or the whitespace around
a tag is not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..mcq.answers import ANSWER_CLOSE, ANSWER_OPEN, ANY_TAG, THINK_CLOSE, THINK_OPEN
from ..mcq.completion_text import control_ids


class Source:
    """Where the reasoning was found. Stable strings (module docstring)."""

    THINK = "think"
    BEFORE_ANSWER = "before_answer"
    FREE_TEXT = "free_text"


@dataclass(frozen=True)
class ReasoningSpans:
    """The reasoning of one decoded output: character ranges `[start, end)`, trimmed, each holding a
    letter or digit (empty when the output has no reasoning), and which rule found them."""

    spans: tuple[tuple[int, int], ...]
    source: str


_ALNUM = re.compile(r"[^\W_]")


def _answer_tags(text: str) -> list[int]:
    """Where every answer tag, opening or closing, starts, in order."""
    return sorted(m.start() for p in (ANSWER_OPEN, ANSWER_CLOSE) for m in p.finditer(text))


def _tags(pattern: re.Pattern[str], text: str, kind: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), kind) for m in pattern.finditer(text)]


def _think_blocks(text: str) -> list[tuple[int, int]]:
    """Raw `[start, end)` of every think block's content (module docstring, rule 1)."""
    tags = sorted(_tags(THINK_OPEN, text, "open") + _tags(THINK_CLOSE, text, "close"))
    answers = _answer_tags(text)
    blocks: list[tuple[int, int]] = []
    opened: int | None = 0 if tags and tags[0][2] == "close" else None
    for start, end, kind in tags:
        if kind == "open" and opened is None:
            opened = end
        elif kind == "close" and opened is not None:
            blocks.append((opened, start))
            opened = None
    if opened is not None:  # never closed: up to the next answer tag, else the end
        blocks.append((opened, next((a for a in answers if a >= opened), len(text))))
    return blocks


def _pieces(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """`[start, end)` cut at every tag inside it (a stray `<think>` in a block is no reasoning), each
    piece trimmed of whitespace, those without a letter or digit dropped."""
    raw, at = [], start
    for m in ANY_TAG.finditer(text, start, end):
        raw.append((at, m.start()))
        at = m.end()
    raw.append((at, end))
    out = []
    for a, b in raw:
        piece = text[a:b]
        if _ALNUM.search(piece):
            out.append((a + len(piece) - len(piece.lstrip()), a + len(piece.rstrip())))
    return out


def reasoning_spans(text: str) -> ReasoningSpans:
    """The reasoning of a decoded output as character ranges (module docstring for the rules)."""
    if THINK_OPEN.search(text) or THINK_CLOSE.search(text):
        raw, source = _think_blocks(text), Source.THINK
    else:
        answer = _answer_tags(text)
        if answer:
            raw, source = [(0, answer[0])], Source.BEFORE_ANSWER
        else:
            raw, source = [(0, len(text))], Source.FREE_TEXT
    spans = tuple(piece for a, b in raw for piece in _pieces(text, a, b))
    return ReasoningSpans(spans, source)


def _common_prefix(a: str, b: str) -> int:
    if b.startswith(a):
        return len(a)
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _incremental_pieces(ids: list[int], tokenizer: Any, opts: dict[str, Any]) -> list[str]:
    """Each token's text, decoded incrementally (as streaming detokenizers do: the text a token adds to
    a window that starts one settled token back), in linear time. A token that leaves the text ending
    in an incomplete character adds nothing; the token that completes it adds the character."""
    pieces: list[str] = []
    prefix, read = 0, 0  # the window starts at `prefix`; tokens before `read` are settled
    for i in range(len(ids)):
        before = tokenizer.decode(ids[prefix:read], **opts)
        now = tokenizer.decode(ids[prefix : i + 1], **opts)
        if len(now) > len(before) and not now.endswith("\ufffd") and now.startswith(before):
            pieces.append(now[len(before) :])
            prefix, read = read, i + 1
        else:
            pieces.append("")
    return pieces


def token_char_spans(token_ids: Sequence[int], tokenizer: Any) -> tuple[str, list[tuple[int, int]]]:
    """The decoded text of `token_ids` (special tokens kept) and each token's `[start, end)` in it.

    The ranges tile the decoded whole exactly: incremental pieces when they add up to it (linear), else
    (a tokenizer whose windows decode differently) the end of each decoded prefix ids[:i+1] where it
    stops agreeing with the whole (quadratic, always consistent). A token that adds no whole character
    yet shares the range of the next token that does.
    """
    ids = [int(t) for t in token_ids]
    opts = {"skip_special_tokens": False, "clean_up_tokenization_spaces": False}
    text = tokenizer.decode(ids, **opts)
    pieces = _incremental_pieces(ids, tokenizer, opts)
    if "".join(pieces) == text:
        ends = list(np.cumsum([len(p) for p in pieces], dtype=np.int64)) if ids else []
    else:
        prefixes = tokenizer.batch_decode([ids[: i + 1] for i in range(len(ids))], **opts)
        ends, last = [], 0
        for prefix in prefixes:
            last = max(last, _common_prefix(prefix, text))
            ends.append(last)
        if ends:
            ends[-1] = len(text)  # the whole is what the ranges tile
    ranges = [(int(a), int(b)) for a, b in zip([0, *ends[:-1]], ends)]
    following: tuple[int, int] | None = None
    for i in range(len(ranges) - 1, -1, -1):
        if ranges[i][0] == ranges[i][1] and following is not None:
            ranges[i] = following
        elif ranges[i][0] < ranges[i][1]:
            following = ranges[i]
    return text, ranges


def reasoning_rows(token_ids: Sequence[int], tokenizer: Any) -> np.ndarray:
    """A bool mask over `token_ids` (a completion, as sampled): True for the reasoning's tokens.

    All False when the output has no reasoning (module docstring for the rules and the boundaries).
    """
    text, ranges = token_char_spans(token_ids, tokenizer)
    special = control_ids(tokenizer)  # special tokens that are not tags: no text, never rows
    chars = list(text)
    for tid, (start, end) in zip(token_ids, ranges):
        if int(tid) in special:  # blanked: never a tag, never reasoning, trimmed away at the ends
            chars[start:end] = " " * (end - start)
    spans = reasoning_spans("".join(chars)).spans
    mask = np.zeros(len(ranges), dtype=bool)
    for i, (tid, (start, end)) in enumerate(zip(token_ids, ranges)):
        if int(tid) not in special and start < end:
            mask[i] = any(start < b and end > a for a, b in spans)
    return mask
