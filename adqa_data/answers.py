"""The layered answer parser, shared by filter (generate mode), rollout (correctness reward) and eval.

`parse_answer(text, choices)` returns the option a model's output names, the layer that found it, or
the reason it credits nothing. Peers are either too strict (R1-AQA: regex then exact string; NeMo-RL:
alphanumerics only, exact compare) or hackable (substring matching credits `<answer></answer>`,
and outputs listing several options). This parser recovers malformed outputs (the layered fallback
of the DCASE 2026 MiMo-Audio report) but never credits an output that does not name exactly one option.

Layers, tried in order; the first that applies decides (a refusal stops the search, too):

1. ``strict``        every answer block is a single letter: `<answer>B</answer>`, tolerating spaces,
                     brackets, a trailing `.`/`)`/`:`, markdown `**`/backticks/quotes and lower case
                     (`<answer> (b). </answer>`).
2. ``answer_text``   the block's whole text is one option's text (case, punctuation, spacing and a
                     leading article ignored; a `"A. "` prefix on the options, as in DCASE 2025, is
                     ignored too). Tried before letters, since options may contain letters
                     ("Speaker B talks first"). Exact only: a substring rule is what credits `""`.
3. ``answer_letter`` a letter inside the block: `<answer>C. dog barking</answer>`,
                     `<answer>The answer is (C)</answer>`, `<answer>C dog barking</answer>` (letter then
                     that option's text). A letter followed by the text of another option names two
                     options and is refused (``letter_text_conflict``).
4. ``after_think``   no answer block: the answer-looking letter after the last `</think>`.
5. ``last_letter``   no answer block and nothing after `</think>`: the last answer-looking letter.

Answer blocks are authoritative: when the output has any `<answer>` block (an unclosed one at the end,
as in a truncated output, counts, but is reported as ``answer_letter`` at best), layers 4-5 are not
tried. Every non-empty block must name the same option; empty blocks beside a valid one are ignored.

Answer-looking letters (layers 3-5) are upper case only, so the article "a" and the pronoun "I" are
never letters, and only these forms count, never a bare capital inside a sentence ("A dog barks"):
`(B)` `[B]`, `B.` `B)` (not `A.M.`), `**B**`, a letter alone on a line, a letter ending the text,
"answer is B" / "answer: B" / "I choose B", and "option B" / "choice B". Only letters of the item's
options count (A-D for four options); a block holding a single out-of-range letter is refused with
``letter_out_of_range``.

Naming two options is refused (``multiple_options``): two different answer-looking letters, or a
hedge such as "A or B", "A, C", "A/B", "A and B", "A B C D", "A-D" in the statement that is read. The
statement is the whole block (layers 1-3), everything after `</think>` (layer 4), or, for layer 5, the
line of the last answer-looking letter, starting at its last "answer is"-style cue when it has one
(so "Option A is a cat, option B a dog, so the answer is B." credits B, "The answer is A or B"
credits nothing). Hedges look at letters A-H whatever the option count, so "B or E" is refused on a
four-option item while "B, I think" is not; an "A" followed by a lower-case word is read as the
article, so "(B) A dog barks" is not a hedge. When text follows `</think>` but holds no letter, layer 5
reads the whole output, reasoning included ("... so the answer is B</think> It barks." credits B).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

LETTERS = "ABCDEFGHIJ"  # the one definition: prompts, backends and stages import it from here


class Layer:
    """Which layer credited the answer. Stable strings: stored in `parse_layer` columns."""

    STRICT = "strict"
    ANSWER_TEXT = "answer_text"
    ANSWER_LETTER = "answer_letter"
    AFTER_THINK = "after_think"
    LAST_LETTER = "last_letter"


class NoCredit:
    """Why nothing was credited. Stable strings: users count outputs by them."""

    NO_ANSWER = "no_answer"  # nothing that looks like an answer
    EMPTY_ANSWER = "empty_answer"  # only empty answer blocks: <answer></answer>, <answer> . </answer>
    MULTIPLE_OPTIONS = "multiple_options"  # names two or more options
    LETTER_TEXT_CONFLICT = "letter_text_conflict"  # "C. <text of option A>"
    OUT_OF_RANGE = "letter_out_of_range"  # <answer>E</answer> with four options
    UNPARSEABLE = "unparseable_answer"  # a non-empty answer block that names no option


@dataclass(frozen=True)
class ParsedAnswer:
    index: int | None  # option index in the order shown to the model; None = nothing credited
    letter: str | None
    text: str | None  # the option's text, as in `choices`
    layer: str | None  # a `Layer` value when credited
    reason: str | None = None  # a `NoCredit` value when not

    @property
    def credited(self) -> bool:
        return self.index is not None


def letter_for(index: int) -> str:
    """The letter shown for option `index` (0 -> "A")."""
    if not 0 <= index < len(LETTERS):
        raise ValueError(f"option index {index} has no letter; at most {len(LETTERS)} options")
    return LETTERS[index]


# ----------------------------------------------------------------------------------------- patterns
# the think/answer tags, defined once (rewards.format reads the same tags): case and inner spaces free
THINK_OPEN = re.compile(r"<\s*think\s*>", re.IGNORECASE)
THINK_CLOSE = re.compile(r"<\s*/\s*think\s*>", re.IGNORECASE)
ANSWER_OPEN = re.compile(r"<\s*answer\s*>", re.IGNORECASE)
ANSWER_CLOSE = re.compile(r"<\s*/\s*answer\s*>", re.IGNORECASE)
ANY_TAG = re.compile(r"<\s*/?\s*(?:think|answer)\s*>", re.IGNORECASE)
_OPEN, _CLOSE = ANSWER_OPEN.pattern, ANSWER_CLOSE.pattern
# the innermost block: a stray earlier "<answer>" does not swallow the real one
_BLOCK = re.compile(rf"{_OPEN}((?:(?!{_OPEN}).)*?){_CLOSE}", re.IGNORECASE | re.DOTALL)
_UNCLOSED = re.compile(rf"{_OPEN}((?:(?!{_OPEN}|{_CLOSE}).)*)\Z", re.IGNORECASE | re.DOTALL)
_WORDCHAR = re.compile(r"[^\W_]")
_STRICT = re.compile(r"[\s*`'\"]*[(\[]?\s*([A-Za-z])\s*[)\]]?\s*[.):]?[\s*`'\"]*")
# "C. rest", "(C) rest", "C) rest", "C: rest", "C - rest"
_LEAD = re.compile(r"[\s*]*(?:[(\[]\s*([A-Z])\s*[)\]]|([A-Z])\s*[.):\-\u2013])[\s*]*(\S.*?)\s*", re.DOTALL)
_LEAD_SPACE = re.compile(r"\s*([A-Z])\s+(\S.*?)\s*", re.DOTALL)  # "C dog barking"
_ARTICLE = re.compile(r"^(?:a|an|the) ")
_OPTION_PREFIX = re.compile(r"\s*[(\[]?([A-Z])[.):\]]\s+")  # "A. Writing" (DCASE 2025 options)
_NEXT_NOT_ALNUM = r"(?![A-Za-z0-9])"
_CUE = (
    r"(?i:\b(?:answer|choice|option)s?\b\s*(?:is|was|:|=|would\s+be|should\s+be|must\s+be|will\s+be)"
    r"\s*:?|\b(?:choose|chose|pick|select|go\s+with)\b)"
)


@dataclass(frozen=True)
class _Patterns:
    letters: tuple[re.Pattern[str], ...]  # answer-looking letters, group 1
    cue: re.Pattern[str]
    hedge: re.Pattern[str]  # two letters joined as a hedge, groups 1 and 2


@lru_cache(maxsize=len(LETTERS))
def _patterns(num_choices: int) -> _Patterns:
    letter = f"([{LETTERS[:num_choices]}])"
    hedged = f"[{LETTERS[: max(num_choices, 8)]}]"
    letters = (
        re.compile(rf"{_CUE}[\s*]*(?i:(?:option|choice)\s*)?[(\[]?[\s*]*{letter}{_NEXT_NOT_ALNUM}"),
        re.compile(rf"(?i:\b(?:option|choice)s?)\s*[(\[]?{letter}{_NEXT_NOT_ALNUM}"),
        re.compile(rf"[(\[]\s*{letter}\s*[)\]]"),
        re.compile(rf"(?<![A-Za-z0-9.]){letter}[.)]{_NEXT_NOT_ALNUM}"),
        re.compile(rf"\*\*\s*{letter}\s*[.)]?\s*\*\*"),
        re.compile(rf"^[ \t>*#-]*{letter}[ \t*.)]*$", re.MULTILINE),
        re.compile(rf"(?<![A-Za-z0-9]){letter}[^A-Za-z0-9]*\Z"),
    )
    sep = r"(?:\s*(?:[,/&+;\-\u2013]|(?i:or|and|nor|vs\.?)\b)\s*|\s+)"
    hedge = re.compile(
        rf"(?<![A-Za-z0-9])[(\[]?({hedged})[)\]]?"
        rf"(?={sep}[(\[]?(?i:option\s+)?({hedged})[)\]]?{_NEXT_NOT_ALNUM}(?!(?<=A)\s+[a-z]))"
    )
    return _Patterns(letters, re.compile(_CUE), hedge)


def _letters_in(region: str, pats: _Patterns) -> list[tuple[int, str]]:
    """Answer-looking letters with their positions, in text order."""
    found = {m.start(1): m.group(1) for p in pats.letters for m in p.finditer(region)}
    return sorted(found.items())


def _hedges(region: str, pats: _Patterns) -> bool:
    """True when two different letters are joined as alternatives: "A or B", "A, C", "A/B", "A B"."""
    return any(m.group(1) != m.group(2) for m in pats.hedge.finditer(region))


def _names_several(region: str, pats: _Patterns) -> bool:
    """True when the statement names two different options or hedges between two letters."""
    return len({letter for _, letter in _letters_in(region, pats)}) > 1 or _hedges(region, pats)


def _norm(s: str) -> str:
    s = " ".join(re.sub(r"[\W_]+", " ", s.casefold()).split())
    return _ARTICLE.sub("", s)


def _choice_keys(choices: list[str]) -> list[set[str]]:
    """Per option, the normalised texts that count as that option (with and without an "A. " prefix)."""
    keys = []
    for i, c in enumerate(choices):
        k = {_norm(c)}
        m = _OPTION_PREFIX.match(c)
        if m and m.group(1) == LETTERS[i]:
            k.add(_norm(c[m.end() :]))
        keys.append(k - {""})
    return keys


def _match_text(s: str, keys: list[set[str]]) -> int | None:
    """The one option whose text `s` is, or None (also when two options share the text)."""
    n = _norm(s)
    hits = [i for i, k in enumerate(keys) if n in k]
    return hits[0] if len(hits) == 1 else None


# ------------------------------------------------------------------------------------------- layers
@dataclass(frozen=True)
class _Reading:
    index: int | None
    layer: str | None = None
    reason: str | None = None


def _read_block(content: str, closed: bool, keys: list[set[str]], pats: _Patterns) -> _Reading:
    """What one answer block names."""
    n = len(keys)
    if not _WORDCHAR.search(content):
        return _Reading(None, reason=NoCredit.EMPTY_ANSWER)
    m = _STRICT.fullmatch(content)
    if m:
        letter = m.group(1).upper()
        if letter in LETTERS[:n]:
            return _Reading(LETTERS.index(letter), Layer.STRICT if closed else Layer.ANSWER_LETTER)
        return _Reading(None, reason=NoCredit.OUT_OF_RANGE if letter in LETTERS else NoCredit.UNPARSEABLE)
    by_text = _match_text(content, keys)
    if by_text is not None:
        return _Reading(by_text, Layer.ANSWER_TEXT)
    m = _LEAD.fullmatch(content)
    if m and (m.group(1) or m.group(2)) in LETTERS:
        letter, rest = m.group(1) or m.group(2), m.group(3)
        if letter not in LETTERS[:n]:
            return _Reading(None, reason=NoCredit.OUT_OF_RANGE)
        index = LETTERS.index(letter)
        by_text = _match_text(rest, keys)
        if by_text is not None:  # "C. <an option's text>": the text must be option C's
            if by_text == index:
                return _Reading(index, Layer.ANSWER_LETTER)
            return _Reading(None, reason=NoCredit.LETTER_TEXT_CONFLICT)
        if {letter} | {other for _, other in _letters_in(rest, pats)} != {letter} or _hedges(content, pats):
            return _Reading(None, reason=NoCredit.MULTIPLE_OPTIONS)
        return _Reading(index, Layer.ANSWER_LETTER)
    m = _LEAD_SPACE.fullmatch(content)
    if m and m.group(1) in LETTERS[:n] and _match_text(m.group(2), keys) == LETTERS.index(m.group(1)):
        return _Reading(LETTERS.index(m.group(1)), Layer.ANSWER_LETTER)
    if _names_several(content, pats):
        return _Reading(None, reason=NoCredit.MULTIPLE_OPTIONS)
    found = _letters_in(content, pats)
    if found:
        return _Reading(LETTERS.index(found[0][1]), Layer.ANSWER_LETTER)
    return _Reading(None, reason=NoCredit.UNPARSEABLE)


def _read_blocks(blocks: list[tuple[str, bool]], keys: list[set[str]], pats: _Patterns) -> _Reading:
    """All blocks together: credited only when every non-empty block names the same option."""
    readings = [_read_block(content, closed, keys, pats) for content, closed in blocks]
    named = [r for r in readings if r.reason != NoCredit.EMPTY_ANSWER]
    if not named:
        return _Reading(None, reason=NoCredit.EMPTY_ANSWER)
    refused = [r.reason for r in named if r.index is None]
    if refused:
        return _Reading(None, reason=min(refused, key=_REFUSAL_ORDER.index))
    if len({r.index for r in named}) > 1:
        return _Reading(None, reason=NoCredit.MULTIPLE_OPTIONS)
    return named[0]


_REFUSAL_ORDER = [
    NoCredit.MULTIPLE_OPTIONS,
    NoCredit.LETTER_TEXT_CONFLICT,
    NoCredit.OUT_OF_RANGE,
    NoCredit.UNPARSEABLE,
]


def _read_after_think(region: str, pats: _Patterns) -> _Reading | None:
    """Layer 4; None when the region holds no answer-looking letter and no hedge."""
    if _names_several(region, pats):
        return _Reading(None, reason=NoCredit.MULTIPLE_OPTIONS)
    found = _letters_in(region, pats)
    return _Reading(LETTERS.index(found[0][1]), Layer.AFTER_THINK) if found else None


def _read_last_letter(body: str, pats: _Patterns) -> _Reading:
    """Layer 5: the last answer-looking letter, read within its statement."""
    found = _letters_in(body, pats)
    if not found:
        return _Reading(None, reason=NoCredit.NO_ANSWER)
    pos, letter = found[-1]
    start = body.rfind("\n", 0, pos) + 1
    end = body.find("\n", pos)
    line = body[start : end if end >= 0 else len(body)]
    cues = [m.start() for m in pats.cue.finditer(line) if m.start() <= pos - start]
    statement = line[cues[-1] :] if cues else line
    if _names_several(statement, pats):
        return _Reading(None, reason=NoCredit.MULTIPLE_OPTIONS)
    return _Reading(LETTERS.index(letter), Layer.LAST_LETTER)


def parse_answer(text: str, choices: list[str]) -> ParsedAnswer:
    """The option `text` names among `choices` (in shown order), and which layer found it.

    Rules: see the module docstring. Never credits an empty answer or an output naming two options.
    """
    if not 1 <= len(choices) <= len(LETTERS):
        raise ValueError(f"need 1 to {len(LETTERS)} choices, got {len(choices)}")
    pats = _patterns(len(choices))
    keys = _choice_keys(choices)
    blocks = [(m.group(1), True) for m in _BLOCK.finditer(text)]
    unclosed = _UNCLOSED.search(text)
    if unclosed:
        blocks.append((unclosed.group(1), False))
    if blocks:
        reading = _read_blocks(blocks, keys, pats)
    else:
        closes = list(THINK_CLOSE.finditer(text))
        after = _read_after_think(ANY_TAG.sub("\n", text[closes[-1].end() :]), pats) if closes else None
        reading = after or _read_last_letter(ANY_TAG.sub("\n", text), pats)
    if reading.index is None:
        return ParsedAnswer(None, None, None, None, reading.reason)
    return ParsedAnswer(reading.index, LETTERS[reading.index], choices[reading.index], reading.layer)
