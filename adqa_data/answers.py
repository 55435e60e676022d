"""The layered answer parser, shared by filter (generate mode), rollout (correctness and format rewards)
and eval: the single source of truth for what a model's output names.

`parse_answer(text, choices)` returns the option a model's output names, the layer that found it, or
the reason it credits nothing. Peers are either too strict (R1-AQA: regex then exact string; NeMo-RL:
alphanumerics only, exact compare) or hackable (substring matching credits `<answer></answer>`,
and outputs listing several options). This parser recovers malformed outputs (the layered fallback
of the DCASE 2026 MiMo-Audio report) but never credits an output that does not name exactly one option,
nor a letter the output rejects.

Reading copy. Output and option texts are read after the same normalisation (`normalize`): invisible
format characters (zero-width space and joiners, soft hyphen, BOM, direction marks) are dropped, then
NFKC turns fullwidth letters and punctuation ("Ａ", "［Ｄ］", "（Ｂ）", "："), mathematical letters
(bold, italic, sans-serif, script, double-struck, monospace), circled letters, NBSP and the ideographic
space into ASCII; the CJK full stop and comma, CJK brackets and curly quotes are mapped to ASCII too.
Outside the strict and text layers, LaTeX wrappers around a letter read as brackets: `\\boxed{B}`,
`\\text{B}`, `$B$` are "(B)" (so `<answer>\\boxed{B}</answer>` is ``answer_letter``, not the template).
The credited `text` is the option exactly as given.

Layers, tried in order; the first that applies decides (a refusal stops the search, too):

1. ``strict``        every answer block is a single letter: `<answer>B</answer>`, tolerating spaces,
                     brackets, a trailing `.`/`)`/`:`, markdown `**`/backticks/quotes and lower case
                     (`<answer> (b). </answer>`).
2. ``answer_text``   the block's whole text is one option's text (case, punctuation, spacing and a
                     leading article followed by a space ignored, so "A car horn" is the text but "A. car
                     horn" is a label and a text; a `"A. "` prefix on the options, as in DCASE 2025, is
                     ignored too). Tried before letters, since options may contain letters ("Room A").
                     Exact only: a substring rule is what credits `""`.
3. ``answer_letter`` a letter inside the block, read as a statement (below): `<answer>C. dog
                     barking</answer>`, `<answer>The answer is (C)</answer>`, `<answer>D, since the tempo
                     rises</answer>`, `<answer>choice c</answer>`, `<answer>C dog barking</answer>` (letter
                     then that option's text; a block starting with an out-of-range label, "E. ...", is
                     ``letter_out_of_range``).
4. ``after_think``   no answer block: the statement after the last `</think>`, when it holds a letter.
5. ``last_letter``   no answer block and no letter after `</think>`: the last answer-looking letter,
                     read within its statement; letters heading the lines of an option list ("A. dog
                     barking\\nB. cat meowing", "- A: no bark\\n- C: no chirp", "Option A is ...\\nOption B
                     is ...": two or more lines, letters rising) are not answers there, so a listing of
                     the options, finished or truncated, credits nothing.

Answer first, explanation after (layers 4 and 5, not in reasoning, i.e. layer 5 only when the output has
no think tag): when the first line holding a letter (lists aside) has an answer cue, opens the text or
follows an "Answer" heading, and credits one option, that option is the answer and the lines after it are
its explanation ("**Answer: B**\\n\\nOption A would sound deeper ..." credits B) — unless a later line
has an answer cue, a letter alone on its line or a rejection of that option (then the usual reading
applies: "The answer is B.\\nActually, B is wrong; the answer is C." credits C).

Answer blocks are authoritative: when the output has any `<answer>` block (an unclosed one at the end,
as in a truncated output, counts, but is reported as ``answer_letter`` at best), layers 4-5 are not
tried. Every non-empty block must name the same option; empty blocks beside a valid one are ignored;
when blocks are refused for different reasons, the first of multiple_options, letter_text_conflict,
letter_out_of_range, negated_only, unparseable_answer is reported.

Answer-looking letters (layers 3-5) are letters of the item's options (A-D for four options) in one of
these forms, never a bare capital inside a sentence ("A dog barks", "Vitamin C is good", "Plan B is"):
- after an answer cue, up to two adverbs between: "answer is B", "answer: B", "the answer is most likely
  B", "I choose B", "I'd go with (B)";
- after a label word: "option B", "choice (B)". Only here and after an answer cue is a lower-case
  letter read, when it is bracketed or ends the phrase, or one of is/was/seems/fits/matches/because/since
  follows ("choice c", "option (b).", "the answer is (b)", "Answer: c"; "the answer is a dog" is the
  article); a bare "a" or "i" in prose never is;
- `(B)` `[B]`, `**B**`, a letter alone on a line; `B.` `B)` (not `A.M.`) and a letter ending its line or
  the text, except right after a noun that names things by letter ("vitamin C.", "plan B", "Speaker B.")
  or another capitalised word ("Room B.") that is no lead-in or verb of choosing ("So B.", "It is B.",
  "Pick B" read), and except when the option's own text follows ("... barking B. cat meowing" is a label);
- beside CJK text: "答案是B", "正解はCです";
- at a sentence or clause start (a line start, after . ! ? ; : or a comma, optionally after a lead-in word:
  so, thus, hence, therefore, then, overall, and, but, or, nor, while, whereas, because, since, though,
  although, yet, however, maybe, perhaps, any adverb in -ly (clearly, definitely, certainly, probably), yes,
  well, ok, hmm, that, it's, it is, that's, this is, I think, I believe, I guess, I'd say; or right after an
  opening bracket: "B (C is wrong)") and followed by a comma, colon, semicolon, dash or bracket, or
  by a word of this closed list: is, isn't, are, was, wasn't, seems, seemed, appears, looks, sounds, fits,
  matches, describes, corresponds, aligns, captures, reflects, makes, remains, works, wins, would, wouldn't,
  should, must, could, couldn't, might, does, doesn't, did, didn't, has, can't, cannot, won't, fails,
  because, since, as, rather than, instead of. So "A, given the hiss", "A seems right", "B because the tempo
  rises" and "so C fits" name the letter, while "A dog barks", "A man speaks" and "A given recording" keep
  the article ("given" is left out of the list for that reason), and "I" is never read this way (the
  pronoun).
Letters inside an option's text are never answer letters: where the text of an option holding a letter
token ("Room C", "Speaker A talks first") appears in the output, its letters are not read, so "The
answer is Room C" names no letter.

Negation. A letter is rejected when
- one of these stands right before it (a label word, "the" or a bracket may come between): no, rather
  than, instead of, other than, anything but, except (for), excluding, exclude, eliminate, rule out,
  unlike, reject, dismiss, discard, cross out, neither, nor; 不, 非, 没, 无, 排除 (then 是 or 选);
- "not", "n't", "never" or "cannot" precedes it by at most eight words within its clause (no punctuation
  but a bracketed letter, and none of so, thus, therefore, hence, but, because, since, while, whereas,
  and, then, however, yet, although, though, instead, rather between): "definitely not D", "it isn't
  B", "I don't think it's D", "not a dog barking (A) or a car horn (D)"; but "Not sure, but B" and "It
  doesn't bark so the answer is B" affirm B;
- a rejecting predicate follows it: "D is wrong", "(D) is clearly incorrect", "(D) can be ruled out",
  "D is not", "D isn't", "D does not fit", "D fails", "D: wrong", (都/也)错/不对/不正确/不是/不符/不可能/間違/
  違う/ではない/ではありません — unless what follows is an option's own text ("D: not a dog").
A rejection before the first or after the last letter of a hedged list ("A or B", "A, B and C", "A, B, or
C", "A和B"; a semicolon ends a list) covers the whole list: "not A or B", "A and B are wrong", "not A, C",
"A和B都不对" reject every letter of it. "B or maybe C" ("or/and" then maybe, perhaps, possibly, probably,
even or also) is a hedge but no list: "C rather than A, or maybe B" rejects A only, and names C and B.
In a statement, a letter rejected anywhere is never credited ("It could be A. Definitely not A." credits
nothing); the one letter affirmed beside rejected ones is credited ("C, not A", "C rather than A", "C
instead of A", "not A but C", "B; A is wrong"): exactly one option is affirmed, and "X, not Y" is how models
commit. A statement whose letters are all rejected credits nothing (``negated_only``), whatever the options
left: "not D" does not name one of A-C. Rejected letters make no hedge.

Letter and text. Where the credited letter has an option's whole text beside it — after it, past a
comma, colon, stop, dash, bracket or "i.e.", up to a punctuation mark ("D, the trumpet", "C. dog
barking", "B (cat)"), or before it when it is bracketed (the phrase from the last punctuation mark or
answer cue, or its ending: "the trumpet (D)", "the tone is angry (B)") — that text must be the same
option's, else ``letter_text_conflict``; in every
layer. A label with its own option's text is one option even when the text holds another letter: with
options "Room C", "Room A", "Room D", "Room B", "Choice B: Room A" credits B and "Choice A: Room A" is a
conflict. A following sentence that only starts with an option's words is no text ("D. The trumpet is
not heard." credits D).

Naming two options is refused (``multiple_options``): two different affirmed letters, or a hedge such as "A
or B", "A, C", "A/B", "A and B", "A B C D", "A-D", "not only A but also B", "A as well as B", "option a or
option b", "B or maybe C", "A或B", "\\boxed{A} or \\boxed{B}" in the statement that is read. The statement
is the whole block (layers 1-3), everything after `</think>` (layer 4; an answer given first: its line), or,
for layer 5, the line of the last answer-looking letter, starting at its last
"answer is"-style cue when it has one (so "Option A is a cat, option B a dog, so the answer is B." credits
B, "The answer is A or B" credits nothing). Hedges look at letters A-H whatever the option count, so "B or
E" is refused on a four-option item while "B, I think" is not; an "A" followed by a lower-case word that is
not in the verb list above is read as the article, so "(B) A dog barks" is not a hedge but "B or A would
fit" is. When text follows `</think>` but holds no letter, layer 5 reads the whole output, reasoning
included ("... so the answer is B</think> It barks." credits B).

Refusal reasons (`NoCredit`): ``no_answer``, ``empty_answer``, ``multiple_options``,
``letter_text_conflict``, ``letter_out_of_range`` (a block holding one letter beyond the options),
``unparseable_answer`` (a non-empty block naming no option), ``negated_only``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import islice

LETTERS = "ABCDEFGHIJ"  # the one definition: prompts, backends and stages import it from here


class Layer:
    """Which layer credited the answer. Stable strings: stored in `parse_layer` columns."""

    STRICT = "strict"
    ANSWER_TEXT = "answer_text"
    ANSWER_LETTER = "answer_letter"
    AFTER_THINK = "after_think"
    LAST_LETTER = "last_letter"


# the layers that read an answer block: the format reward credits an answer block only through them
BLOCK_LAYERS = frozenset({Layer.STRICT, Layer.ANSWER_TEXT, Layer.ANSWER_LETTER})


class NoCredit:
    """Why nothing was credited. Stable strings: users count outputs by them."""

    NO_ANSWER = "no_answer"  # nothing that looks like an answer
    EMPTY_ANSWER = "empty_answer"  # only empty answer blocks: <answer></answer>, <answer> . </answer>
    MULTIPLE_OPTIONS = "multiple_options"  # names two or more options
    LETTER_TEXT_CONFLICT = "letter_text_conflict"  # "C. <text of option A>", "I pick D, <text of A>"
    OUT_OF_RANGE = "letter_out_of_range"  # <answer>E</answer> with four options
    UNPARSEABLE = "unparseable_answer"  # a non-empty answer block that names no option
    NEGATED_ONLY = "negated_only"  # names options only to reject them: "not D", "D is wrong"


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


# ------------------------------------------------------------------------------------ normalisation
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_PUNCT = str.maketrans(
    {
        "\u3002": ".",  # 。
        "\u3001": ",",  # 、
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        **dict.fromkeys("\u3010\u3014\u3016\u3018", "["),  # 【〔〖〘
        **dict.fromkeys("\u3011\u3015\u3017\u3019", "]"),
        **dict.fromkeys("\u300c\u300d\u300e\u300f", '"'),  # 「」『』
    }
)


def normalize(text: str) -> str:
    """The copy of `text` the parser reads (options and outputs alike): invisible format characters
    dropped, NFKC (fullwidth and mathematical letters, fullwidth brackets, NBSP), CJK brackets and
    full stops and curly quotes mapped to ASCII. ASCII text is returned as is."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", _INVISIBLE.sub("", text)).translate(_PUNCT)


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
ANSWER_BLOCK, ANSWER_UNCLOSED = _BLOCK, _UNCLOSED  # public: the report marks the blocks the parser reads
_WORDCHAR = re.compile(r"[^\W_]")
_STRICT = re.compile(r"[\s*`'\"]*[(\[]?\s*([A-Za-z])\s*[)\]]?\s*[.):]?[\s*`'\"]*")
_LEAD = re.compile(r"[\s*]*(?:[(\[]\s*([A-Z])\s*[)\]]|([A-Z])\s*[.):\-\u2013])")  # "C. ", "(C)", "C:"
_LEAD_SPACE = re.compile(r"\s*([A-Z])\s+(\S.*?)\s*", re.DOTALL)  # "C dog barking"
_ARTICLE = re.compile(r"\s*(?:a|an|the)\s+")  # only before a space: "A. car horn" is a label, not "a"
_OPTION_PREFIX = re.compile(r"\s*[(\[]?([A-Z])[.):\]]\s+")  # "A. Writing" (DCASE 2025 options)
_TOKEN = re.compile(r"[^\W_]+")
_NON_WORD = re.compile(r"[\W_]+")
_NEXT_NOT_ALNUM = r"(?![A-Za-z0-9])"
_AFTER_NON_ALNUM = r"(?<![A-Za-z0-9].)"  # placed right after a letter: the character before it is no alnum


