"""Answer-parser cases for seven classes of what models write in English, Chinese, Japanese, Spanish, French
and German: self-corrections, ordinals without the word "option", ordinals beside an option's text, marked
markdown tables, numbers spelled out, true/false options explained after a dash, and CJK answer cues after
an elimination chain. Written from the class descriptions before the parser was changed, in wordings of
their own; each class has negative controls (a listing, a hedge, a contradiction) that must credit nothing.

Each case: the options (letters A-J by position), a model's output, the one option it commits to (its
letter) or None, and other defensible readings in 'also'; same format as parser_corpus_independent.py."""

from __future__ import annotations

SFX = ["Footsteps", "Siren", "Thunder", "Applause"]
ZH = ["狗叫", "猫叫", "鸟鸣", "汽车喇叭"]
JA = ["雨の音", "波の音", "風の音", "雷の音"]
ES = ["Lluvia", "Aplausos", "Tráfico", "Pájaros"]
FR = ["Pluie", "Applaudissements", "Circulation", "Oiseaux"]
DE = ["Regen", "Applaus", "Verkehr", "Vögel"]
LANG = ["English", "Spanish", "German", "Portuguese"]
COUNT = ["1", "2", "3", "4"]
INSTR = ["Piano", "Violin", "Trumpet", "Drums"]


def _case(
    cid: str, options: list[str], output: str, expected: str | None, lang: str, cls: str, style: str, **kw
) -> dict:
    return {
        "id": cid,
        "options": options,
        "output": output,
        "expected": expected,
        "style": style,
        "lang": lang,
        "cls": cls,
        **kw,
    }


_CORRECTIONS = [
    # zh
    ("zh-1", ZH, "我先选A，不过再听一遍，高频的啁啾声更像鸟叫，改为C。", "C", "zh"),
    ("zh-2", ZH, "答案是B。更正：答案应该是D，能听到明显的喇叭声。", "D", "zh"),
    ("zh-3", ZH, "一开始我觉得是A……仔细想想，应该是C。", "C", "zh"),
    ("zh-4", ZH, "选B吧？不，还是选D，喇叭声很明显。", "D", "zh"),
    ("zh-5", ZH, "初步判断为A。再听一次后改选B。", "B", "zh"),
    ("zh-6", ZH, "我的答案：C。更正为A，这是狗叫声。", "A", "zh"),
    # ja
    ("ja-1", JA, "答えはAです。訂正します、Cです。", "C", "ja"),
    ("ja-2", JA, "Bだと思いました。やっぱりDです。", "D", "ja"),
    ("ja-3", JA, "A…いや、Bですね。波の音がはっきり聞こえます。", "B", "ja"),
    ("ja-4", JA, "最初はAを選びましたが、Cに変更します。", "C", "ja"),
    ("ja-5", JA, "正解はBです。いや、訂正：正解はDです。", "D", "ja"),
    # es
    ("es-1", ES, "La respuesta es A. Corrijo: es la C.", "C", "es"),
    ("es-2", ES, "Elijo la B, mejor dicho, la D.", "D", "es"),
    ("es-3", ES, "Diría que A. No, espera, es la B.", "B", "es"),
    ("es-4", ES, "Respuesta: C. Rectifico: la respuesta correcta es A.", "A", "es"),
    ("es-5", ES, "Me inclino por la D... no, espera: se oyen aplausos, así que B.", "B", "es"),
    # fr
    ("fr-1", FR, "Je choisis A. Je corrige : c'est la D.", "D", "fr"),
    ("fr-2", FR, "La réponse est B, ou plutôt C.", "C", "fr"),
    ("fr-3", FR, "Je dirais C. Non, en fait, c'est B.", "B", "fr"),
    ("fr-4", FR, "Réponse : A... non, en fait D.", "D", "fr"),
    ("fr-5", FR, "J'avais mis B, mais je me corrige : la bonne réponse est A.", "A", "fr"),
    # de
    ("de-1", DE, "Die Antwort ist A. Ich korrigiere: C.", "C", "de"),
    ("de-2", DE, "B? Nein, doch D.", "D", "de"),
    ("de-3", DE, "Ich würde A sagen, eher aber C.", "C", "de"),
    ("de-4", DE, "Die Antwort ist B, ich meine D.", "D", "de"),
    ("de-5", DE, "Zuerst dachte ich an A. Korrektur: B ist richtig, man hört Klatschen.", "B", "de"),
    # negative controls: a hedge, a comparison, a correction to a hedge, a correction that lands on nothing
    ("neg-zh", ZH, "可能是A，也可能是C，我无法确定。", None, "zh"),
    ("neg-es", ES, "Podría ser la A o la C.", None, "es"),
    ("neg-de", DE, "Ich schwanke zwischen A und C.", None, "de"),
    ("neg-fr", FR, "Je corrige : A ou C.", None, "fr"),
    ("neg-ja", JA, "AかCです。", None, "ja"),
    ("neg-ja2", JA, "Aです。いや、やっぱり分かりません。", None, "ja"),
    ("neg-zh2", ZH, "答案是B。更正：B或D。", None, "zh"),
]

