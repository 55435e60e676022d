"""Where an output commits, and where it takes a commitment back: corrections and conclusions that start
the last statement ("Wait, no", "Final:", "Non, plutôt"), comparisons that name two options without
choosing ("between B and C"), and conclusions that choose none ("impossible to tell"). English, Spanish,
French, German, Chinese and Japanese."""

from __future__ import annotations

import re

from .verdict import LETTERS

# a correction or conclusion: when a statement names two options, the part from the last of these on is
# the one that counts ("B. Wait, no — D.", "A? Hmm. Maybe C... Final: C", "Je dirais A. Non, plutôt C.")
RESTART = re.compile(
    r"(?i:\b(?:wait|actually|hmm+|on\s+second\s+thought|correction|scratch\s+that|final(?:ly)?"
    r"|instead|so|thus|therefore|hence|(?:in\s+)?conclusion|(?:in\s+)?summary|to\s+sum\s+up|overall|in\s+the\s+end|after\s+all"
    r"|espera|en\s+realidad|mejor|finalmente|por\s+lo\s+tanto|as[ií]\s+que|entonces"
    r"|en\s+fait|finalement|donc|en\s+conclusion"
    r"|eigentlich|doch|schlie(?:ß|ss)lich|daher|deshalb|letztlich)\b|\b(?:no|non|nein)\s*[,:;\u2014\u2013-])"
    r"|(?i:\bzusammenfassend|\ben\s+r[ée]sum[ée]|\ben\s+resumen)|总之|綜上|综上|まとめ|不对|不對|其实|其實|等等|最终|最終|所以|因此|いや|やっぱり|やはり|結局|したがって|つまり"
    # self-corrections: "I correct myself", "rather", "I mean" in Spanish, French, German, Chinese, Japanese
    r"|(?i:\b(?:(?:me\s+)?corrijo|rectifico|mejor\s+dicho|correcci[oó]n|pens[aá]ndolo\s+(?:mejor|bien)"
    r"|(?:je\s+)?(?:me\s+)?corrige|plut[oô]t|r[ée]flexion\s+faite|(?:ich\s+)?korrigiere|korrektur|berichtige"
    r"|eher|ich\s+meine|vielmehr|besser\s+gesagt|i\s+mean|make\s+that|sorry|my\s+mistake|oops"
    r"|perd[oó]n|me\s+equivoqu[ée]|error\s+m[ií]o|pardon|je\s+rectifie|je\s+me\s+suis\s+tromp[ée]e?|enfin\s+non"
    r"|moment|verzeihung|entschuldigung|ich\s+habe\s+mich\s+geirrt|mein\s+fehler)\b)"
    r"|改为|改為|改选|改選|更正|订正|訂正|修正|应该是|應該是|还是选|還是選|仔细想想|仔細想想|再想想|不过|不過"
    r"|不\s*,|変更|考え直|抱歉|应为|應為|(?<=[,.!?;:\s嗯哦唔啊])(?:还是|還是)"
    r"|間違えま|間違えた|失礼|すみません|ごめん"
    r"|(?<=,)(?=[^,.!?\n]{0,12}(?:に変更|に訂正|に修正|に直))"  # "Aを選びましたが、Cに変更します"
)
# a first impression taken back: "At first I thought B, but it is D", "Primero pensé en la B, pero...",
# "Au début j'ai cru ..., mais ...", "最初は…と思いましたが、…": the turn ("but") starts the last statement
FIRST_THOUGHT = re.compile(
    r"(?i:\b(?:at\s+first|initially|originally|first\s+i\s+(?:thought|heard|guessed)|i\s+first\s+(?:thought|heard)"
    r"|primero|al\s+principio|en\s+un\s+principio|au\s+d[ée]but|d'abord|au\s+premier\s+abord|zuerst|anfangs"
    r"|erst\s+dachte|zun[äa]chst)\b)|最初は?|一开始|一開始|起初|刚开始|剛開始|はじめは|初めは"
)
_TURN = re.compile(
    r"(?i:\b(?:but|pero|mais|aber|doch|sino|sondern)\b)|但是?|可是|不过|不過|が[、,]|けど|けれど"
)
_FIRST_THOUGHT_REACH = 160  # characters from the first impression to its turn


