"""Rejections of a letter: words before it ("not D", "rather than A") or a predicate after it ("D is wrong")."""

from __future__ import annotations

import re

# negation: a letter right after one of these (a label, article or bracket between) is rejected
_NEG_TIGHT = (
    r"\b(?:no|rather\s+than|instead\s+of|other\s+than|anything\s+but|except(?:\s+for)?|excluding|"
    r"exclud(?:e|es|ed)|eliminat(?:e|es|ed|ing)|rul(?:e|es|ed|ing)\s+out|unlike|reject(?:s|ed|ing)?|"
    r"dismiss(?:es|ed|ing)?|discard(?:s|ed|ing)?|cross(?:es|ed|ing)?\s+out|(?:neither|nor)(?:\s+(?:is|was|are|were|do|does|did))?|without|than"
    # Spanish, French, German: ni, weder/noch, sauf, excepto, statt, au lieu de, en vez de, plutôt que
    r"|ni|weder|noch|sauf|excepto|salvo|au(?:ß|ss)er|statt|anstatt|au\s+lieu\s+de|en\s+(?:lugar|vez)\s+de"
    r"|plut[oô]t\s+que|pas|descarto|descartamos|descartar|exclu(?:s|ons)?|[ée]limin(?:e|ons|er)|nunca|jamais|nie)\b"
    r"|(?:\u4e0d|\u975e|\u6ca1|\u6c92|\u65e0|\u7121|\u6392\u9664)(?:\u662f|\u9009|\u9078)?"  # 不 非 没 无 排除 (是 选)
)
# ... or up to eight words after one of these, within the clause (no punctuation but a bracketed letter's,
# no clause word between): "I don't think it's D", "not a dog barking (A) or a car horn (D)"
_NEG_VERB = (
    r"(?:\bnot(?!\s+only\b)|n't|\bnever|\bcannot|\bnicht(?!\s+nur\b)|\bkeine?[nrms]?|\bno\s+(?:es|era|ser[ií]a|creo|son|eran|fue|fueron|est[aá]n?)"
    r"|\bn'(?:est|a|y\s+a))\b"
)  # "not only A but also B" affirms both
_CLAUSE = (
    r"so|thus|therefore|hence|but|because|since|while|whereas|and|then|however|yet|although|though|"
    r"instead|rather|sondern|sino|mais|pero|aber|donc|alors|entonces|daher|deshalb|porque|weil|denn"
)
# a cheap first look: where a part of some negation word stands (lower case; "no" covers not, nor, none,
# non, nothing; "n'" covers n't and French n'est), found with plain substring searches
_HINT_KEYS = (
    "no n' never neither than rather instead other but exce exclu elim rul unlike reject dismiss discard cross without "
    "ni weder nicht kein pas sauf salvo außer ausser statt lieu lugar vez plut descart jamais nie "
    "\u4e0d \u975e \u6ca1 \u6c92 \u65e0 \u7121 \u6392"  # 不 非 没 沒 无 無 排
).split()
_NEG_HINT = re.compile("|".join(map(re.escape, _HINT_KEYS)), re.IGNORECASE)


def hint_positions(text: str) -> list[int]:
    """Sorted starts of the negation hints in `text`: one substring search per key on the lower-cased
    text (many times faster than one pattern tried at every position), the pattern where lower-casing
    changes the length."""
    low = text.lower()
    if len(low) != len(text):
        return [m.start() for m in _NEG_HINT.finditer(text)]
    out = []
    for key in _HINT_KEYS:
        i = low.find(key)
        while i >= 0:
            out.append(i)
            i = low.find(key, i + 1)
    return sorted(out)


_NEG_BEFORE = re.compile(
    rf"(?i:(?:{_NEG_TIGHT}|{_NEG_VERB}(?:\s+(?!(?:{_CLAUSE})\b)(?:[\w']+|[(\[]\w[)\]])){{0,8}}?)"
    r"(?:\s+(?:(?:the|la|le|el|die|der|das)\s+)?(?:options?|choices?|letters?|answers?|opci[oó]n|r[ée]ponse"
    r"|respuesta|antwort))?(?:\s+(?:la|le|el|die|der|das|l'|les|des|du|de\s+la|los|las|un|une|una|unos|unas"
    r"|ein|eine|einen))?[\s(\[*\"'`]*)\Z"
)
# ... or a letter followed by a rejecting predicate: "D is wrong", "(D) can be ruled out", "D isn't it"
_COPULA = (
    r"(?:is|are|was|were|seems?|seemed|looks?|appears?|sounds?|feels?"
    r"|(?:would|must|can|could|should|will|may|might)\s+be|ha(?:s|ve)\s+been|gets?|becomes?"
    r"|ist|sind|w[äa]re|scheint|es|son|ser[ií]a|parece|est|sont|serait|semble)"
)
_ADVERB = r"(?:\w+ly|also|too|just|so|quite|very|both|all|then|thus|therefore|again)"
_BAD = (
    r"(?:wrong|incorrect|false|unlikely|implausible|impossible|invalid|inaccurate|mistaken|excluded"
    r"|eliminated|ruled\s+out|out(?!\s+of)|too\s+\w+|falsch|ausgeschlossen|unwahrscheinlich|faux|fausse|incorrecte"
    r"|[ée]limin[ée]e?|exclue?|improbable|incorrect[ao]|err[oó]ne[ao]|descartad[ao]|imposible)"
)
_NEG_AFTER = re.compile(
    rf"(?i:[)\]*]*(?:\s*[:\u2013\u2014(-])?\s*(?:(?:{_COPULA}\s+(?:{_ADVERB}\s+)?(?:not\s+)?)?{_BAD}\b"
    rf"|{_COPULA}\s+(?:{_ADVERB}\s+)?(?:not|nicht|kein)\b|no\s+(?:es|encaja|corresponde|parece|puede)\b"
    r"|n'(?:est|a|y)\b|(?:passt|ist|klingt|kommt)\s+(?:es\s+)?(?:nicht|kein)\b|ne\s+(?:correspond|convient)\b"
    r"|(?:is|are|was|were|does|do|did|can|could|would|will|should)(?:n't|\s+not)\b|cannot\b|fail(?:s|ed)?\b)"
    r"|(?:\.{2,3}|\u2026)?\s*[\u90fd\u4e5f\u5747\u7686\u5168\u306f\u3082]?\u662f?(?:\u3067[\u306f\u3082][\u306a\u3042]|\u9519|\u932f|\u4e0d\u5bf9|\u4e0d\u5c0d|\u4e0d\u6b63|\u4e0d\u662f"
    r"|\u4e0d\u7b26|\u4e0d\u53ef\u80fd|\u4e0d\u5408|\u9593\u9055|\u9055|\u8bef|\u8aa4|\u3067\u306f\u306a|\u3067\u306f\u3042"
    r"|\u3058\u3083\u306a|\u3058\u3083\u3042))"
    # (都/也) 错 不对 不正(确) 不是 不符 不可能 不合 間違 違 误 ではな ではあ(りません) じゃな
    # じゃあ(りません)
)
