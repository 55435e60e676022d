"""Options named by their position: "the third option", "option two", "the last choice", "the second.",
"第三个", "最后一个", "三つ目", "最後の選択肢", "la tercera (opción)", "el último", "la troisième", "die
dritte (Option)", "Ich nehme die zweite." (English, Chinese, Japanese, Spanish, French, German). A bare
ordinal in prose ("the third time", "first, ...", "la primera vez", "die erste Hälfte") is no answer: an
ordinal counts beside a word for an option, or after its article when nothing follows it but a
punctuation mark, a verb of fitting ("die letzte passt") or a clause word ("la troisième car ...")."""

from __future__ import annotations

import re

# position words per language, first to sixth (a four-option item is the norm)
_EN = ["first", "second", "third", "fourth", "fifth", "sixth"]
_EN_NUM = ["1st", "2nd", "3rd", "4th", "5th", "6th"]
_CARDINAL = ["one", "two", "three", "four", "five", "six"]
_ES = ["primera", "segunda", "tercera", "cuarta", "quinta", "sexta"]
_ES_M = ["primero?", "segundo", "tercero?", "cuarto", "quinto", "sexto"]
_FR = [
    "premi[eè]re|premier",
    "deuxi[eè]me|seconde?",
    "troisi[eè]me",
    "quatri[eè]me",
    "cinqui[eè]me",
    "sixi[eè]me",
]
_DE = ["erste", "zweite", "dritte", "vierte", "f[uü]nfte", "sechste"]
_ZH = "一二三四五六"
_CARDINAL_OTHER = [
    "uno|un|eins",
    "dos|deux|zwei",
    "tres|trois|drei",
    "cuatro|quatre|vier",
    "cinco|cinq|f[uü]nf",
    "seis|six|sechs",
]
_LAST = {"en": "last", "es": "[uú]ltima|[uú]ltimo", "fr": "derni[eè]re|dernier", "de": "letzte"}


def _group(words: list[str], prefix: str) -> str:
    return "|".join(f"(?P<{prefix}{i}>{w})" for i, w in enumerate(words))