def restart_starts(text: str, lo: int, hi: int) -> list[int]:
    """Sorted starts in [lo, hi) of the corrections and conclusions (`RESTART`) and of the turns that
    take a first impression back (`FIRST_THOUGHT` ... "but")."""
    starts = {m.start() for m in RESTART.finditer(text, lo, hi)}
    for m in FIRST_THOUGHT.finditer(text, lo, hi):
        turn = _TURN.search(text, m.end(), min(hi, m.end() + _FIRST_THOUGHT_REACH))
        if turn is not None:
            starts.add(turn.start())
    return sorted(starts)


# "between B and C", "left with B and C", "B vs C": a comparison, which names neither (what follows decides)
_L = f"[{LETTERS}]"
BETWEEN = re.compile(
    rf"(?i:\b(?:between|entre|zwischen|left\s+with|narrow(?:ed|s)?\s+(?:it\s+)?down\s+to)\s+"
    r"(?:(?:options?|choices?|opciones|les\s+options|la|las|les)\s+)?)"
    rf"[(\[]?({_L})[)\]]?\s*(?i:and|y|et|und|&|or|o|ou|oder)\s*(?i:(?:option|choice)\s+)?[(\[]?({_L})[)\]]?(?![\w])"
    rf"|在?[(\[]?({_L})[)\]]?\s*(?:和|与|與|跟)\s*[(\[]?({_L})[)\]]?\s*(?:之间|之間)"
    rf"|(?<![\w])[(\[]?({_L})[)\]]?\s+(?i:vs\.?|versus)\s+[(\[]?({_L})[)\]]?(?![\w])"
)
BETWEEN_KEYS = (
    "etween",
    "ntre",
    "wischen",
    "之间",
    "之間",
    "left with",
    "down to",
    "vs",
    "versus",
)  # substrings: a cheap look before `BETWEEN`
# a conclusion that commits to no option
UNDECIDED = re.compile(
    r"(?i:\b(?:impossible|not\s+possible|hard|difficult)\s+to\s+(?:tell|determine|say|know|decide|choose)"
    r"|\b(?:cannot|can\s*not|can't|unable\s+to|could\s+not|couldn't)\s+(?:be\s+)?(?:reliably\s+|confidently\s+)?"
    r"(?:tell|determined?|decide|say|identif(?:y|ied)|distinguish)"
    r"|\b(?:not\s+sure|unsure|undecided|torn)\s+(?:between|whether|which)\b"
    r"|\bnone\s+of\s+the\s+(?:options|choices|above|answers)|\bnot\s+enough\s+information"
    r"|\binsufficient\s+(?:information|evidence)|\bno\s+(?:clear|definitive|single)\s+answer|\binconclusive"
    r"|\bimposible\s+(?:de\s+)?(?:saber|determinar|decir)|\bno\s+(?:se\s+)?(?:puede|es\s+posible)\s+(?:determinar|saber|decir)"
    r"|\bimpossible\s+de\s+(?:dire|d[ée]terminer|savoir|trancher)|\bne\s+peut\s+pas\s+[êe]tre\s+d[ée]termin"
    r"|\bnicht\s+(?:eindeutig\s+|sicher\s+)?(?:zu\s+)?(?:bestimmen|sagen|entscheiden|erkennen)|\bunm[öo]glich\s+zu)"
    r"|无法(?:确定|判断|判定|区分)|無法(?:確定|判斷)|不能确定|难以(?:判断|确定)|判断できません|特定できません"
    r"|判別できません|(?:分|わ)かりません"
)