def _words(*words: str) -> str:
    """`\\b(?i:w1|w2|...)`, written to start with a character class so that `re` skips straight to the
    candidate positions: several times faster on long reasoning than a pattern opening with `\\b`."""
    firsts = "".join(sorted({w[0].lower() + w[0].upper() for w in words}))
    branches = "|".join(f"(?<=[{w[0].lower()}{w[0].upper()}])(?i:{w[1:]})" for w in words)
    return rf"[{firsts}](?<![^\W_].)(?:{branches})"


_GO_WITH_AND_CO = _words("choose", "chose", "pick", "select", r"go\s+with")
_CUE = (
    rf"(?:{_words('answer', 'choice', 'option')}s?\b\s*(?i:is|was|:|=|would\s+be|should\s+be|must\s+be"
    rf"|will\s+be)\s*:?|{_GO_WITH_AND_CO}\b)"
)
_CUE_RE = re.compile(_CUE)
_LABEL = rf"{_words('option', 'choice')}s?"
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
# after a sentence-initial capital, the words that make it the letter, not the article "A" (closed list)
_VERBS = (
    r"is|isn't|are|was|wasn't|seems|seemed|appears|looks|sounds|fits|matches|describes|corresponds|aligns|"
    r"captures|reflects|makes|remains|works|wins|would|wouldn't|should|must|could|couldn't|might|"
    r"does|doesn't|did|didn't|has|can't|cannot|won't|fails|because|since|as|rather\s+than|instead\s+of"
)
# the words after which a capital followed by a verb is the letter too ("so C is", "I think A fits")
_LEAD_IN = (
    r"(?i:so|thus|hence|therefore|then|overall|clearly|finally|and|but|or|nor|while|whereas|because|since"
    r"|though|although|yet|however|maybe|perhaps|\w+ly|yes|well|ok|okay|hmm|that|it's|it\s+is|that's|this\s+is"
    r"|i\s+think|i\s+believe|i\s+guess|i'd\s+say)"
)
# what may stand before a sentence-initial letter: a line start or a sentence end, list markers, a lead-in
_BEFORE_INITIAL = re.compile(
    rf"(?:(?:^|[.!?;:,][ \t]+|\()[ \t>*#\"'`_-]*(?:{_LEAD_IN},?\s+)?|(?<![^\W_]){_LEAD_IN},?\s+)[(\[]?\Z",
    re.MULTILINE,
)
# a bare "B." or a letter ending its line is no answer right after a noun that names things by letter
# ("vitamin C.", "plan B", "Speaker B.") or another capitalised word ("Room B."), unless that word is a
# lead-in, a copula or a verb of choosing ("So B.", "It's B.", "Pick B", "It is B.")
_NAMED_BY_LETTER = (
    r"vitamin|plan|type|grade|class|speaker|talker|person|voice|singer|room|hall|zone|area|floor|wing|gate|"
    r"door|block|building|row|seat|platform|group|team|player|section|part|chapter|appendix|exhibit|figure|"
    r"table|column|channel|track|side|point|level|category|model|version|phase|stage|step|unit|key|note|"
    r"chord|string|hepatitis|mic|microphone|sensor|site|source|sample|clip|file|item|question|task|case|"
    r"scenario|condition|variant|series|set|route|line|bus|lane|box|size|star|day|list|letter"
)
_NOUN_BEFORE = re.compile(rf"(?<![^\W_])(?:(?i:(?:{_NAMED_BY_LETTER})s?)|[A-Z][\w']*)[\s*\"'`]*\Z")
_CHOSEN_AFTER = re.compile(
    rf"(?<![^\W_])(?:{_LEAD_IN}|(?i:is|be|was|were|are|being|say|pick|choose|select|go\s+with|vote|not|no|never"
    r"|answers?|options?|choices?|final|correct|definitely))[\s*\"'`]*\Z"
)