_ORDINALS = [
    ("de-1", DE, "Ich nehme die zweite.", "B", "de"),
    ("de-2", DE, "Die letzte passt am besten.", "D", "de"),
    ("de-3", DE, "Eindeutig die dritte.", "C", "de"),
    ("de-4", DE, "Meine Wahl: die erste.", "A", "de"),
    ("es-1", ES, "Me quedo con la segunda.", "B", "es"),
    ("es-2", ES, "La cuarta, sin duda.", "D", "es"),
    ("es-3", ES, "Yo diría que es la tercera.", "C", "es"),
    ("es-4", ["Piano", "Violín", "Tambor", "Bajo"], "El último.", "D", "es"),
    ("fr-1", FR, "Je choisis la deuxième.", "B", "fr"),
    ("fr-2", FR, "C'est la dernière.", "D", "fr"),
    ("fr-3", FR, "La première, clairement.", "A", "fr"),
    ("fr-4", ["Piano", "Violon", "Tambour", "Orgue"], "Le troisième.", "C", "fr"),
    ("zh-1", ZH, "选第二个。", "B", "zh"),
    ("zh-2", ZH, "最后一个。", "D", "zh"),
    ("zh-3", ZH, "应该是第四项。", "D", "zh"),
    ("zh-4", ZH, "我选第一个，因为有明显的狗叫声。", "A", "zh"),
    ("ja-1", JA, "二番目です。", "B", "ja"),
    ("ja-2", JA, "最後のものだと思います。", "D", "ja"),
    ("ja-3", JA, "最初の選択肢が正しいです。", "A", "ja"),
    ("ja-4", JA, "三つ目です。", "C", "ja"),
    ("en-1", SFX, "I'd go with the second.", "B", "en"),
    ("en-2", SFX, "The last.", "D", "en"),
    ("en-3", SFX, "Definitely the third one.", "C", "en"),
    # negative controls: ordinals that count events, not options; a hedge between two positions
    ("neg-es", ES, "La primera vez suena suave y la segunda más fuerte.", None, "es"),
    ("neg-de", DE, "Die erste Hälfte ist leise, die zweite laut.", None, "de"),
    ("neg-zh", ZH, "第一声很轻，第二声很响。", None, "zh"),
    ("neg-en", SFX, "Either the first or the second.", None, "en"),
    ("neg-fr", FR, "La première ou la deuxième.", None, "fr"),
    ("neg-ja", JA, "一つ目か二つ目です。", None, "ja"),
    ("neg-en2", SFX, "The first second of the clip is silent, then a loud crack.", None, "en"),
]

