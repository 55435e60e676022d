"""The layers in order: answer blocks, then the statement after `</think>`, then the last answer-looking letter."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from .commitment import UNDECIDED
from .normalise import (
    ANSWER_BLOCK,
    ANSWER_UNCLOSED,
    ANY_TAG,
    THINK_CLOSE,
    THINK_OPEN,
    normalize,
    strip_hidden,
)
from .option_reading import TextReader
from .option_text import _match_text, _Options, _options
from .statement import _Region
from .tables import read_marked_list, read_table
from .verdict import LETTERS, Layer, NoCredit, ParsedAnswer, Reading

_WORDCHAR = re.compile(r"[^\W_]")
_STRICT = re.compile(r"[\s*`'\"]*[(\[]?\s*([A-Za-z])\s*[)\]]?\s*[.):]?[\s*`'\"]*")
_LEAD = re.compile(r"[\s*]*(?:[(\[]\s*([A-Z])\s*[)\]]|([A-Z])\s*[.):\-\u2013])")  # "C. ", "(C)", "C:"
_LEAD_SPACE = re.compile(r"\s*([A-Z])\s+(\S.*?)\s*", re.DOTALL)  # "C dog barking"


def _read_block(content: str, closed: bool, opts: _Options) -> Reading:
    """What one answer block names."""
    keys = opts.keys
    n = len(keys)
    if not _WORDCHAR.search(content):
        return Reading(None, reason=NoCredit.EMPTY_ANSWER)
    m = _STRICT.fullmatch(content)
    if m:
        letter = m.group(1).upper()
        if letter in LETTERS[:n]:
            return Reading(LETTERS.index(letter), Layer.STRICT if closed else Layer.ANSWER_LETTER)
        return Reading(None, reason=NoCredit.OUT_OF_RANGE if letter in LETTERS else NoCredit.UNPARSEABLE)
    by_text = _match_text(content, keys)
    if by_text is not None:
        return Reading(by_text, Layer.ANSWER_TEXT)
    m = _LEAD.match(content)
    if m and (m.group(1) or m.group(2)) in LETTERS[n:]:
        return Reading(None, reason=NoCredit.OUT_OF_RANGE)
    m = _LEAD_SPACE.fullmatch(content)
    if m and m.group(1) in LETTERS[:n]:
        by_text = _match_text(m.group(2), keys)
        if by_text is not None:  # "C <an option's text>": the text must be option C's
            if by_text == LETTERS.index(m.group(1)):
                return Reading(by_text, Layer.ANSWER_LETTER)
            return Reading(None, reason=NoCredit.LETTER_TEXT_CONFLICT)
    region = _Region(content, opts)
    reading = region.read(Layer.ANSWER_LETTER)
    if reading is None:  # no letter: the block's texts ("The sound is heavy rain"), exactly one option's
        reading = TextReader(region).read(Layer.ANSWER_TEXT)
        if reading is not None and reading.reason == NoCredit.MULTIPLE_OPTIONS:
            reading = None  # texts of several options: a block that names none of them
    return reading or Reading(None, reason=NoCredit.UNPARSEABLE)


_REFUSAL_ORDER = [
    NoCredit.MULTIPLE_OPTIONS,
    NoCredit.LETTER_TEXT_CONFLICT,
    NoCredit.OUT_OF_RANGE,
    NoCredit.NEGATED_ONLY,
    NoCredit.UNPARSEABLE,
]


def _read_blocks(blocks: list[tuple[str, bool]], opts: _Options) -> Reading:
    """All blocks together: credited only when every non-empty block names the same option."""
    readings = [_read_block(content, closed, opts) for content, closed in blocks]
    named = [r for r in readings if r.reason != NoCredit.EMPTY_ANSWER]
    if not named:
        return Reading(None, reason=NoCredit.EMPTY_ANSWER)
    refused = [r.reason for r in named if r.index is None]
    if refused:
        return Reading(None, reason=min(refused, key=_REFUSAL_ORDER.index))
    if len({r.index for r in named}) > 1:
        return Reading(None, reason=NoCredit.MULTIPLE_OPTIONS)
    return named[0]


def _read_last_letter(body: str, opts: _Options, reasoning: bool) -> Reading:
    """Layer 5: the last answer-looking letter, read within its statement; an answer given first and
    explained after, when the body is no reasoning (no think tag); then the option texts."""
    region = _Region(body, opts)
    first = None if reasoning else region.first_answer(Layer.LAST_LETTER)
    if first is not None:
        undecided = UNDECIDED.search(region.masked, region.mentions[-1][0])  # "A. No, I can't tell after all"
        if undecided and undecided.start() >= max([-1] + [end for _, end, _ in region.texts]):
            return Reading(None, reason=NoCredit.NO_ANSWER)
        return first
    span = region.last_statement()
    reading = None if span is None else region.read(Layer.LAST_LETTER, *span)
    end = None if span is None else span[1]
    return _with_texts(region, reading, end) or Reading(None, reason=NoCredit.NO_ANSWER)


def _with_texts(region: _Region, reading: Reading | None, end: int | None = None) -> Reading | None:
    """A letter reading completed by the option texts: where no letter names an option (none, or only
    rejected ones), the texts may ("not B: the thunder"), unless they name an option whose letter is
    rejected; a text answer after an answer cue past the letter's statement (which ends at `end`) is
    the later commitment ("... heavy rain (A). Conclusion: hail"); and a conclusion after every mention
    that chooses nothing ("Final answer: it is impossible to tell") refuses whatever came before."""
    texts = TextReader(region)
    if reading is None and region.table_rows:  # letters and texts in a table's rows name no option alone
        table = read_table(region.text, region.opts)
        if table is not None:
            return Reading(table, Layer.OPTION_TEXT)
    if reading is None and region.listing():  # a list of the options, one line marked yes or ✅
        heads = [(p, region.letter_at(p) or "", *line) for p, line in region.listing_spans()]
        marked = read_marked_list(region.masked, heads)
        if marked is not None:
            return Reading(marked, Layer.OPTION_TEXT)
    if reading is None or reading.index is None and reading.reason == NoCredit.NEGATED_ONLY:
        by_text = texts.read(Layer.OPTION_TEXT)
        if by_text is not None and by_text.index is not None and reading is not None:
            rejected = {region.letter_at(p) for p in region.negated(0, len(region.text))}
            if LETTERS[by_text.index] in rejected:
                by_text = reading  # "not C ... like a car horn (C's text)": no commitment
        if by_text is not None and (reading is None or by_text.index is not None):
            reading = by_text
    elif reading.index is not None and end is not None:
        later = texts.read_cued(Layer.OPTION_TEXT, end)
        if later is not None and later.index is not None and later.index != reading.index:
            reading = later
    if reading is not None and reading.index is not None:
        last = max([p for p, _ in region.mentions] + [texts.last_end()])
        if UNDECIDED.search(region.masked, max(last, 0)):
            return Reading(None, reason=NoCredit.NO_ANSWER)
    return reading


def parse_answer(text: str, choices: Sequence[str]) -> ParsedAnswer:
    """The option `text` names among `choices` (in shown order), and which layer found it.

    Rules: see the module docstring. Never credits an empty answer, an output naming two options or a
    rejected ("not D") letter. Readings are memoised (the result is immutable): a rollout asks once for
    the correctness reward and again for the format reward's verdict on the same completion.
    """
    if not 1 <= len(choices) <= len(LETTERS):
        raise ValueError(f"need 1 to {len(LETTERS)} choices, got {len(choices)}")
    return _parse(text, tuple(choices))


@lru_cache(maxsize=4096)
def _parse(text: str, choices: tuple[str, ...]) -> ParsedAnswer:
    opts = _options(choices)
    text = strip_hidden(normalize(text))
    blocks = [(m.group(1), True) for m in ANSWER_BLOCK.finditer(text)]
    unclosed = ANSWER_UNCLOSED.search(text)
    if unclosed:
        blocks.append((unclosed.group(1), False))
    if blocks:
        reading = _read_blocks(blocks, opts)
    else:
        closes = list(THINK_CLOSE.finditer(text))
        after = None
        if closes:
            region = _Region(ANY_TAG.sub("\n", text[closes[-1].end() :]), opts)
            after = _with_texts(
                region, region.first_answer(Layer.AFTER_THINK) or region.read(Layer.AFTER_THINK)
            )
        reading = after or _read_last_letter(ANY_TAG.sub("\n", text), opts, bool(THINK_OPEN.search(text)))
    if reading.index is None:
        return ParsedAnswer(None, None, None, None, reading.reason)
    return ParsedAnswer(reading.index, LETTERS[reading.index], choices[reading.index], reading.layer)
