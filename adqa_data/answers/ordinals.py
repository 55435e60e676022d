"""Options named by their position: "the third option", "option two", "the last choice", "第三个",
"la tercera opción", "die dritte Option", "la troisième" (English, Chinese, Japanese, Spanish, French,
German). A bare ordinal in prose ("the third time", "first, ...") is no answer: an ordinal counts only
beside a word for an option, or, in French and Spanish, as a noun after its article ("la troisième")."""

from __future__ import annotations

import re

# position words per language, first to fourth (a four-option item is the norm; "fifth" ... are read too)
_EN = ["first", "second", "third", "fourth", "fifth", "sixth"]
_EN_NUM = ["1st", "2nd", "3rd", "4th", "5th", "6th"]
_CARDINAL = ["one", "two", "three", "four", "five", "six"]
_ES = ["primera", "segunda", "tercera", "cuarta", "quinta", "sexta"]
_ES_M = ["primer", "segundo", "tercer", "cuarto", "quinto", "sexto"]
_FR = ["premi[eè]re", "deuxi[eè]me|seconde", "troisi[eè]me", "quatri[eè]me", "cinqui[eè]me", "sixi[eè]me"]
_DE = ["erste", "zweite", "dritte", "vierte", "f[uü]nfte", "sechste"]
_ZH = "一二三四五六"
_LAST = {"en": "last", "es": "[uú]ltima|[uú]ltimo", "fr": "derni[eè]re|dernier", "de": "letzte"}


def _group(words: list[str], prefix: str) -> str:
    return "|".join(f"(?P<{prefix}{i}>{w})" for i, w in enumerate(words))


_OPTION_EN = r"(?:options?|choices?|ones?|alternatives?)"
_PATTERNS = [
    # "the third option", "the 2nd choice", "the last one"
    rf"(?i:\b(?:the\s+)?(?:{_group(_EN, 'a')}|{_group(_EN_NUM, 'b')}|(?P<last1>{_LAST['en']}))\s+{_OPTION_EN}\b)",
    # "option two", "choice #3", "option number 2"
    rf"(?i:\b(?:option|choice)\s+(?:number\s+|no\.?\s*|#\s*)?(?:{_group(_CARDINAL, 'c')}|"
    rf"{_group([str(i) for i in range(1, 7)], 'd')})\b)",
    # "la tercera opción", "la tercera", "el último"
    rf"(?i:\b(?:la|el)\s+(?:{_group(_ES, 'e')}|{_group(_ES_M, 'f')}|(?P<last2>{_LAST['es']}))"
    r"(?:\s+(?:opci[oó]n|alternativa|respuesta))?\b)",
    # "la troisième (option)", "la dernière"
    rf"(?i:\b(?:la|le|l')\s*(?:{_group(_FR, 'g')}|(?P<last3>{_LAST['fr']}))(?:\s+(?:option|r[eé]ponse|proposition))?\b)",
    # "die dritte Option", "die letzte Antwort", "Option drei" is rare and left out
    rf"(?i:\b(?:die|der|das)?\s*(?:{_group(_DE, 'h')}|(?P<last4>{_LAST['de']}))[nrs]?\s+(?:Option|Antwort|M[oö]glichkeit|Wahl)\b)",
    # "第三个", "第三项", "第3个选项", "第三の選択肢"
    rf"第(?:{_group(list(_ZH), 'i')}|{_group([str(i) for i in range(1, 7)], 'j')})\s*(?:个|個|项|項|选项|選項|の|番)",
    # "3番目", "三番目"
    rf"(?:{_group(list(_ZH), 'k')}|{_group([str(i) for i in range(1, 7)], 'l')})\s*番目",
]
# an English ordinal hedged with the next one, its noun shared: "the first or the second option"
_HEDGED_FIRST = re.compile(rf"(?i:\b({'|'.join(_EN + _EN_NUM)}|last)\s+(?:or|and)\s+)\Z")
ORDINAL = re.compile("|".join(f"(?:{p})" for p in _PATTERNS))


# every ordinal above holds one of these: a plain substring test skips the pattern on most outputs
_KEYS = (
    "first second third fourth fifth sixth last 1st 2nd 3rd 4th 5th 6th option choice primer segund tercer "
    "cuart quint sext ltim premi deuxi troisi quatri cinqui sixi derni erste zweite dritte vierte nfte "
    "sechste letzte 第 番目"
).split()


def find_ordinals(text: str, num_choices: int) -> list[tuple[int, int, int]]:
    """Every option named by its position in `text`, as (start, end, option index), within the options."""
    low = text.lower()
    if not any(key in low for key in _KEYS):
        return []
    out = []
    for m in ORDINAL.finditer(text):
        name = m.lastgroup or ""
        index = num_choices - 1 if name.startswith("last") else int(name[1:])
        if 0 <= index < num_choices:
            out.append((m.start(), m.end(), index))
        other = _HEDGED_FIRST.search(text, max(0, m.start() - 30), m.start())
        if other:  # "the first or the second option": the first is an ordinal too
            word = other.group(1).lower()
            index = (
                num_choices - 1 if word == "last" else _EN.index(word) if word in _EN else _EN_NUM.index(word)
            )
            if 0 <= index < num_choices:
                out.append((other.start(1), other.end(1), index))
    return sorted(out)