_ORDINAL_TEXT = [
    ("en-1", SFX, "The second one, thunder.", None, "en"),
    ("en-2", SFX, "The third one: thunder.", "C", "en"),
    ("en-3", SFX, "I'll pick the first choice — applause.", None, "en"),
    ("en-4", SFX, "The last option (applause).", "D", "en"),
    ("zh-1", ZH, "第二个选项：鸟鸣", None, "zh"),
    ("zh-2", ZH, "第三个选项：鸟鸣", "C", "zh"),
    ("zh-3", ZH, "选第一个，汽车喇叭。", None, "zh"),
    ("zh-4", ZH, "最后一个，汽车喇叭。", "D", "zh"),
    ("ja-1", JA, "三番目の「風の音」です。", "C", "ja"),
    ("ja-2", JA, "二番目の雷の音です。", None, "ja"),
    ("ja-3", JA, "最初の選択肢、波の音です。", None, "ja"),
    ("es-1", ES, "La segunda opción, tráfico.", None, "es"),
    ("es-2", ES, "La tercera: tráfico.", "C", "es"),
    ("es-3", ES, "Elijo la primera, pájaros.", None, "es"),
    ("fr-1", FR, "La deuxième, la circulation.", None, "fr"),
    ("fr-2", FR, "La troisième option (circulation).", "C", "fr"),
    ("fr-3", FR, "La dernière : oiseaux.", "D", "fr"),
    ("de-1", DE, "Die zweite Option, Verkehr.", None, "de"),
    ("de-2", DE, "Die dritte, also Verkehr.", "C", "de"),
    ("de-3", DE, "Ich nehme die erste: Vögel.", None, "de"),
]


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


