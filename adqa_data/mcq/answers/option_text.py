"""Option texts: the normalised forms that count as each option, and the text standing beside a letter."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice

from .letters import _CUE_RE, _Patterns, _patterns
from .normalise import normalize
from .verdict import LETTERS

# only before a space: "A. car horn" is a label, not "a"; Spanish, French and German articles too ("la
# circulation", "die Vögel", "l'orage")
_ARTICLE = re.compile(r"\s*(?:(?:a|an|the|la|las|el|los|le|les|die|der|das|den)\s+|l')")
_OPTION_PREFIX = re.compile(r"\s*[(\[]?([A-Z])[.):\]]\s+")  # "A. Writing" (DCASE 2025 options)
_TOKEN = re.compile(r"[^\W_]+")
_NON_WORD = re.compile(r"[\W_]+")
# the text beside a letter: after it ("D, the trumpet", "C. dog", "B (cat)"), or before a bracketed one
_GAP_AFTER = re.compile(
    r"[\s,:;.)\]\-\u2013\u2014(=*\"'`]*(?:(?i:i\.?e\.?|that\s+is|which\s+is|namely|it's|it\s+is|also|d\.\s?h\.|das\s+hei(?:ß|ss)t"
    r"|c'est-[àa]-dire|c'est|es\s+decir|o\s+sea|es)[\s,:]*|也就是说?|也就是|即|つまり|すなわち)?"
)
_SPAN_END = re.compile(r"[.!?;,\n()\[\]]|です|でしょう|だと|と思")  # "二番目の雷の音です"
_SPAN_START = re.compile(r"[.!?;:,\n(\[\]]")
_SPAN_MAX = 200  # option texts are short: a longer span is a sentence, never an option's text
_SPACES = re.compile(r"\s+")
_CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_CJK_CHAR = re.compile(f"[{_CJK_CHARS}]")
# a number option written in Chinese or Japanese numerals before a counter word (次 回 个 声 下 遍 つ ...)
_CJK_NUMERALS = ["一", "二|两|兩", "三", "四", "五", "六", "七", "八", "九", "十"]
_CJK_NUMERAL_CHARS = "一二两兩三四五六七八九十百千"
_CJK_COUNTER = "[次回个個声聲下遍つ人种種只隻种类類段位名件度秒]"
_SUFFIX_WORDS = 12  # the phrase endings tried before a bracketed letter: option texts are a few words


# numbers read as digits in option texts and outputs alike: "two taps" is the option "2 taps"
NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty"
).split()
# ... and in Spanish, French and German (a word that is also an article or an English word is left out:
# "un", "una", "ein", "once", "elf", "null"); German counts may end in "mal" ("viermal", "vier Mal")
_NUMBER_WORDS_OTHER = {
    "es": "cero - dos tres cuatro cinco seis siete ocho nueve diez - doce trece catorce quince".split(),
    "fr": "zéro - deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze".split(),
    "de": "- eins zwei drei vier fünf sechs sieben acht neun zehn - zwölf dreizehn vierzehn fünfzehn".split(),
}
_NUMBER_FORMS = [
    [NUMBER_WORDS[i]]
    + [
        words[i] + ("(?:mal)?" if lang == "de" else "")
        for lang, words in _NUMBER_WORDS_OTHER.items()
        if i < len(words) and words[i] != "-"
    ]
    for i in range(len(NUMBER_WORDS))
]
_DIGITS = {w: str(i) for i, w in enumerate(NUMBER_WORDS)} | {
    w: str(i) for words in _NUMBER_WORDS_OTHER.values() for i, w in enumerate(words) if w != "-"
}


def _norm(s: str) -> str:
    s = s.casefold()
    m = _ARTICLE.match(s)
    return " ".join(_DIGITS.get(w, w) for w in _NON_WORD.sub(" ", s[m.end() if m else 0 :]).split())


def _token_pattern(token: str, last: bool) -> str:
    """A token of an option text as it may be written: case free (the finder ignores case), a number
    as digits or as its word, the last word in the singular or the plural ("bell", "bells")."""
    if token.isdigit() and int(token) < len(NUMBER_WORDS):
        return f"(?:{token}|{'|'.join(dict.fromkeys(_NUMBER_FORMS[int(token)]))})"
    if token in _DIGITS:
        return f"(?:{token}|{_DIGITS[token]})"
    if last and len(token) > 3 and token.isascii() and token.isalpha():
        if token.endswith("s") and not token.endswith(("ss", "us", "is")):
            return re.escape(token[:-1]) + "(?:e?s)?"
        return re.escape(token) + "(?:e?s)?"
    return re.escape(token)


def _finder(keys: Sequence[frozenset[str]]) -> tuple[re.Pattern[str] | None, tuple[int | None, ...]]:
    """One alternation of every option's normalised texts, longest first, so that at each position the
    longest option wins ("church bell" before "bell") and the scan over an output is one pass; and,
    per alternative (named group), its option (None for a text two options share). Tokens are joined
    by any run of non-word characters ("church-bells"); a text starting or ending in a CJK character
    needs no word boundary there ("答案是鸟鸣")."""
    owners: dict[str, set[int]] = {}
    for i, key in enumerate(keys):
        for form in key:
            owners.setdefault(form, set()).add(i)
    forms = sorted(owners, key=lambda k: (-len(k), k))
    alternatives, owner = [], []
    for form in forms:
        tokens = form.split()
        body = r"[\W_]+".join(_token_pattern(t, k == len(tokens) - 1) for k, t in enumerate(tokens))
        head = "" if _CJK_CHAR.match(form[0]) else r"(?<![^\W_])"
        tail = "" if _CJK_CHAR.match(form[-1]) else r"(?![^\W_])"
        if form.isdigit():  # "4回", "3つ", "一共4次": a digit before a counter, after CJK text
            tail = rf"(?:{tail}|(?={_CJK_COUNTER}))"
            head = rf"(?:{head}|(?<=[{_CJK_CHARS}]))"
        alternatives.append(f"(?P<t{len(owner)}>{head}{body}{tail})")
        owner.append(next(iter(owners[form])) if len(owners[form]) == 1 else None)
        if form.isdigit() and 0 < int(form) <= len(_CJK_NUMERALS):  # "三次", "两次敲门声", "三回です"
            numeral = _CJK_NUMERALS[int(form) - 1]
            alternatives.append(
                f"(?P<t{len(owner)}>(?<![{_CJK_NUMERAL_CHARS}])(?:{numeral})(?={_CJK_COUNTER}))"
            )
            owner.append(owner[-1])
    if not alternatives:
        return None, ()
    return re.compile("|".join(alternatives), re.IGNORECASE), tuple(owner)


def find_texts(text: str, opts: _Options) -> list[tuple[int, int, int]]:
    """Every option text in `text`, as (start, end, option index), leftmost-longest and not
    overlapping; a text two options share is no one's."""
    if opts.finder is None:
        return []
    out = []
    for m in opts.finder.finditer(text):
        hit = opts.owner[int(m.lastgroup[1:])]
        if hit is not None:
            out.append((m.start(), m.end(), hit))
    return out