def _named_by_letter(text: str, pos: int) -> bool:
    """Whether the capital at `pos` is part of a name ("vitamin C", "Room B"), not an answer."""
    lo = max(0, pos - 40)
    return bool(_NOUN_BEFORE.search(text, lo, pos)) and not _CHOSEN_AFTER.search(text, lo, pos)


_NOT_ARTICLE = rf"(?!(?<=A)\s+(?!(?:{_VERBS})(?![\w'-]))[a-z])"  # "A dog": the article, "A is": the letter
_INITIAL_LETTER_NEXT = rf"(?=\s*[,;:(\u2013\u2014]|\s+-\s|\s+(?:{_VERBS})(?![\w'-]))"

# negation: a letter right after one of these (a label, article or bracket between) is rejected
_NEG_TIGHT = (
    r"\b(?:no|rather\s+than|instead\s+of|other\s+than|anything\s+but|except(?:\s+for)?|excluding|"
    r"exclud(?:e|es|ed)|eliminat(?:e|es|ed|ing)|rul(?:e|es|ed|ing)\s+out|unlike|reject(?:s|ed|ing)?|"
    r"dismiss(?:es|ed|ing)?|discard(?:s|ed|ing)?|cross(?:es|ed|ing)?\s+out|neither|nor)\b"
    r"|(?:\u4e0d|\u975e|\u6ca1|\u6c92|\u65e0|\u7121|\u6392\u9664)(?:\u662f|\u9009|\u9078)?"  # 不 非 没 无 排除 (是 选)
)
# ... or up to eight words after one of these, within the clause (no punctuation but a bracketed letter's,
# no clause word between): "I don't think it's D", "not a dog barking (A) or a car horn (D)"
_NEG_VERB = r"(?:\bnot(?!\s+only\b)|n't|\bnever|\bcannot)\b"  # "not only A but also B" affirms both
_CLAUSE = (
    r"so|thus|therefore|hence|but|because|since|while|whereas|and|then|however|yet|although|though|"
    r"instead|rather"
)
# a cheap first look: the window before a letter holds a part of some negation word
_NEG_HINT = re.compile(
    r"(?i:no|n't|never|rather|instead|other|but|exce|exclu|elim|rul|unlike|reject|dismiss|discard|cross)"
    r"|[\u4e0d\u975e\u6ca1\u6c92\u65e0\u7121\u6392]"
)
_NEG_BEFORE = re.compile(
    rf"(?i:(?:{_NEG_TIGHT}|{_NEG_VERB}(?:\s+(?!(?:{_CLAUSE})\b)(?:[\w']+|[(\[]\w[)\]])){{0,8}}?)"
    r"(?:\s+(?:the\s+)?(?:options?|choices?|letters?|answers?))?[\s(\[*\"'`]*)\Z"
)
# ... or a letter followed by a rejecting predicate: "D is wrong", "(D) can be ruled out", "D isn't it"
_COPULA = (
    r"(?:is|are|was|were|seems?|seemed|looks?|appears?|sounds?|feels?"
    r"|(?:would|must|can|could|should|will|may|might)\s+be|ha(?:s|ve)\s+been|gets?|becomes?)"
)
_ADVERB = r"(?:\w+ly|also|too|just|so|quite|very|both|all|then|thus|therefore|again)"
_BAD = (
    r"(?:wrong|incorrect|false|unlikely|implausible|impossible|invalid|inaccurate|mistaken|excluded"
    r"|eliminated|ruled\s+out|out(?!\s+of))"
)
_NEG_AFTER = re.compile(
    rf"(?i:[)\]*]*(?:\s*[:\u2013\u2014(-])?\s*(?:(?:{_COPULA}\s+(?:{_ADVERB}\s+)?(?:not\s+)?)?{_BAD}\b"
    rf"|{_COPULA}\s+(?:{_ADVERB}\s+)?not\b"
    r"|(?:is|are|was|were|does|do|did|can|could|would|will|should)(?:n't|\s+not)\b|cannot\b|fail(?:s|ed)?\b)"
    r"|\s*[\u90fd\u4e5f\u5747\u7686\u5168]?\u662f?(?:\u9519|\u932f|\u4e0d\u5bf9|\u4e0d\u5c0d|\u4e0d\u6b63|\u4e0d\u662f"
    r"|\u4e0d\u7b26|\u4e0d\u53ef\u80fd|\u4e0d\u5408|\u9593\u9055|\u9055|\u8bef|\u8aa4|\u3067\u306f\u306a|\u3067\u306f\u3042"
    r"|\u3058\u3083\u306a|\u3058\u3083\u3042))"
    # (都/也) 错 不对 不正(确) 不是 不符 不可能 不合 間違 違 误 ではな ではあ(りません) じゃな
    # じゃあ(りません)
)
# the text beside a letter: after it ("D, the trumpet", "C. dog", "B (cat)"), or before a bracketed one
_GAP_AFTER = re.compile(
    r"[\s,:;.)\]\-\u2013\u2014(=*\"'`]*(?:(?i:i\.?e\.?|that\s+is|which\s+is|namely)[\s,:]*)?"
)
# LaTeX answers: `\boxed{B}`, `\text{B}`, `$B$` are read as "(B)", keeping every position (same length)
_LATEX = re.compile(r"\\(?:boxed|fbox|text\w*|math\w*|bf)\s*\{([^{}]{0,200})\}")
_DOLLAR = re.compile(r"\$([A-Za-z])\$")