_TABLES = [
    (
        "first-col-en",
        LANG,
        "Comparing accents:\n\n"
        + _table(
            ["", "Option", "Note"],
            [
                ["✗", "A. English", "no diphthongs"],
                ["✗", "B. Spanish", "no nasal vowels"],
                ["✗", "C. German", "no uvular r"],
                ["✔", "D. Portuguese", "nasal vowels, sibilant s"],
            ],
        ),
        "D",
        "en",
    ),
    (
        "first-col-zh",
        ZH,
        _table(
            ["结论", "选项", "理由"],
            [
                ["❌", "A 狗叫", "没有吠声"],
                ["✅", "B 猫叫", "有喵喵声"],
                ["❌", "C 鸟鸣", "没有啁啾"],
                ["❌", "D 汽车喇叭", "没有喇叭"],
            ],
        ),
        "B",
        "zh",
    ),
    (
        "first-col-de",
        DE,
        _table(
            ["✓?", "Option", "Begründung"],
            [
                ["", "A) Regen", "kein Prasseln"],
                ["", "B) Applaus", "kein Klatschen"],
                ["✓", "C) Verkehr", "Motoren"],
                ["", "D) Vögel", "kein Zwitschern"],
            ],
        ),
        "C",
        "de",
    ),
    (
        "verdict-en",
        SFX,
        _table(
            ["Option", "Rhythmic", "Outdoor", "Fits"],
            [
                ["A. Footsteps", "yes", "yes", "no"],
                ["B. Siren", "no", "yes", "yes"],
                ["C. Thunder", "no", "yes", "no"],
                ["D. Applause", "yes", "no", "no"],
            ],
        ),
        "B",
        "en",
    ),
    (
        "verdict-checks-en",
        INSTR,
        _table(
            ["Choice", "Sustained", "Harmonic", "Match"],
            [
                ["A (Piano)", "❌", "✅", "❌"],
                ["B (Violin)", "✅", "✅", "✅"],
                ["C (Trumpet)", "✅", "✅", "❌"],
                ["D (Drums)", "❌", "❌", "❌"],
            ],
        )
        + "\n\nOnly one row matches everything.",
        "B",
        "en",
    ),
    (
        "verdict-zh",
        ZH,
        _table(
            ["选项", "有节奏", "户外", "符合"],
            [
                ["A", "是", "是", "否"],
                ["B", "否", "否", "否"],
                ["C", "是", "是", "是"],
                ["D", "否", "是", "否"],
            ],
        ),
        "C",
        "zh",
    ),
    (
        "verdict-ja",
        JA,
        _table(
            ["選択肢", "連続音", "低音", "一致"],
            [
                ["A. 雨の音", "○", "×", "×"],
                ["B. 波の音", "○", "○", "○"],
                ["C. 風の音", "○", "×", "×"],
                ["D. 雷の音", "×", "○", "×"],
            ],
        ),
        "B",
        "ja",
    ),
    (
        "verdict-de",
        DE,
        _table(
            ["Option", "Draußen", "Rhythmisch", "Passt"],
            [
                ["Regen", "ja", "nein", "nein"],
                ["Applaus", "nein", "ja", "nein"],
                ["Verkehr", "ja", "nein", "nein"],
                ["Vögel", "ja", "ja", "ja"],
            ],
        ),
        "D",
        "de",
    ),
    (
        "verdict-es",
        ES,
        _table(
            ["Opción", "Exterior", "Ritmo", "Coincide"],
            [
                ["A", "sí", "no", "sí"],
                ["B", "no", "sí", "no"],
                ["C", "sí", "no", "no"],
                ["D", "sí", "sí", "no"],
            ],
        ),
        "A",
        "es",
    ),
    (
        "verdict-fr",
        FR,
        _table(
            ["Option", "Extérieur", "Rythme", "Correspond"],
            [
                ["A. Pluie", "oui", "non", "non"],
                ["B. Applaudissements", "non", "oui", "oui"],
                ["C. Circulation", "oui", "non", "non"],
                ["D. Oiseaux", "oui", "oui", "non"],
            ],
        ),
        "B",
        "fr",
    ),
    (
        "verdict-answer-en",
        LANG,
        _table(
            ["Language", "Rolled r", "Nasal vowels", "Answer"],
            [
                ["English", "✗", "✗", "✗"],
                ["Spanish", "✓", "✗", "✓"],
                ["German", "✗", "✗", "✗"],
                ["Portuguese", "✓", "✓", "✗"],
            ],
        ),
        "B",
        "en",
    ),
    # negative controls: two rows marked in the verdict column; two checks in the first column; only
    # feature columns with several yes and no verdict column
    (
        "neg-verdict-two",
        SFX,
        _table(
            ["Option", "Outdoor", "Verdict"],
            [
                ["A. Footsteps", "yes", "no"],
                ["B. Siren", "yes", "yes"],
                ["C. Thunder", "yes", "yes"],
                ["D. Applause", "no", "no"],
            ],
        ),
        None,
        "en",
    ),
    (
        "neg-first-col-two",
        LANG,
        _table(
            ["", "Option"],
            [["✔", "A. English"], ["✗", "B. Spanish"], ["✔", "C. German"], ["✗", "D. Portuguese"]],
        ),
        None,
        "en",
    ),
    (
        "neg-features-only",
        SFX,
        _table(
            ["Option", "Outdoor", "Loud"],
            [
                ["A. Footsteps", "yes", "no"],
                ["B. Siren", "yes", "yes"],
                ["C. Thunder", "yes", "yes"],
                ["D. Applause", "no", "yes"],
            ],
        ),
        None,
        "en",
    ),
    (
        "neg-verdict-zh-two",
        ZH,
        _table(
            ["选项", "符合"],
            [["A 狗叫", "是"], ["B 猫叫", "是"], ["C 鸟鸣", "否"], ["D 汽车喇叭", "否"]],
        ),
        None,
        "zh",
    ),
]

