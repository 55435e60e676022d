"""Answer-looking letters: the cues, labels and sentence shapes that make a capital an answer, not a word."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .verdict import LETTERS

_NEXT_NOT_ALNUM = r"(?![A-Za-z0-9])"
_AFTER_NON_ALNUM = r"(?<![A-Za-z0-9].)"  # placed right after a letter: the character before it is no alnum


def _words(*words: str) -> str:
    """`\\b(?i:w1|w2|...)`, written to start with a character class so that `re` skips straight to the
    candidate positions: several times faster on long reasoning than a pattern opening with `\\b`."""
    firsts = "".join(sorted({w[0].lower() + w[0].upper() for w in words}))
    branches = "|".join(f"(?<=[{w[0].lower()}{w[0].upper()}])(?i:{w[1:]})" for w in words)
    return rf"[{firsts}](?<![^\W_].)(?:{branches})"


_GO_WITH_AND_CO = _words(
    "choose",
    "chose",
    "pick",
    "select",
    r"go\s+with",
    "choisis",
    "elijo",
    "escojo",
    "wähle",
    r"me\s+quedo\s+con",
)
# "the answer is", "answer:", `"answer": `, "I choose"; "la respuesta es", "la réponse est", "die Antwort ist"
_CUE = (
    rf"(?:{_words('answer', 'choice', 'option')}s?\b[\"']?\s*(?i:is|was|:|=|would\s+be|should\s+be|must\s+be"
    rf"|will\s+be)\s*:?|{_words('respuesta', 'réponse', 'reponse', 'antwort', 'lösung')}"
    r"(?i:\s+(?:correcta|final|correcte|finale|richtige))?\b[\"']?\s*(?i:es|est|ist|lautet|serait|ser[ií]a|w[äa]re|:|=)"
    rf"\s*:?|{_words('conclusion', 'verdict', 'correction')}\**\s*:|{_GO_WITH_AND_CO}\b)"
)
# ... and in Chinese and Japanese (答案是, 答案为, 答案：, 答えは, 答え：, 正解は, 所以选, 我选), where a letter
# beside CJK text is read anyway (`_Patterns.cjk`): these only mark where an answer statement starts
_CJK_CUE = r"(?:答案|答え|正解)\s*(?:是|为|為|は|:|=)|(?:所以|因此|故|我)(?:选|選)(?:择|擇)?"
_CUE_RE = re.compile(_CUE)
CUE_OR_CJK_CUE = re.compile(f"{_CUE}|{_CJK_CUE}")  # tried on text that is not ASCII only
_ARTICLE = r"(?i:(?:la|el|le|die|der)\s+|l')?"  # "la respuesta es la B", "c'est la réponse C"
_LABEL = rf"{_words('option', 'choice', 'opción', 'opcion', 'alternativa', 'réponse', 'respuesta')}s?"
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
# after a sentence-initial capital, the words that make it the letter, not the article "A" (closed list)
_VERBS = (
    r"is|isn't|are|was|wasn't|seems|seemed|appears|looks|sounds|fits|matches|describes|corresponds|aligns|"
    r"captures|reflects|makes|remains|works|wins|would|wouldn't|should|must|could|couldn't|might|"
    r"does|doesn't|did|didn't|has|can't|cannot|won't|fails|because|since|as|rather\s+than|instead\s+of|"
    # Spanish, French, German: "B ist richtig", "A es la correcta", "C est juste", "D passt"
    r"ist|war|w[äa]re|passt|scheint|klingt|es|era|ser[ií]a|parece|encaja|est|[ée]tait|serait|semble|convient"
)
# the words after which a capital followed by a verb is the letter too ("so C is", "I think A fits")
_LEAD_IN = (
    r"(?i:so|thus|hence|therefore|then|overall|clearly|finally|and|but|or|nor|while|whereas|because|since"
    r"|though|although|yet|however|maybe|perhaps|\w+ly|yes|well|ok|okay|hmm|that|it's|it\s+is|that's|this\s+is"
    r"|i\s+think|i\s+believe|i\s+guess|i'd\s+say|sondern|sino|mais|pero|aber|plut[oô]t|eher|donc|alors"
    r"|entonces|pues|daher|c'est|es|ist|je\s+dirais|dir[ií]a|vielleicht|peut-[êe]tre|quiz[aá]s?|tal\s+vez)"
)
# what may stand before a sentence-initial letter: a line start or a sentence end, list markers, a lead-in
_BEFORE_INITIAL = re.compile(
    rf"(?:(?:^|[.!?;:,]\**[ \t]+|\()[ \t>*#\"'`_-]*(?:{_LEAD_IN},?\s+)?|(?<![^\W_]){_LEAD_IN},?\s+)[(\[]?\Z",
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
# a line headed by an option's letter, as in a list of the options; an "Answer" heading line
_LIST_LINE = re.compile(
    rf"^[ \t>*#_\-\u2022\d.)]*(?:(?i:option|choice)\s+([{LETTERS}])\s+(?i:is|would|could|might)\b"
    rf"|(?:(?i:option|choice)\s+|\u9009\u9879|\u9078\u9805|\u9078\u629e\u80a2)?[(\[]?([{LETTERS}])\s*(?:[.:)\]]|[\u2013\u2014-]\s))",
    re.MULTILINE,
)
# a bullet or a bold heading led by an option's letter ("* Option B (Siren): ...", "- B: ...", "**Option B:**"):
# a listing of that option wherever it stands, even alone (an analysis cut off after its first bullet)
_BULLET_HEAD = re.compile(
    rf"^[ \t>]*(?:(?:[-\u2022+]|\*(?!\*)|\d+[.)])[ \t]+(?:\*\*)?(?:(?i:option|choice)\s+)?|\*\*(?i:option|choice)\s+)"
    rf"[(\[]?([{LETTERS}])[)\]]?(?:\*\*)?[ \t]*(?:[.:)\]]|\(|[\u2013\u2014-]\s)",
    re.MULTILINE,
)
_ANSWER_HEADING = re.compile(r"^[ \t#*_]*(?i:final\s+)?(?i:answer)[ \t*_:]*\n\s*\Z", re.MULTILINE)
# a letter alone on its line: "B", "(B)."
_LONE_LETTER = re.compile(rf"^[ \t>*#-]*[(\[]?([{LETTERS}])[)\]]?[ \t*.)]*$", re.MULTILINE)


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
            rf"{_CUE}[\s*\"']*(?:(?i:most|very|\w+ly|\w+mente|wahrscheinlich|eindeutig|sicher|clairement|probablement)"
            rf"\s+){{0,2}}{_ARTICLE}(?i:(?:option|choice|opci[oó]n|alternativa|r[ée]ponse)\s*)?[(\[]?[\s*\"']*{letter}"
            rf"{_NEXT_NOT_ALNUM}"
        ),
        # upper case after a label word; lower case too (after a label or an answer cue), when it ends the
        # phrase: "option (c)", "choice b.", "the answer is (b)", "Answer: c"
        re.compile(
            rf"(?:{_LABEL}|{_CUE}[\s*\"']*{_ARTICLE})\s*[(\[]?(?:{letter}{_NEXT_NOT_ALNUM}|{lower}(?:[)\]]|(?=\s*(?:[.,:;!?*\"'`]|\Z))"
            r"|(?=\s+(?:is|was|seems|fits|matches|because|since)\b)))"
        ),
        re.compile(rf"[(\[]\s*{letter}\s*[)\]]"),
        # a capital after a Spanish, French or German article: "es la C", "c'est la D", "ich nehme die B"
        re.compile(
            rf"[lLeEdD](?<![^\W_].)(?:(?<=[lL])(?i:a\s+|e\s+|'\s*)|(?<=[eE])(?i:l\s+)|(?<=[dD])(?i:ie\s+)){letter}{_NEXT_NOT_ALNUM}"
        ),
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
        r"(?:(?i:or|and|nor|vs\.?|but\s+also|as\s+well\s+as|oder|und|ou|et|soit|o|y)\b"
        r"|\u548c|\u6216\u8005?|\u6216\u662f|\u4e0e|\u8207|\u53ca|\u8fd8\u662f|\u9084\u662f)"  # 和 或(者) 或是 与 及 还是
    )
    # a comma, "or", "A, or B" (the Oxford comma), 和/或/还是; plain spaces ("A B C D"), not "B (C is ..."
    sep = rf"(?:\s*(?:,\s*(?:{conj})?|[/&+;\-\u2013]|{conj})\s*|\s+(?![(\[]))"
    # "B or maybe C", "A, perhaps B": a hedge, but no list for a rejection to cover ("not A, or maybe B")
    soft_sep = r"\s*,?\s*(?:(?i:or|and)\s+)?(?i:maybe|perhaps|possibly|probably|even|also)\s+"
    hedges = (
        re.compile(
            rf"({hedged}){_AFTER_NON_ALNUM}[)\]]?"
            rf"(?={sep}(?:(?:la|el|le|die|der)\s+|l')?[(\[]?(?i:option\s+)?({hedged})[)\]]?{_NEXT_NOT_ALNUM}{_NOT_ARTICLE})"
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