@dataclass(frozen=True)
class _Options:
    """What the parser needs to know about one item's options, computed once per option list."""

    keys: tuple[frozenset[str], ...]  # per option, the normalised texts that count as it
    mask: re.Pattern[str] | None  # option texts that hold a letter ("Room C"): never read as letters
    pats: _Patterns
    finder: re.Pattern[str] | None  # every option's texts, longest first (`find_texts`)
    owner: tuple[int | None, ...]  # the option of each of the finder's alternatives


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
    return _Options(tuple(keys), mask, _patterns(len(choices)), *_finder(keys))


def _match_text(s: str, keys: Sequence[frozenset[str]]) -> int | None:
    """The one option whose text `s` is, or None (also when two options share the text)."""
    n = _norm(s)
    hits = [i for i, k in enumerate(keys) if n in k]
    return hits[0] if len(hits) == 1 else None


def whole_text(s: str, opts: _Options) -> int | None:
    """The one option whose whole text `s` is: by its normalised forms, else as the finder reads texts
    (plural, numbers as words: "sirens", "two taps" for "2 taps"), so letter/text agreement and the
    texts read as answers use one matching."""
    hit = _match_text(s, opts.keys)
    if hit is not None or opts.finder is None:
        return hit
    m = opts.finder.fullmatch(s.strip(" \t\n.,;:!?\"'`*"))
    return None if m is None else opts.owner[int(m.lastgroup[1:])]


def _text_after(text: str, pos: int, opts: _Options) -> int | None:
    """The option whose whole text follows the letter at `pos` ("D, the trumpet", "C. dog barking",
    "B (cat)", "C, i.e. cat"), up to a punctuation mark: the longest match over the next few."""
    start = _GAP_AFTER.match(text, pos + 1).end()
    window = text[start : start + _SPAN_MAX + 1]
    ends = [m.start() for m in islice(_SPAN_END.finditer(window), 4)]
    if len(window) <= _SPAN_MAX:
        ends.append(len(window))
    hits = [hit for hit in (whole_text(window[:end], opts) for end in ends if end > 0) if hit is not None]
    return hits[-1] if hits else None


def _text_before(text: str, pos: int, opts: _Options) -> int | None:
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
            hit = whole_text(phrase[start:], opts)
            if hit is not None:
                return hit
    return None


def _text_beside(text: str, pos: int, opts: _Options) -> int | None:
    """The option whose whole text stands beside the letter at `pos`, after it or before it."""
    after = _text_after(text, pos, opts)
    return after if after is not None else _text_before(text, pos, opts)