def _unlatex(text: str) -> str:
    """`text` with LaTeX wrappers around a letter turned into brackets, at the same positions."""
    if "\\" not in text and "$" not in text:
        return text
    for _ in range(3):  # \boxed{\text{B}}: innermost first
        new = _LATEX.sub(lambda m: " " * (m.start(1) - m.start() - 1) + "(" + m.group(1) + ")", text)
        if new == text:
            break
        text = new
    return _DOLLAR.sub(r"(\1)", text)


# a line headed by an option's letter, as in a list of the options; an "Answer" heading line
_LIST_LINE = re.compile(
    rf"^[ \t>*#_\-\u2022\d.)]*(?:(?i:option|choice)\s+([{LETTERS}])\s+(?i:is|would|could|might)\b"
    rf"|(?:(?i:option|choice)\s+)?[(\[]?([{LETTERS}])\s*(?:[.:)\]]|[\u2013\u2014-]\s))",
    re.MULTILINE,
)
_ANSWER_HEADING = re.compile(r"^[ \t#*_]*(?i:final\s+)?(?i:answer)[ \t*_:]*\n\s*\Z", re.MULTILINE)
# a letter alone on its line: "B", "(B)."
_LONE_LETTER = re.compile(rf"^[ \t>*#-]*[(\[]?([{LETTERS}])[)\]]?[ \t*.)]*$", re.MULTILINE)
_SPAN_END = re.compile(r"[.!?;,\n()\[\]]")
_SPAN_START = re.compile(r"[.!?;:,\n(\[\]]")
_SPAN_MAX = 200  # option texts are short: a longer span is a sentence, never an option's text
_SPACES = re.compile(r"\s+")
_SUFFIX_WORDS = 12  # the phrase endings tried before a bracketed letter: option texts are a few words