_OPTION_EN = r"(?:options?|choices?|ones?|alternatives?)"
# what may follow an ordinal that stands alone for an option: a punctuation mark or the end, "of the
# options", a verb of fitting, a clause word ("I'd go with the second.", "die letzte passt", "la
# troisième car ...")
_ALONE = (
    r"(?=\s*(?:[.,;:!?)\]*\"'\n\u2013\u2014]|\Z)|\s+(?i:of|de|des|der|among|unter|von)\s+(?i:the|las|los|les|den)?\s*"
    r"(?i:options?|choices?|opciones|alternativas|optionen|antworten|m[öo]glichkeiten)\b"
    r"|\s+(?i:seems|fits|matches|sounds|because|since|parece|encaja|suena|coincide|porque|pues|semble"
    r"|correspond|convient|car|parce|puisque|passt|klingt|stimmt|scheint|trifft|weil|denn)\b)"
)
_ORD_NOUN_ZH = r"(?:选项|選項|答案|选择|選擇)"
_ORD_NOUN_JA = r"(?:選択肢|もの|オプション|答え|やつ)"
_PATTERNS = [
    # "the third option", "the 2nd choice", "the last one"
    rf"(?i:\b(?:the\s+)?(?:{_group(_EN, 'a')}|{_group(_EN_NUM, 'b')}|(?P<last1>{_LAST['en']}))\s+{_OPTION_EN}\b)",
    # "the second.", "the last fits": alone after its article
    rf"(?i:\bthe\s+(?:{_group(_EN, 'm')}|{_group(_EN_NUM, 'n')}|(?P<last5>{_LAST['en']}))){_ALONE}",
    # "option two", "choice #3", "option number 2"
    rf"(?i:\b(?:option|choice)\s+(?:number\s+|no\.?\s*|#\s*)?(?:{_group(_CARDINAL, 'c')}|"
    rf"{_group([str(i) for i in range(1, 7)], 'd')})\b)",
    # "opción número dos", "Option zwei", "l'option deux", "选项三", "選択肢3"
    rf"(?i:\b(?:opci[oó]n|alternativa|option|choix|m[öo]glichkeit|antwort)\s+(?:n[uú]mero\s+|num[ée]ro\s+|nummer\s+|nr\.?\s*|n[°º]\s*)?"
    rf"(?:{_group(_CARDINAL_OTHER, 'q')})\b)",
    rf"(?:选项|選項|選択肢)\s*(?:{_group(list(_ZH), 'r')}|{_group([str(i) for i in range(1, 7)], 's')})(?![\d一二三四五六七八九十])",
    # "la tercera opción", "la tercera.", "el último"
    rf"(?i:\b(?:la|el)\s+(?:{_group(_ES, 'e')}|{_group(_ES_M, 'f')}|(?P<last2>{_LAST['es']}))"
    rf"(?:\s+(?:opci[oó]n|alternativa|respuesta)\b|\b{_ALONE}))",
    # "la troisième option", "la troisième.", "le dernier"
    rf"(?i:\b(?:la|le|l')\s*(?:{_group(_FR, 'g')}|(?P<last3>{_LAST['fr']}))"
    rf"(?:\s+(?:option|r[eé]ponse|proposition|choix)\b|\b{_ALONE}))",
    # "die dritte Option", "dritte Antwort", "die zweite.", "die letzte passt"
    rf"(?i:\b(?:(?:die|der|das)\s+)?(?:{_group(_DE, 'h')}|(?P<last4>{_LAST['de']}))[nrs]?\s+(?:Option|Antwort|M[oö]glichkeit|Wahl|Alternative)\b)",
    rf"(?i:\b(?:die|der|das)\s+(?:{_group(_DE, 'o')}|(?P<last6>{_LAST['de']}))[nrs]?\b){_ALONE}",
    # "第三个", "第三项", "第3个选项", "第三の選択肢", "第二个选项"
    rf"第\s*(?:{_group(list(_ZH), 'i')}|{_group([str(i) for i in range(1, 7)], 'j')})\s*"
    rf"(?:(?:个|個|项|項|种|種)(?![声聲音字词詞人次下])|{_ORD_NOUN_ZH}|番目?|の)(?:{_ORD_NOUN_ZH}|の{_ORD_NOUN_JA}|{_ORD_NOUN_JA})?",
    # "最后一个", "最後の選択肢", "最初のもの"
    rf"(?:最后|最後)\s*(?:一个|一個|一项|一項|那个|那個|的{_ORD_NOUN_ZH}|个{_ORD_NOUN_ZH})(?![声聲音字词詞人次下])(?P<last7>){_ORD_NOUN_ZH}?",
    rf"(?:最後(?P<last8>)|(?P<p0>最初))の{_ORD_NOUN_JA}",
    # "3番目", "三番目の選択肢", "三つ目", "二番目の" (before an option's text)
    rf"(?:{_group(list(_ZH), 'k')}|{_group([str(i) for i in range(1, 7)], 'l')})\s*(?:番目|つ目)(?:の{_ORD_NOUN_JA})?の?",
]
ORDINAL = re.compile("|".join(f"(?:{p})" for p in _PATTERNS))
# an ordinal hedged with the next one, its noun shared: "the first or the second option", "la première ou
# la deuxième"
_HEDGED_FIRST = re.compile(
    rf"(?i:\b(?:{_group(_EN, 'a')}|{_group(_EN_NUM, 'b')}|{_group(_ES, 'e')}|{_group(_ES_M, 'f')}|{_group(_FR, 'g')}"
    rf"|{_group(_DE, 'h')}|(?P<last1>last|[uú]ltim[ao]|derni[eè]re?|letzte))[nrs]?"
    r"\s+(?:or|and|o|y|ou|et|oder|und)\s+)\Z"
)


# every ordinal above holds one of these: a plain substring test skips the pattern on most outputs
_KEYS = (
    "first second third fourth fifth sixth last 1st 2nd 3rd 4th 5th 6th option choice primer segund tercer "
    "cuart quint sext ltim premi deuxi troisi quatri cinqui sixi derni erste zweite dritte vierte nfte "
    "sechste letzte 第 番目 つ目 最 选项 選項 選択肢 opci choix glichkeit antwort"
).split()


def _index(name: str, num_choices: int) -> int:
    return num_choices - 1 if name.startswith("last") else int(name[1:])


def find_ordinals(text: str, num_choices: int) -> list[tuple[int, int, int]]:
    """Every option named by its position in `text`, as (start, end, option index), within the options."""
    low = text.lower()
    if not any(key in low for key in _KEYS):
        return []
    out = []
    for m in ORDINAL.finditer(text):
        index = _index(m.lastgroup or "", num_choices)
        if 0 <= index < num_choices:
            out.append((m.start(), m.end(), index))
        other = _HEDGED_FIRST.search(text, max(0, m.start() - 30), m.start())
        if other:  # "the first or the second option": the first is an ordinal too
            index = _index(other.lastgroup or "", num_choices)
            if 0 <= index < num_choices:
                out.append((other.start(), other.end(), index))
    return sorted(out)