_NUMBERS = [
    ("es-1", COUNT, "Cuatro golpes.", "D", "es"),
    ("es-2", COUNT, "Se oyen tres pitidos en total.", "C", "es"),
    ("es-3", COUNT, "Dos.", "B", "es"),
    ("es-4", COUNT, "Es un sonido corto, repetido tres veces.", "C", "es"),
    ("de-1", COUNT, "Drei Schläge.", "C", "de"),
    ("de-2", COUNT, "Ich zähle zwei Klopfgeräusche.", "B", "de"),
    ("de-3", COUNT, "Vier Mal.", "D", "de"),
    ("fr-1", COUNT, "quatre", "D", "fr"),
    ("fr-2", COUNT, "J'entends trois coups.", "C", "fr"),
    ("fr-3", COUNT, "Deux fois.", "B", "fr"),
    ("zh-1", COUNT, "四下", "D", "zh"),
    ("zh-2", COUNT, "一共敲了三下。", "C", "zh"),
    ("zh-3", COUNT, "四次。", "D", "zh"),
    ("ja-1", COUNT, "四回", "D", "ja"),
    ("ja-2", COUNT, "三つ", "C", "ja"),
    ("ja-3", COUNT, "ベルは二回鳴っています。", "B", "ja"),
    # negative controls: a range, a hedge; an article that is no number
    ("neg-es", COUNT, "Entre tres y cuatro golpes.", None, "es"),
    ("neg-de", COUNT, "Zwei oder drei.", None, "de"),
    ("neg-zh", COUNT, "三次或四次", None, "zh"),
    ("neg-fr", COUNT, "Trois ou quatre coups, difficile à dire.", None, "fr"),
    ("neg-ja", COUNT, "三回か四回です。", None, "ja"),
]

_BOOLEANS = [
    ("en-1", ["True", "False"], "True — the pitch rises at the end.", "A", "en"),
    ("en-2", ["True", "False"], "False, the speaker's tone stays flat throughout.", "B", "en"),
    ("en-3", ["True", "False"], "True: two distinct voices can be heard.", "A", "en"),
    ("en-4", ["Correct", "Incorrect"], "Incorrect — the recording was made indoors.", "B", "en"),
    ("en-5", ["Correct", "Incorrect"], "Correct: the engine accelerates near the end.", "A", "en"),
    ("en-6", ["Yes", "No"], "Yes - a dog barks twice near the start.", "A", "en"),
    ("en-7", ["True", "False"], "False — it is true that the voice is male, but the pitch falls.", "B", "en"),
    ("fr-1", ["Vrai", "Faux"], "Faux — la voix est masculine.", "B", "fr"),
    ("fr-2", ["Vrai", "Faux"], "Vrai, on entend bien la pluie.", "A", "fr"),
    ("de-1", ["Richtig", "Falsch"], "Falsch: Es ist eine Frauenstimme.", "B", "de"),
    ("de-2", ["Richtig", "Falsch"], "Richtig – der Ton steigt am Ende an.", "A", "de"),
    ("zh-1", ["正确", "错误"], "错误——音调是下降的。", "B", "zh"),
    ("zh-2", ["正确", "错误"], "正确，可以听到两个人在说话。", "A", "zh"),
    ("ja-1", ["正しい", "間違い"], "間違い：声は男性です。", "B", "ja"),
    ("ja-2", ["正しい", "間違い"], "正しい。雨の音が聞こえます。", "A", "ja"),
    ("es-1", ["Verdadero", "Falso"], "Falso: la voz es de un hombre.", "B", "es"),
    # negative controls: a question left open, a hedge
    ("neg-en", ["True", "False"], "True or false? Hard to say — it could be either.", None, "en"),
    ("neg-fr", ["Vrai", "Faux"], "Vrai ou faux, impossible de trancher.", None, "fr"),
    ("neg-zh", ["正确", "错误"], "正确还是错误？无法确定。", None, "zh"),
]