@dataclass(frozen=True)
class _Patterns:
    letters: tuple[re.Pattern[str], ...]  # answer-looking letters, group 1 (or 2: lower case after a label)
    bare: tuple[re.Pattern[str], ...]  # "B.", "... B": answers unless a name ("vitamin C.") or a label
    initial: re.Pattern[str]  # a capital that is the letter if it starts a sentence (`_BEFORE_INITIAL`)
    cjk: re.Pattern[str]  # a letter beside CJK text: tried on non-ASCII text only
    hedges: tuple[re.Pattern[str], ...]  # two letters joined as a hedge, groups 1 and 2
    soft: re.Pattern[str]  # "B or maybe C": a hedge that makes no list


@lru_cache(maxsize=len(LETTERS))
def _patterns(num_choices: int) -> _Patterns:
    shown = LETTERS[:num_choices]
    letter, lower = f"([{shown}])", f"([{shown.lower()}])"
    initial_class = f"([{shown.replace('I', '')}])"  # "I, ..." and "I would ..." are the pronoun
    hedged = f"[{LETTERS[: max(num_choices, 8)]}]"
    hedged_any = f"[{LETTERS[: max(num_choices, 8)]}{LETTERS[: max(num_choices, 8)].lower()}]"
    letters = (
        re.compile(
            rf"{_CUE}[\s*]*(?:(?i:most|very|\w+ly)\s+){{0,2}}(?i:(?:option|choice)\s*)?[(\[]?[\s*]*{letter}"
            rf"{_NEXT_NOT_ALNUM}"
        ),
        # upper case after a label word; lower case too (after a label or an answer cue), when it ends the
        # phrase: "option (c)", "choice b.", "the answer is (b)", "Answer: c"
        re.compile(
            rf"(?:{_LABEL}|{_CUE}[\s*]*)\s*[(\[]?(?:{letter}{_NEXT_NOT_ALNUM}|{lower}(?:[)\]]|(?=\s*(?:[.,:;!?*\"'`]|\Z))"
            r"|(?=\s+(?:is|was|seems|fits|matches|because|since)\b)))"
        ),
        re.compile(rf"[(\[]\s*{letter}\s*[)\]]"),
        re.compile(rf"\*\*\s*{letter}\s*[.)]?\s*\*\*"),
        re.compile(rf"^[ \t>*#-]*{letter}[ \t*.)]*$", re.MULTILINE),
    )
    # "B." and a letter ending its line or the text: not after a name (`_named_by_letter`: "vitamin C.")
    bare = (
        re.compile(rf"{letter}(?<![A-Za-z0-9.].)[.)]{_NEXT_NOT_ALNUM}"),
        re.compile(rf"{letter}{_AFTER_NON_ALNUM}[^A-Za-z0-9\n]*$", re.MULTILINE),
    )
    initial = re.compile(rf"{initial_class}{_AFTER_NON_ALNUM}{_INITIAL_LETTER_NEXT}")
    cjk = re.compile(rf"{letter}(?:(?<=[{_CJK}].){_NEXT_NOT_ALNUM}|{_AFTER_NON_ALNUM}(?=[{_CJK}]))")
    conj = (
        r"(?:(?i:or|and|nor|vs\.?|but\s+also|as\s+well\s+as)\b"
        r"|\u548c|\u6216\u8005?|\u6216\u662f|\u4e0e|\u8207|\u53ca|\u8fd8\u662f|\u9084\u662f)"  # 和 或(者) 或是 与 及 还是
    )
    # a comma, "or", "A, or B" (the Oxford comma), 和/或/还是; plain spaces ("A B C D"), not "B (C is ..."
    sep = rf"(?:\s*(?:,\s*(?:{conj})?|[/&+;\-\u2013]|{conj})\s*|\s+(?![(\[]))"
    # "B or maybe C", "A, perhaps B": a hedge, but no list for a rejection to cover ("not A, or maybe B")
    soft_sep = r"\s*,?\s*(?:(?i:or|and)\s+)?(?i:maybe|perhaps|possibly|probably|even|also)\s+"
    hedges = (
        re.compile(
            rf"({hedged}){_AFTER_NON_ALNUM}[)\]]?"
            rf"(?={sep}[(\[]?(?i:option\s+)?({hedged})[)\]]?{_NEXT_NOT_ALNUM}{_NOT_ARTICLE})"
        ),
        re.compile(  # "option a or b", "choices b and c", "the answer is (a) or (b)"
            rf"(?:{_LABEL}|{_CUE}[\s*]*)\s*[(\[]?({hedged_any})[)\]]?"
            rf"(?={sep}[(\[]?(?i:(?:option|choice)\s*)?({hedged_any})[)\]]?{_NEXT_NOT_ALNUM})"
        ),
    )
    soft = re.compile(
        rf"({hedged}){_AFTER_NON_ALNUM}[)\]]?(?={soft_sep}[(\[]?(?i:option\s+)?({hedged})[)\]]?{_NEXT_NOT_ALNUM})"
    )
    return _Patterns(letters, bare, initial, cjk, hedges, soft)


