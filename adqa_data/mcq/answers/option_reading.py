"""What the option texts in a statement name, when no letter does: "Church bells.", "Answer: calm",
`{"answer": "heavy rain"}`, "A siren wails and fades out." (exactly one option's full text), "not the siren
but the thunder". Texts that label a letter ("B. Siren", "Siren (B)") or stand on the lines of an option
list belong to the letter reading and are no answer here."""

from __future__ import annotations

import re

from .commitment import restart_starts
from .letters import _CUE
from .negation import _NEG_AFTER
from .option_text import _GAP_AFTER
from .statement import _Region, in_spans
from .verdict import NoCredit, Reading

# an answer cue before a text: the letter cues ("the answer is", "I choose"), a final-answer heading,
# "I'd say", and their Spanish, French, German, Chinese and Japanese forms
TEXT_CUE = re.compile(
    rf"{_CUE}|(?i:\bfinal(?:\s+answer)?\s*\**\s*[:=]|\b(?:i'd|i\s+would)\s+(?:say|go\s+with|pick|choose)"
    r"|\bmy\s+(?:answer|guess|choice|pick)\b|\bi\s+(?:think|believe)\b|\bsounds\s+like\b|\bmost\s+likely\b"
    r"|\bit(?:'s|\s+is|\s+must\s+be)\b|\brespuesta(?:\s+(?:correcta|final))?\s*(?:es|:|ser[ií]a)"
    r"|\br[ée]ponse(?:\s+(?:correcte|finale))?\s*(?:est|:|serait)|\bantwort\s*(?:ist|lautet|w[äa]re|:))"
    r"|答案|答え|正解|回答"
)
# a text followed by its verdict as the answer: "Thunder is the answer", "siren fits best"
_CHOSEN = re.compile(
    r"[\s*\"'`)]*(?i:(?:is|seems|sounds)\s+(?:to\s+be\s+)?(?:the\s+)?(?:most\s+likely\s+|correct\s+|right\s+|best\s+)?"
    r"(?:answer|option|choice|match|correct|right)\b|(?:fits|matches)\s+(?:best|the\s+(?:audio|clip|recording))\b"
    r"|is\s+the\s+best\b|es\s+la\s+(?:respuesta|opci[oó]n)\s+correcta|est\s+la\s+bonne|ist\s+(?:die\s+)?richtig)"
)
_SENTENCE_END = re.compile(r"[.!?。！？](?=\s|$)|\n")
# two texts joined as a list: a rejection before the first or after the last covers both
_LIST_GAP = re.compile(
    r"\s*(?:,|/|\n|(?i:or|and|nor|ni|o|ou|oder|y|et|und|noch)\b|或|和|、)?\s*(?i:(?:the|a|an)\s+)?\s*(?i:or\s+)?"
)
_YES_NO = re.compile(
    r"(?i:yes|no|true|false|s[ií]|oui|non|ja|nein|correct|incorrect|right|wrong|richtig|falsch|wahr|vrai|faux"
    r"|verdadero|falso|cierto|correcto|incorrecto)|是|否|はい|いいえ|对|對|不对|不對|正确|錯誤|错误|正確|正しい|間違い|誤り"
)
_CLAUSE_START = re.compile(r"(?:^|[.!?:;,(\"'*\n]|\b(?i:is|answer|say|think))[\s*\"']*\Z")
_CLAUSE_END = re.compile(r"[\s*\"']*(?:[.!?,;:)\]}\n。，！的\u2013\u2014]|-\s|です|\Z)")  # "True — ..."
# a sentence that only considers an option: a question, a condition, a hypothesis, a walk through the options
_TENTATIVE = re.compile(
    r"\?|(?i:\b(?:would|could|might|if|whether|consider(?:ing)?|let's|let\s+me|options?|choices?|analy[sz]e"
    r"|check|suppose|podr[ií]a|ser[ií]a|si|pourrait|serait|w[üu]rde|k[öo]nnte|wenn)\b)"
    r"|如果|可能|吗|嗎|でしょうか|かもしれ"
)
_TRUNCATED_END = re.compile(r"[\s\S]*[^\s.!?。！？)\]\"'*`」』>}$|](\s*)\Z")
_LETTER_OR = r"(?:\s*,\s*|\s*/\s*|\s+(?i:or|oder|ou|o)\s+|\s*或\s*)"
_LETTER_OR_BEFORE = re.compile(rf"(?<![\w'])[(\[]?[A-HJ][)\]]?{_LETTER_OR}(?i:(?:the|an?)\s+)?\Z")
_OR_LETTER_AFTER = re.compile(
    rf"{_LETTER_OR}(?i:option\s+)?[(\[]?[A-HJ][)\]]?(?![\w'])"
)  # "I" is the pronoun
_ARTICLE_BEFORE = re.compile(r"(?<![^\W_])(?i:the|an?)\s+\Z")