_CJK_CUES = [
    (
        "ja-1",
        ["高い音", "低い音", "中くらいの音", "無音"],
        "Aは高すぎるのでAではありません。Bは低すぎるのでBでもありません。Dは音があるのでDでもありません。答え：C",
        "C",
        "ja",
    ),
    ("ja-2", JA, "Aは違います。Bも違います。Cも違います。正解はD", "D", "ja"),
    ("ja-3", JA, "Aではない。Cでもない。Dでもない。したがって、答えはBです。", "B", "ja"),
    ("ja-4", JA, "選択肢Aではありません。Dでもありません。Bでもありません。答え：C", "C", "ja"),
    ("zh-1", ZH, "A不对，因为音调太高。B也不是。D也不符合。答案：C", "C", "zh"),
    ("zh-2", ZH, "不是A。也不是B。所以选D", "D", "zh"),
    ("zh-3", ZH, "排除A和B。C也不对。答案是D", "D", "zh"),
    ("zh-4", ZH, "A不是，C不是，D也不是。答案：Ｂ", "B", "zh"),
    ("zh-5", ZH, "首先A不可能，没有狗叫。B也不可能。D不符合。正确答案是C。", "C", "zh"),
    ("zh-6", ZH, "A错，B错，C错。最终答案：D", "D", "zh"),
    # negative controls: a cue that names nothing, a hedged cue, a cue on a rejected letter
    ("neg-ja", JA, "Aではありません。Bでもありません。答え：分かりません", None, "ja"),
    ("neg-zh", ZH, "A不对。B也不对。答案：C或D", None, "zh"),
    ("neg-zh2", ZH, "A不对，B也不对，答案：无法确定。", None, "zh"),
]