def _norm(s: str) -> str:
    s = s.casefold()
    m = _ARTICLE.match(s)
    return " ".join(_NON_WORD.sub(" ", s[m.end() if m else 0 :]).split())


@dataclass(frozen=True)
class _Options:
    """What the parser needs to know about one item's options, computed once per option list."""

    keys: tuple[frozenset[str], ...]  # per option, the normalised texts that count as it
    mask: re.Pattern[str] | None  # option texts that hold a letter ("Room C"): never read as letters
    pats: _Patterns


@lru_cache(maxsize=4096)
def _options(choices: tuple[str, ...]) -> _Options:
    keys, masked = [], []
    for i, raw in enumerate(choices):
        c = normalize(raw)
        texts = [c]
        m = _OPTION_PREFIX.match(c)
        if m and m.group(1) == LETTERS[i]:  # "A. Writing": the prefix is the option's own label
            texts = [c, c[m.end() :]]
        keys.append(frozenset({_norm(t) for t in texts} - {""}))
        tokens = _TOKEN.findall(texts[-1])
        if len(tokens) > 1 and any(len(t) == 1 and t.upper() in LETTERS for t in tokens):
            masked.append(r"[\W_]+".join(map(re.escape, tokens)))
    mask = None
    if masked:
        alternatives = "|".join(sorted(set(masked), key=len, reverse=True))
        mask = re.compile(rf"(?<![^\W_])(?:{alternatives})(?![^\W_])", re.IGNORECASE)
    return _Options(tuple(keys), mask, _patterns(len(choices)))


