"""One statement as read: its answer-looking letters, hedges, rejections, option lists and answer cues."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from functools import cached_property

from .commitment import BETWEEN, BETWEEN_KEYS, RESTART, restart_starts
from .letters import (
    _ANSWER_HEADING,
    _BEFORE_INITIAL,
    _BULLET_HEAD,
    _CUE_RE,
    _LIST_LINE,
    _LONE_LETTER,
    CUE_OR_CJK_CUE,
    _named_by_letter,
)
from .negation import _NEG_AFTER, _NEG_BEFORE, hint_positions
from .normalise import _unlatex
from .option_text import _Options, _text_after, _text_beside, find_texts
from .ordinals import find_ordinals
from .tables import table_lines
from .verdict import LETTERS, NoCredit, Reading

_RESTARTS_TRIED = 4  # the last few corrections of a statement are read, never all of a looping output


def in_spans(pos: int, spans: list[tuple[int, int]]) -> bool:
    """Whether `pos` lies in one of `spans` (sorted, not overlapping, [start, end))."""
    i = bisect_right(spans, (pos, float("inf"))) - 1
    return i >= 0 and spans[i][0] <= pos < spans[i][1]


class _Region:
    """One statement's text, as read: its answer-looking letters, hedges and negations."""

    def __init__(self, text: str, opts: _Options) -> None:
        text = _unlatex(text)
        self.text = text
        masked = text if opts.mask is None else opts.mask.sub(lambda m: "x" * len(m.group()), text)
        self.masked, self.opts = masked, opts
        self.cues = _CUE_RE if masked.isascii() else CUE_OR_CJK_CUE  # "答案是", "答え：" open a statement too
        pats = opts.pats
        found: dict[int, str] = {}
        for p in pats.letters + (() if masked.isascii() else (pats.cjk,)):
            for m in p.finditer(masked):
                g = 1 if m.start(1) >= 0 else 2  # the label pattern: upper case in group 1, lower in 2
                found.setdefault(m.start(g), m.group(g).upper())
        for p in pats.bare:
            for m in p.finditer(masked):
                pos = m.start(1)
                if pos not in found and (
                    not _named_by_letter(masked, pos)
                    or _text_after(text, pos, opts) is not None  # a label: "... B. cat meowing"
                ):
                    found[pos] = m.group(1)
        for m in pats.initial.finditer(masked):
            if m.start() not in found and _BEFORE_INITIAL.search(masked, max(0, m.start() - 40), m.start()):
                found[m.start()] = m.group(1)
        # an option named by position ("the third option") is a mention of its letter, placed on its last
        # character (so a predicate after it reads as after a letter); `starts` keeps where it begins
        self.starts: dict[int, int] = {}
        for start, end, index in find_ordinals(masked, len(opts.keys)):
            if not any(p in found for p in range(start, end)):
                found[end - 1] = LETTERS[index]
                self.starts[end - 1] = start
        # "between B and C" compares two options and names neither
        compared = (
            {m.start(g) for m in BETWEEN.finditer(masked) for g in range(1, 7) if m.start(g) >= 0}
            if any(key in masked for key in BETWEEN_KEYS)
            else set()
        )
        # a markdown table's rows list the options: their letters are read as the table (`tables`)
        self.table_rows = table_lines(masked) if "|" in masked else []
        if self.table_rows:
            compared |= {p for p in found if in_spans(p, self.table_rows)}
        self.mentions = sorted((p, letter) for p, letter in found.items() if p not in compared)
        self.pairs = sorted(
            {
                (m.start(1), m.group(1).upper(), m.start(2), m.group(2).upper())
                for p in opts.pats.hedges
                for m in p.finditer(masked)
            }
        )
        self.soft_pairs = [
            (m.start(1), m.group(1), m.start(2), m.group(2)) for m in pats.soft.finditer(masked)
        ]
        if compared:
            self.pairs = [q for q in self.pairs if q[0] not in compared and q[2] not in compared]
            self.soft_pairs = [q for q in self.soft_pairs if q[0] not in compared and q[2] not in compared]

    @cached_property
    def texts(self) -> list[tuple[int, int, int]]:
        """The option texts in the statement, as (start, end, option index); found when first asked."""
        return find_texts(self.text, self.opts)

    @cached_property
    def _hints(self) -> list[int]:
        """Where a part of some negation word stands: found in one pass, looked up per letter."""
        return hint_positions(self.masked)

    def _rejected_before(self, pos: int) -> bool:
        pos = self.starts.get(pos, pos)
        lo = max(0, pos - 80)
        i = bisect_left(self._hints, lo)
        hinted = i < len(self._hints) and self._hints[i] < pos
        return hinted and bool(_NEG_BEFORE.search(self.masked, lo, pos))

    def _rejected_after(self, pos: int) -> bool:
        # "D: not a dog" may be option D's own text, which is no verdict on D
        return bool(_NEG_AFTER.match(self.masked, pos + 1)) and _text_after(self.text, pos, self.opts) is None

    def negated(self, lo: int, hi: int) -> set[int]:
        """Positions in [lo, hi) of rejected letters; a rejection before the first or after the last
        letter of a hedged list ("not A or B", "A and B are wrong") covers the whole list."""
        lists: list[list[int]] = []
        for p1, _, p2, _ in self.pairs:  # sorted: a pair that starts where the last list ends extends it
            if lo <= p1 and p2 < hi and ";" not in self.masked[p1:p2]:  # "B; A is wrong" is no list
                if lists and lists[-1][-1] == p1:
                    lists[-1].append(p2)
                else:
                    lists.append([p1, p2])
        out = {
            p
            for members in lists
            if self._rejected_before(members[0]) or self._rejected_after(members[-1])
            for p in members
        }
        soft = {q for p1, _, p2, _ in self.soft_pairs for q in (p1, p2)}
        out.update(
            p
            for p in {p for p, _ in self.mentions} | soft
            if lo <= p < hi and p not in out and (self._rejected_before(p) or self._rejected_after(p))
        )
        return out

    def read(self, layer: str, lo: int = 0, hi: int | None = None) -> Reading | None:
        """What the statement [lo, hi) names; None when it holds no letter at all. A statement naming two
        options that corrects or concludes itself ("B. Wait, no — D.", "A? Hmm. Final: C") names what
        follows its last correction, when that names one option."""
        hi = len(self.text) if hi is None else hi
        reading = self._read(layer, lo, hi)
        if reading is None or reading.reason != NoCredit.MULTIPLE_OPTIONS:
            return reading
        last = max((p for p, _ in self.mentions if lo <= p < hi), default=-1)
        restarts = [p for p in restart_starts(self.masked, lo, hi) if lo < p <= last]
        for start in reversed(restarts[-_RESTARTS_TRIED:]):
            again = self._read(layer, start, hi)
            if again is not None and again.index is not None:
                return again
            if again is not None and again.reason != NoCredit.MULTIPLE_OPTIONS:
                break
        return reading

    def _read(self, layer: str, lo: int, hi: int) -> Reading | None:
        hi = len(self.text) if hi is None else hi
        mentions = [(p, letter) for p, letter in self.mentions if lo <= p < hi]
        pairs = [q for q in self.pairs if lo <= q[0] and q[2] < hi]
        soft = [q for q in self.soft_pairs if lo <= q[0] and q[2] < hi]
        if not mentions and not pairs and not soft:
            return None
        negated = self.negated(lo, hi)
        rejected = {letter for p, letter in mentions if p in negated} | {
            letter for q in pairs for p, letter in (q[:2], q[2:]) if p in negated
        }
        affirmed = {letter for p, letter in mentions if p not in negated} - rejected
        hedged = any(a != b and p not in negated and q not in negated for p, a, q, b in pairs + soft)
        if hedged or len(affirmed) > 1:
            return Reading(None, reason=NoCredit.MULTIPLE_OPTIONS)
        if not affirmed:
            return Reading(None, reason=NoCredit.NEGATED_ONLY) if rejected else None
        (letter,) = affirmed
        index = LETTERS.index(letter)
        for p, other in mentions:
            if other == letter and p not in negated:
                beside = _text_beside(self.text, p, self.opts)
                if beside is not None and beside != index:
                    return Reading(None, reason=NoCredit.LETTER_TEXT_CONFLICT)
        return Reading(index, layer)

    def letter_at(self, pos: int) -> str | None:
        """The letter of the mention at `pos`."""
        return self._letters.get(pos)

    @cached_property
    def _letters(self) -> dict[int, str]:
        return dict(self.mentions)

    def listing(self) -> set[int]:
        """Positions of letters that head the lines of an option list ("A. dog\\nB. cat", "- A: no bark\\n- C:
        no chirp", "Option A is ...\\nOption B is ..."): two or more such lines, letters rising; and any
        bullet led by a letter ("* Option B (Siren): ..."), alone too."""
        heads = [(m.start(g), m.group(g)) for m in _LIST_LINE.finditer(self.masked) for g in (m.lastindex,)]
        letters = {p for p, _ in self.mentions}
        out: set[int] = set()
        run: list[tuple[int, str]] = []
        for head in heads + [(-1, "")]:
            if run and head[1] > run[-1][1] and head[0] >= 0:
                run.append(head)
                continue
            if len(run) >= 2:
                out.update(p for p, _ in run)
            run = [head]
        out.update(m.start(1) for m in _BULLET_HEAD.finditer(self.masked))
        return out & letters

    def listing_spans(self) -> list[tuple[int, tuple[int, int]]]:
        """Per letter heading a line of an option list (`listing`), its position and its line [start, end)."""
        out = []
        for p in sorted(self.listing()):
            start = self.masked.rfind("\n", 0, p) + 1
            end = self.masked.find("\n", p)
            out.append((p, (start, len(self.masked) if end < 0 else end)))
        return out

    def listing_lines(self) -> list[tuple[int, int]]:
        """The lines, as [start, end), headed by a letter of an option list (`listing`)."""
        return [line for _, line in self.listing_spans()]

    @cached_property
    def answer_letters(self) -> list[int]:
        """Positions of the answer-looking letters, those heading the lines of an option list aside."""
        listed = self.listing()
        return [p for p, _ in self.mentions if p not in listed]

    def _line(self, pos: int) -> tuple[int, int, list[int]]:
        """The line holding the letter at `pos`, as `[start, end)`, and its answer cues up to the letter."""
        start = self.masked.rfind("\n", 0, pos) + 1
        end = self.masked.find("\n", pos)
        end = len(self.masked) if end < 0 else end
        cues = [m.start() for m in self.cues.finditer(self.masked, start, pos + 1) if m.start() <= pos]
        return start, end, cues

    def first_answer(self, layer: str) -> Reading | None:
        """An answer given first and explained after ("**Answer: B**\\n\\nOption A would be deeper ..."): the
        first line holding a letter (option lists aside), when it has an answer cue, opens the text or
        follows an "Answer" heading, credits one option, and no later line has an answer cue or rejects
        that option."""
        if not self.answer_letters:
            return None
        masked = self.masked
        start, end, cues = self._line(self.answer_letters[0])
        if not (cues or not masked[:start].strip() or _ANSWER_HEADING.search(masked, 0, start)):
            return None
        reading = self.read(layer, cues[-1] if cues else start, end)
        if reading is None or reading.index is None or self.cues.search(masked, end):
            return None
        letter = LETTERS[reading.index]
        if any(m.group(1) != letter for m in _LONE_LETTER.finditer(masked, end)):
            return None
        later = self.negated(end, len(masked))
        if any(p in later for p, other in self.mentions if p >= end and other == letter):
            return None
        restart = RESTART.search(masked, end)
        if restart and any(other != letter for p, other in self.mentions if p >= restart.end()):
            return None  # "The answer is B.\n\nWait, maybe C.": a correction after the answer
        return reading

    def last_statement(self) -> tuple[int, int] | None:
        """Layer 5's statement: the line of the last answer-looking letter (option lists aside), from its
        last cue."""
        if not self.answer_letters:
            return None
        start, end, cues = self._line(self.answer_letters[-1])
        return (cues[-1] if cues else start), end