# a second round, written after the first fixes to probe other wordings of each class (73 of 91 read as
# graded before the second round of fixes)
_SECOND_ROUND = [
    ("correction", "r2-1", ZH, "答案：B\n\n等一下，我再听了一遍，其实是D。", "D", "zh"),
    ("correction", "r2-2", ZH, "选A。\n不对不对，应该选C。", "C", "zh"),
    ("correction", "r2-3", ZH, "我认为是B，但是更正一下：正确答案为A。", "A", "zh"),
    ("correction", "r2-4", ZH, "**答案：C**\n\n（修改：经过复查，答案改为B）", "B", "zh"),
    ("correction", "r2-5", ZH, "最终答案是A——抱歉，应为D。", "D", "zh"),
    ("correction", "r2-6", ZH, "A。嗯，还是B吧。", "B", "zh"),
    (
        "correction",
        "r2-7",
        JA,
        "答え：B\n\n…と思いましたが、よく聞くとDでした。訂正してDとします。",
        "D",
        "ja",
    ),
    ("correction", "r2-8", JA, "Cです。あ、間違えました。Aです。", "A", "ja"),
    ("correction", "r2-9", JA, "Bを選びます。いいえ、やはりCにします。", "C", "ja"),
    ("correction", "r2-10", JA, "答えはA…ではなく、Bです。", "B", "ja"),
    ("correction", "r2-11", ES, "Respuesta: B. Perdón, me equivoqué: es la D.", "D", "es"),
    ("correction", "r2-12", ES, "Creo que es la A; corrección: la C.", "C", "es"),
    ("correction", "r2-13", ES, "La C. Bueno, pensándolo mejor, la B.", "B", "es"),
    ("correction", "r2-14", ES, "Opción A... o mejor dicho, la opción D.", "D", "es"),
    ("correction", "r2-15", FR, "Réponse : B. Pardon, je rectifie : A.", "A", "fr"),
    ("correction", "r2-16", FR, "C, ou plutôt non : D.", "D", "fr"),
    ("correction", "r2-17", FR, "Je pensais à A, mais finalement c'est la B.", "B", "es"),
    ("correction", "r2-18", FR, "La bonne réponse est D… enfin non, C.", "C", "fr"),
    ("correction", "r2-19", DE, "Antwort: C. Moment, ich korrigiere mich – B.", "B", "de"),
    ("correction", "r2-20", DE, "A, nein, eigentlich D.", "D", "de"),
    ("correction", "r2-21", DE, "Ich tippe auf B – nein, doch eher C.", "C", "de"),
    ("correction", "r2-22", DE, "Die richtige Antwort ist D. Korrigiere: A.", "A", "de"),
    ("correction", "r2-23", ZH, "答案是A还是C？我不确定。", None, "zh"),
    ("correction", "r2-24", ES, "A. Corrijo: A o B, no estoy seguro.", None, "es"),
    ("correction", "r2-25", DE, "Vielleicht A, vielleicht C.", None, "de"),
    ("ordinal-bare", "r2-1", SFX, "My answer is the fourth.", "D", "en"),
    ("ordinal-bare", "r2-2", SFX, "Going with the first.", "A", "en"),
    ("ordinal-bare", "r2-3", SFX, "The third fits best.", "C", "en"),
    ("ordinal-bare", "r2-4", ES, "Sin duda la última.", "D", "es"),
    ("ordinal-bare", "r2-5", ES, "Escojo la opción número dos.", "B", "es"),
    ("ordinal-bare", "r2-6", FR, "Je pencherais pour la quatrième.", "D", "es"),
    ("ordinal-bare", "r2-7", FR, "Le premier choix.", "A", "fr"),
    ("ordinal-bare", "r2-8", DE, "Die Vierte.", "D", "de"),
    ("ordinal-bare", "r2-9", DE, "Antwort: die zweite", "B", "de"),
    ("ordinal-bare", "r2-10", DE, "Option zwei.", "B", "de"),
    ("ordinal-bare", "r2-11", ZH, "选项三。", "C", "zh"),
    ("ordinal-bare", "r2-12", ZH, "我选择第2个。", "B", "zh"),
    ("ordinal-bare", "r2-13", JA, "答えは4番目です。", "D", "ja"),
    ("ordinal-bare", "r2-14", JA, "2つ目の選択肢。", "B", "ja"),
    ("ordinal-bare", "r2-15", JA, "一番最後の選択肢です。", "D", "ja"),
    ("ordinal-bare", "r2-16", SFX, "The first bark is sharp, the second is muffled.", None, "en"),
    ("ordinal-bare", "r2-17", SFX, "The second half is louder than the first.", None, "en"),
    ("ordinal-bare", "r2-18", FR, "Le premier son est faible, le second est fort.", None, "fr"),
    ("ordinal-text", "r2-1", SFX, "Option two — thunder.", None, "en"),
    ("ordinal-text", "r2-2", SFX, "I'd say the second one (Siren).", "B", "en"),
    ("ordinal-text", "r2-3", ES, "La última, aplausos.", None, "es"),
    ("ordinal-text", "r2-4", ES, "La cuarta opción: pájaros", "D", "es"),
    ("ordinal-text", "r2-5", DE, "Die letzte Option – Vögel.", "D", "de"),
    ("ordinal-text", "r2-6", DE, "Die zweite, also Regen.", None, "de"),
    ("ordinal-text", "r2-7", FR, "La première : la pluie.", "A", "es"),
    ("ordinal-text", "r2-8", FR, "La dernière option, c'est-à-dire la pluie.", None, "es"),
    ("ordinal-text", "r2-9", ZH, "第四个，也就是汽车喇叭。", "D", "zh"),
    ("ordinal-text", "r2-10", ZH, "第一个选项（猫叫）", None, "zh"),
    ("ordinal-text", "r2-11", JA, "二番目の選択肢（雷の音）", None, "ja"),
    ("ordinal-text", "r2-12", JA, "四番目、つまり雷の音です。", "D", "ja"),
    ("number-word", "r2-1", COUNT, "Suena cuatro veces.", "D", "es"),
    ("number-word", "r2-2", COUNT, "Respuesta: tres.", "C", "es"),
    ("number-word", "r2-3", COUNT, "Es sind insgesamt vier Töne.", "D", "de"),
    ("number-word", "r2-4", COUNT, "zweimal", "B", "de"),
    ("number-word", "r2-5", COUNT, "Il y a deux bips.", "B", "fr"),
    ("number-word", "r2-6", COUNT, "Trois.", "C", "fr"),
    ("number-word", "r2-7", COUNT, "两下。", "B", "zh"),
    ("number-word", "r2-8", COUNT, "共响了四声", "D", "zh"),
    ("number-word", "r2-9", COUNT, "二つです。", "B", "ja"),
    ("number-word", "r2-10", COUNT, "4回です", "D", "ja"),
    ("number-word", "r2-11", COUNT, "3つ", "C", "ja"),
    ("number-word", "r2-12", COUNT, "一共4次。", "D", "zh"),
    ("number-word", "r2-13", COUNT, "Dos o tres.", None, "es"),
    ("number-word", "r2-14", COUNT, "Zwei- oder dreimal.", None, "de"),
    ("boolean", "r2-1", ["True", "False"], "**True** — the speaker's pitch rises.", "A", "en"),
    ("boolean", "r2-2", ["True", "False"], "Answer: False. The clip contains no speech.", "B", "en"),
    (
        "boolean",
        "r2-3",
        ["True", "False"],
        "False. While the pitch rises at first, it falls at the end.",
        "B",
        "en",
    ),
    ("boolean", "r2-4", ["Yes", "No"], "Yes — two people are speaking.", "A", "en"),
    ("boolean", "r2-5", ["Richtig", "Falsch"], "Richtig, denn man hört deutlich Regen.", "A", "de"),
    ("boolean", "r2-6", ["Verdadero", "Falso"], "Verdadero: se escucha un perro.", "A", "es"),
    ("boolean", "r2-7", ["Vrai", "Faux"], "Faux : il n'y a pas de musique.", "B", "fr"),
    ("boolean", "r2-8", ["正确", "错误"], "错误。音频中没有音乐。", "B", "zh"),
    ("boolean", "r2-9", ["正しい", "間違い"], "正しいです。", "A", "ja"),
    ("boolean", "r2-10", ["正しい", "間違い"], "間違いです—声は女性です", "B", "ja"),
    ("boolean", "r2-11", ["True", "False"], "It's hard to say whether this is true or false.", None, "en"),
    ("boolean", "r2-12", ["Correct", "Incorrect"], "Correct or incorrect? Can't tell.", None, "en"),
    (
        "boolean",
        "r2-13",
        ["Correct", "Incorrect"],
        "Incorrect. The correct description would be a man speaking.",
        "B",
        "en",
    ),
    ("cjk-cue", "r2-1", JA, "Aは違う。Bも違う。Dも違う。よって正解はC。", "C", "ja"),
    ("cjk-cue", "r2-2", JA, "消去法で考えると、AでもBでもDでもないので、答え：C", "C", "ja"),
    ("cjk-cue", "r2-3", ZH, "A不符合，B不符合，D也不符合，因此答案为C。", "C", "zh"),
    ("cjk-cue", "r2-4", ZH, "排除A、B、D，答案是C。", "C", "zh"),
    ("cjk-cue", "r2-5", ZH, "A和B都不对，D也不对。所以选C", "C", "zh"),
    ("cjk-cue", "r2-6", ZH, "A：不对。B：不对。C：不对。答案：D", "D", "zh"),
    ("cjk-cue", "r2-7", JA, "Aではなく、Bでもなく、Dでもありません。正解：C", "C", "ja"),
    (
        "cjk-cue",
        "r2-8",
        JA,
        "Aは雨の音なので違います。Bは波の音ではありません。Cでもありません。答え：D",
        "D",
        "ja",
    ),
    ("cjk-cue", "r2-9", ZH, "A不对。B也不是。最终答案：C或者D", None, "zh"),
    # a rejected letter then named by the final cue: the last commitment wins, as in English ("A is wrong.
    # The answer is A." credits A); reading it as a contradiction is defensible too
    ("cjk-cue", "r2-10", ZH, "A不对。B也不对。答案是A", "A", "zh", [None]),
]

_CLASSES = [
    ("correction", _CORRECTIONS),
    ("ordinal-bare", _ORDINALS),
    ("ordinal-text", _ORDINAL_TEXT),
    ("table", _TABLES),
    ("number-word", _NUMBERS),
    ("boolean", _BOOLEANS),
    ("cjk-cue", _CJK_CUES),
]

CASES: list[dict] = [
    _case(f"{cls}-{cid}", options, output, expected, lang, cls, "chat")
    for cls, rows in _CLASSES
    for cid, options, output, expected, lang in rows
] + [
    _case(f"{cls}-{cid}", options, output, expected, lang, cls, "chat", **({"also": more[0]} if more else {}))
    for cls, cid, options, output, expected, lang, *more in _SECOND_ROUND
]