def _match_text(s: str, keys: Sequence[frozenset[str]]) -> int | None:
    """The one option whose text `s` is, or None (also when two options share the text)."""
    n = _norm(s)
    hits = [i for i, k in enumerate(keys) if n in k]
    return hits[0] if len(hits) == 1 else None


# ------------------------------------------------------------------------------------------ reading
@dataclass(frozen=True)
class _Reading:
    index: int | None
    layer: str | None = None
    reason: str | None = None


class _Region:
    """One statement's text, as read: its answer-looking letters, hedges and negations."""

    def __init__(self, text: str, opts: _Options) -> None:
        text = _unlatex(text)
        self.text = text
        masked = text if opts.mask is None else opts.mask.sub(lambda m: "x" * len(m.group()), text)
        self.masked, self.opts = masked, opts
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
                    or _text_after(text, pos, opts.keys) is not None  # a label: "... B. cat meowing"
                ):
                    found[pos] = m.group(1)
        for m in pats.initial.finditer(masked):
            if m.start() not in found and _BEFORE_INITIAL.search(masked, max(0, m.start() - 40), m.start()):
                found[m.start()] = m.group(1)
        self.mentions = sorted(found.items())
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

    def _rejected_before(self, pos: int) -> bool:
        lo = max(0, pos - 80)
        return bool(_NEG_HINT.search(self.masked, lo, pos) and _NEG_BEFORE.search(self.masked, lo, pos))

    def _rejected_after(self, pos: int) -> bool:
        # "D: not a dog" may be option D's own text, which is no verdict on D
        return (
            bool(_NEG_AFTER.match(self.masked, pos + 1))
            and _text_after(self.text, pos, self.opts.keys) is None
        )

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

    def read(self, layer: str, lo: int = 0, hi: int | None = None) -> _Reading | None:
        """What the statement [lo, hi) names; None when it holds no letter at all."""
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
            return _Reading(None, reason=NoCredit.MULTIPLE_OPTIONS)
        if not affirmed:
            return _Reading(None, reason=NoCredit.NEGATED_ONLY) if rejected else None
        (letter,) = affirmed
        index = LETTERS.index(letter)
        for p, other in mentions:
            if other == letter and p not in negated:
                beside = _text_beside(self.text, p, self.opts.keys)
                if beside is not None and beside != index:
                    return _Reading(None, reason=NoCredit.LETTER_TEXT_CONFLICT)
        return _Reading(index, layer)

    def listing(self) -> set[int]:
        """Positions of letters that head the lines of an option list ("A. dog\\nB. cat", "- A: no bark\\n- C:
        no chirp", "Option A is ...\\nOption B is ..."): two or more such lines, letters rising."""
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
        return out & letters

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
        cues = [m.start() for m in _CUE_RE.finditer(self.masked, start, pos + 1) if m.start() <= pos]
        return start, end, cues

    def first_answer(self, layer: str) -> _Reading | None:
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
        if reading is None or reading.index is None or _CUE_RE.search(masked, end):
            return None
        letter = LETTERS[reading.index]
        if any(m.group(1) != letter for m in _LONE_LETTER.finditer(masked, end)):
            return None
        later = self.negated(end, len(masked))
        if any(p in later for p, other in self.mentions if p >= end and other == letter):
            return None
        return reading

    def last_statement(self) -> tuple[int, int] | None:
        """Layer 5's statement: the line of the last answer-looking letter (option lists aside), from its
        last cue."""
        if not self.answer_letters:
            return None
        start, end, cues = self._line(self.answer_letters[-1])
        return (cues[-1] if cues else start), end