def _sentence_end(text: str, pos: int, hi: int) -> int:
    m = _SENTENCE_END.search(text, pos, hi)
    return m.end() if m else hi


class TextReader:
    """The option texts of one region that may be answers, and their verdicts."""

    def __init__(self, region: _Region) -> None:
        self.region = region
        self.hedged: set[int] = set()
        text, masked = region.text, region.masked
        labelled: set[int] = set()
        for p, _ in region.mentions:  # "B. Siren", "B (Siren)": the text after a letter is its label
            labelled.add(_GAP_AFTER.match(text, p + 1).end())
        heads = sorted(set(region.listing_lines() + region.table_rows))
        letters = {p for p, _ in region.mentions}
        texts = []
        for start, end, index in region.texts:
            article = _ARTICLE_BEFORE.search(text, max(0, start - 5), start)
            start = article.start() if article else start  # "rule out a woman singing": from the article
            if start in labelled or in_spans(start, heads):
                continue
            after = end
            while after < len(text) and text[after] in " *":
                after += 1
            if after < len(text) and text[after] in "([" and after + 1 in letters:
                continue  # "Siren (B)"
            if _YES_NO.fullmatch(text, start, end) and not (
                _CLAUSE_START.search(text, max(0, start - 40), start) and _CLAUSE_END.match(text, end)
            ):
                continue  # "no doubt", "yes and no": a yes/no option is an answer only standing alone
            if _LETTER_OR_BEFORE.search(text, max(0, start - 12), start) or _OR_LETTER_AFTER.match(text, end):
                self.hedged.add(start)  # "B or the thunder": a letter and a text, two options
            texts.append((start, end, index))
        self.runs = self._runs(texts, masked)
        # three or more options in one run ("footsteps, siren, thunder and applause") list the options
        listed = {t[0] for run in self.runs if len({i for _, _, i in run}) >= 3 for t in run}
        self.runs = [run for run in self.runs if run[0][0] not in listed]
        self.texts = [t for t in texts if t[0] not in listed]
        self.rejected = self._rejections(masked)

    @staticmethod
    def _runs(texts: list[tuple[int, int, int]], masked: str) -> list[list[tuple[int, int, int]]]:
        """The texts grouped into lists: "the siren or the thunder", "footsteps, siren, thunder"."""
        runs: list[list[tuple[int, int, int]]] = []
        for t in texts:
            if runs and _LIST_GAP.fullmatch(masked, runs[-1][-1][1], t[0]):
                runs[-1].append(t)
            else:
                runs.append([t])
        return runs

    def _rejections(self, masked: str) -> set[int]:
        """Starts of the rejected texts: "not the siren", "the siren is wrong"; a rejection before the
        first or after the last text of a list ("not the siren or the thunder") covers the list."""
        region = self.region
        out: set[int] = set()
        for run in self.runs:
            if region._rejected_before(run[0][0]) or _NEG_AFTER.match(masked, run[-1][1]):
                out.update(t[0] for t in run)
            else:
                out.update(
                    t[0] for t in run if region._rejected_before(t[0]) or _NEG_AFTER.match(masked, t[1])
                )
        return out

    def _decide(self, texts: list[tuple[int, int, int]], layer: str) -> Reading | None:
        if not texts:
            return None
        rejected = {i for s, _, i in texts if s in self.rejected}
        affirmed = {i for s, _, i in texts if s not in self.rejected} - rejected
        if len(affirmed) == 1 and not any(t[0] in self.hedged for t in texts):
            return Reading(affirmed.pop(), layer)
        if not affirmed:
            return Reading(None, reason=NoCredit.NEGATED_ONLY)
        return Reading(None, reason=NoCredit.MULTIPLE_OPTIONS)

    def _after_cue(self, texts: list[tuple[int, int, int]], layer: str, lo: int, hi: int) -> Reading | None:
        """What the statement opened by the last answer cue before the last text names, when that cue
        is followed by a text in its sentence (or on the next line: "Answer:\\n\\nthunder")."""
        text = self.region.masked
        cues = [m for m in TEXT_CUE.finditer(text, lo, hi) if m.end() <= texts[-1][0]]
        if not cues:
            return None
        cue = cues[-1]
        first = next(t for t in texts if t[0] >= cue.end())
        gap = text[cue.end() : first[0]]
        if _SENTENCE_END.search(gap) and gap.strip(" \t\n*:\"'`#_"):
            return None
        end = _sentence_end(text, first[1], hi)
        reading = self._decide([t for t in texts if cue.start() <= t[0] and t[1] <= end], layer)
        return None if reading is not None and reading.reason == NoCredit.NEGATED_ONLY else reading

    def read_cued(self, layer: str, lo: int) -> Reading | None:
        """The text answer after an answer cue past `lo` ("Conclusion: hail"), if any."""
        texts = [t for t in self.texts if t[0] >= lo]
        return self._after_cue(texts, layer, lo, len(self.region.masked)) if texts else None

    def read(self, layer: str, lo: int = 0, hi: int | None = None) -> Reading | None:
        """What the texts in [lo, hi) name: after the last answer cue, the statement it opens; else all
        of them, when they name one option; else what follows the last correction or conclusion, when
        it names one ("Rain... no wait, hail."); else the first, when it is the answer alone ("Thunder. The
        siren would be louder ...")."""
        text = self.region.masked
        hi = len(text) if hi is None else hi
        texts = [t for t in self.texts if lo <= t[0] and t[1] <= hi]
        if not texts:
            return None
        reading = self._after_cue(texts, layer, lo, hi)
        if reading is not None:
            return reading
        chosen = [t for t in texts if t[0] not in self.rejected and _CHOSEN.match(text, t[1])]
        if len({i for _, _, i in chosen}) == 1:  # "Thunder is the answer.", "siren fits best"
            return self._decide(chosen, layer)
        reading = self._decide(texts, layer)
        if (
            reading is not None
            and reading.index is not None
            and not self._asserted(texts, reading.index, lo, hi)
        ):
            return None  # named only in a question, a condition or an analysis that was cut off
        if reading is None or reading.reason != NoCredit.MULTIPLE_OPTIONS:
            return reading
        for restart in reversed(restart_starts(text, lo, texts[-1][0])[-4:]):
            # a correction or conclusion: what follows the last one that names one option
            ending = self._decide([t for t in texts if t[0] >= restart], layer)
            if ending is not None and ending.index is not None:
                return ending
        first_end = _sentence_end(text, texts[0][1], hi)
        head = [t for t in texts if t[1] <= first_end]
        if (  # the answer alone, first: "Thunder. The siren would be louder ..."
            len(head) == 1
            and head[0][0] not in self.rejected | self.hedged
            and not _TENTATIVE.search(text, lo, first_end)
            and len(text[lo:first_end].split()) <= 2 + len(text[head[0][0] : head[0][1]].split())
        ):
            return Reading(head[0][2], layer)
        return reading

    def _asserted(self, texts: list[tuple[int, int, int]], index: int, lo: int, hi: int) -> bool:
        """Whether the output asserts option `index` by its text, not only considers it: some mention
        stands in a finished sentence that is no question, condition or walk through the options, and
        a longer output does not end cut off mid-sentence."""
        text = self.region.masked
        if len(text[lo:hi].split()) > 8 and _TRUNCATED_END.match(text, lo, hi):
            return False
        for start, end, i in texts:
            if i != index:
                continue
            first = lo
            for m in _SENTENCE_END.finditer(text, lo, start):
                first = m.end()
            last = _SENTENCE_END.search(text, end, hi)
            stop = last.end() if last else hi
            if not _TENTATIVE.search(text, first, stop):
                return True
        return False

    def last_end(self) -> int:
        return self.texts[-1][1] if self.texts else -1