def _text_after(text: str, pos: int, keys: Sequence[frozenset[str]]) -> int | None:
    """The option whose whole text follows the letter at `pos` ("D, the trumpet", "C. dog barking",
    "B (cat)", "C, i.e. cat"), up to a punctuation mark: the longest match over the next few."""
    start = _GAP_AFTER.match(text, pos + 1).end()
    window = text[start : start + _SPAN_MAX + 1]
    ends = [m.start() for m in islice(_SPAN_END.finditer(window), 4)]
    if len(window) <= _SPAN_MAX:
        ends.append(len(window))
    hits = [hit for hit in (_match_text(window[:end], keys) for end in ends if end > 0) if hit is not None]
    return hits[-1] if hits else None


def _text_before(text: str, pos: int, keys: Sequence[frozenset[str]]) -> int | None:
    """The option whose whole text stands before the bracketed letter at `pos` ("the trumpet (D)"),
    from the last punctuation mark or answer cue."""
    head = text[max(0, pos - _SPAN_MAX - 8) : pos].rstrip(" *")
    if not head.endswith(("(", "[")):
        return None
    before = head[:-1]
    cut = max(
        [0] + [m.end() for m in _SPAN_START.finditer(before)] + [m.end() for m in _CUE_RE.finditer(before)]
    )
    phrase = before[cut:]
    starts = [0] + [m.end() for m in _SPACES.finditer(phrase)][-_SUFFIX_WORDS:]
    for start in starts:  # the whole phrase, then its shorter endings: "the tone is angry (B)" names angry
        if phrase[start:].strip():
            hit = _match_text(phrase[start:], keys)
            if hit is not None:
                return hit
    return None


def _text_beside(text: str, pos: int, keys: Sequence[frozenset[str]]) -> int | None:
    """The option whose whole text stands beside the letter at `pos`, after it or before it."""
    after = _text_after(text, pos, keys)
    return after if after is not None else _text_before(text, pos, keys)


def _read_block(content: str, closed: bool, opts: _Options) -> _Reading:
    """What one answer block names."""
    keys = opts.keys
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
    m = _LEAD.match(content)
    if m and (m.group(1) or m.group(2)) in LETTERS[n:]:
        return _Reading(None, reason=NoCredit.OUT_OF_RANGE)
    m = _LEAD_SPACE.fullmatch(content)
    if m and m.group(1) in LETTERS[:n]:
        by_text = _match_text(m.group(2), keys)
        if by_text is not None:  # "C <an option's text>": the text must be option C's
            if by_text == LETTERS.index(m.group(1)):
                return _Reading(by_text, Layer.ANSWER_LETTER)
            return _Reading(None, reason=NoCredit.LETTER_TEXT_CONFLICT)
    reading = _Region(content, opts).read(Layer.ANSWER_LETTER)
    return reading or _Reading(None, reason=NoCredit.UNPARSEABLE)


_REFUSAL_ORDER = [
    NoCredit.MULTIPLE_OPTIONS,
    NoCredit.LETTER_TEXT_CONFLICT,
    NoCredit.OUT_OF_RANGE,
    NoCredit.NEGATED_ONLY,
    NoCredit.UNPARSEABLE,
]


def _read_blocks(blocks: list[tuple[str, bool]], opts: _Options) -> _Reading:
    """All blocks together: credited only when every non-empty block names the same option."""
    readings = [_read_block(content, closed, opts) for content, closed in blocks]
    named = [r for r in readings if r.reason != NoCredit.EMPTY_ANSWER]
    if not named:
        return _Reading(None, reason=NoCredit.EMPTY_ANSWER)
    refused = [r.reason for r in named if r.index is None]
    if refused:
        return _Reading(None, reason=min(refused, key=_REFUSAL_ORDER.index))
    if len({r.index for r in named}) > 1:
        return _Reading(None, reason=NoCredit.MULTIPLE_OPTIONS)
    return named[0]


def _read_last_letter(body: str, opts: _Options, reasoning: bool) -> _Reading:
    """Layer 5: the last answer-looking letter, read within its statement; an answer given first and
    explained after, when the body is no reasoning (no think tag)."""
    region = _Region(body, opts)
    first = None if reasoning else region.first_answer(Layer.LAST_LETTER)
    if first is not None:
        return first
    span = region.last_statement()
    if span is None:
        return _Reading(None, reason=NoCredit.NO_ANSWER)
    return region.read(Layer.LAST_LETTER, *span) or _Reading(None, reason=NoCredit.NO_ANSWER)


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
    text = normalize(text)
    blocks = [(m.group(1), True) for m in _BLOCK.finditer(text)]
    unclosed = _UNCLOSED.search(text)
    if unclosed:
        blocks.append((unclosed.group(1), False))
    if blocks:
        reading = _read_blocks(blocks, opts)
    else:
        closes = list(THINK_CLOSE.finditer(text))
        after = None
        if closes:
            region = _Region(ANY_TAG.sub("\n", text[closes[-1].end() :]), opts)
            after = region.first_answer(Layer.AFTER_THINK) or region.read(Layer.AFTER_THINK)
        reading = after or _read_last_letter(ANY_TAG.sub("\n", text), opts, bool(THINK_OPEN.search(text)))
    if reading.index is None:
        return ParsedAnswer(None, None, None, None, reading.reason)
    return ParsedAnswer(reading.index, LETTERS[reading.index], choices[reading.index], reading.layer)
