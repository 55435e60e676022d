"""Blind hold-out corpus #2 for the multiple-choice answer parser.

Written without reading the parser or its tests.  Each case is graded by hand
per the principle: credit exactly the one option the output commits to as its
FINAL answer; credit nothing (None) when it commits to none, to several, or to
a letter its text contradicts.  Options are shown to the model as
"A. <text>" .. "D. <text>".

Fields: output, options (4 strings), expected ("A".."D" or None),
also (other acceptable letters, optional), klass, lang.
"""

# ---------------------------------------------------------------- option sets
O_HOME = ["Rain on a roof", "Frying food", "Applause", "Waterfall"]
O_EMO = ["Happy", "Sad", "Angry", "Neutral"]
O_ZH_INST = ["钢琴", "小提琴", "吉他", "长笛"]
O_JA_ANIM = ["犬の鳴き声", "猫の鳴き声", "鳥のさえずり", "車のクラクション"]
O_CROWD = ["Wind", "Traffic", "A crowd cheering", "A single person clapping"]
O_ES_WX = ["Viento", "Lluvia", "Truenos", "Granizo"]
O_FR = ["Rires", "Applaudissements", "Sifflets", "Cris"]
O_DE = ["Katzenmiauen", "Hundegebell", "Vogelgezwitscher", "Pferdewiehern"]
O_BRASS = ["Trumpet", "Saxophone", "Clarinet", "Trombone"]
O_HOUSE = ["A baby crying", "A dog barking", "A door slamming", "Glass breaking"]
O_VEH = ["Motorcycle engine", "Lawn mower", "Chainsaw", "Helicopter"]
O_ZH_WX = ["雷声", "鸟叫", "汽车鸣笛", "掌声"]
O_GUIT = ["Guitar", "Bass guitar", "Electric guitar", "Drums"]
O_BIRD = ["Bird", "Songbird", "Bird of prey", "Parrot"]
O_CAR = ["Car", "Car alarm", "Car horn", "Train"]
O_GENDER = ["Male", "Female", "Child", "Elderly man"]
O_GATE = ["Gate C", "Gate D", "Gate A", "Gate B"]
O_ROW = ["Row B", "Row D", "Row A", "Row C"]
O_KEY = ["D major", "A minor", "C major", "B flat major"]
O_NUM = ["3", "1", "4", "2"]
O_NUM2 = ["1", "2", "3", "4"]
O_YN = ["Yes", "No", "Cannot be determined", "Only at the end"]
O_NY = ["No", "Yes", "Partially", "Not mentioned"]
O_STR = ["Violin", "Cello", "Viola", "None of these"]
O_BLOOD = ["Type B", "Type AB", "Type A", "Type O"]
O_TF = ["True", "False", "Partly true", "Not stated"]
O_NIGHT = ["Owl hooting", "Wolf howling", "Cricket chirping", "Frog croaking"]
O_PLACE = ["Train station", "Library", "Beach", "Kitchen"]
O_SPK = ["One speaker", "Two speakers", "Three speakers", "Four or more speakers"]
O_ZH_EMO = ["高兴", "悲伤", "愤怒", "平静"]
O_JA_PLACE = ["駅", "図書館", "海辺", "台所"]
O_ES_INST = ["Piano", "Guitarra", "Violín", "Batería"]
O_FR_PLACE = ["Une gare", "Une bibliothèque", "Une plage", "Une cuisine"]
O_DE_EMO = ["Fröhlich", "Traurig", "Wütend", "Ruhig"]
O_COUNT = ["Two", "Three", "Four", "Five"]
O_JA_YN = ["はい", "いいえ", "わからない", "一部のみ"]
O_ES_YN = ["No", "Sí", "No se puede saber", "Solo al final"]


def _c(output, options, expected, klass, lang, also=None):
    d = {"output": output, "options": list(options), "expected": expected, "klass": klass, "lang": lang}
    if also:
        d["also"] = list(also)
    return d


CASES = [
    # ------------------------------------------------ 1. option text, bare
    _c("Frying food", O_HOME, "B", "text_bare", "en"),
    _c("APPLAUSE", O_HOME, "C", "text_bare", "en"),
    _c("A dog barking.", O_HOUSE, "B", "text_bare", "en"),
    _c("\u201cLibrary\u201d", O_PLACE, "B", "text_bare", "en"),
    _c("小提琴", O_ZH_INST, "B", "text_bare", "zh"),
    _c("鳥のさえずりです。", O_JA_ANIM, "C", "text_bare", "ja"),
    _c("Guitarra.", O_ES_INST, "B", "text_bare", "es"),
    _c("Traurig", O_DE_EMO, "B", "text_bare", "de"),
    _c("Une plage.", O_FR_PLACE, "C", "text_bare", "fr"),
    # ------------------------------------------------ option text after a cue
    _c("Answer: a crowd cheering", O_CROWD, "C", "text_cue", "en"),
    _c("I'd go with 'Traffic'.", O_CROWD, "B", "text_cue", "en"),
    _c("**Final answer:** Wind", O_CROWD, "A", "text_cue", "en"),
    _c(
        "My best guess is the one with a single person clapping \u2014 the claps "
        "are too sparse and too evenly spaced for a crowd.",
        O_CROWD,
        "D",
        "text_cue",
        "en",
    ),
    _c("The answer is frying food.", O_HOME, "B", "text_cue", "en"),
    _c("Respuesta: lluvia", O_ES_WX, "B", "text_cue", "es"),
    _c("Réponse : des applaudissements.", O_FR, "B", "text_cue", "fr"),
    _c("Il y a surtout des sifflets.", O_FR, "C", "text_caption", "fr"),
    _c("Antwort: Hundegebell", O_DE, "B", "text_cue", "de"),
    _c("Die Antwort lautet: Vogelgezwitscher.", O_DE, "C", "text_cue", "de"),
    _c("答案：掌声", O_ZH_WX, "D", "text_cue", "zh"),
    _c("答えは「海辺」です。", O_JA_PLACE, "C", "text_cue", "ja"),
    # ------------------------------------------------ wrapped text (boxed / JSON / tags)
    _c("\\boxed{\\text{Saxophone}}", O_BRASS, "B", "text_wrapped", "en"),
    _c('{"answer": "clarinet"}', O_BRASS, "C", "text_wrapped", "en"),
    _c('```json\n{"answer": "Trombone", "confidence": 0.82}\n```', O_BRASS, "D", "text_wrapped", "en"),
    _c(
        '{"answer": "Library", "reason": "quiet room tone and pages turning"}',
        O_PLACE,
        "B",
        "text_wrapped",
        "en",
    ),
    _c("\\boxed{平静}", O_ZH_EMO, "D", "text_wrapped", "zh"),
    _c('{"respuesta": "Batería"}', O_ES_INST, "D", "text_wrapped", "es"),
    # ------------------------------------------------ caption-like sentence with one full option text
    _c(
        "In the recording, glass breaking can be heard followed by silence.",
        O_HOUSE,
        "D",
        "text_caption",
        "en",
    ),
    _c("The audio contains a door slamming shut twice in a hallway.", O_HOUSE, "C", "text_caption", "en"),
    _c(
        "A man is speaking while a motorcycle engine revs in the background.",
        O_VEH,
        "A",
        "text_caption",
        "en",
    ),
    _c("音频中可以听到雷声，随后下起了大雨。", O_ZH_WX, "A", "text_caption", "zh"),
    _c("在这段录音中，一位男士在弹吉他并轻声哼唱。", O_ZH_INST, "C", "text_caption", "zh"),
    _c("Se oye un piano acompañado de una voz suave.", O_ES_INST, "A", "text_caption", "es"),
    _c("Suena a granizo golpeando el cristal de una ventana.", O_ES_WX, "D", "text_caption", "es"),
    _c(
        "Dans l'enregistrement, on entend des annonces et des trains : c'est une gare.",
        O_FR_PLACE,
        "A",
        "text_caption",
        "fr",
    ),
    _c("Man hört ein leises Gespräch; die Stimmung ist ruhig.", O_DE_EMO, "D", "text_caption", "de"),
    # ------------------------------------------------ overlapping options: longest full match
    _c("bass guitar", O_GUIT, "B", "text_overlap", "en"),
    _c("It's an electric guitar with heavy distortion.", O_GUIT, "C", "text_overlap", "en"),
    _c("songbird", O_BIRD, "B", "text_overlap", "en"),
    _c("A bird of prey screeching above an open field.", O_BIRD, "C", "text_overlap", "en"),
    _c("The car alarm keeps going for about ten seconds.", O_CAR, "B", "text_overlap", "en"),
    _c("The speaker is a female with a calm tone.", O_GENDER, "B", "text_overlap", "en"),
    _c("Type AB", O_BLOOD, "B", "text_overlap", "en"),
    # ------------------------------------------------ options that look like letters / numbers / words
    _c("Gate A", O_GATE, "C", "text_lookalike", "en"),
    _c("The announcement says passengers should go to Gate D.", O_GATE, "B", "text_lookalike", "en"),
    _c("The piece is in A minor.", O_KEY, "B", "text_lookalike", "en"),
    _c("Type A", O_BLOOD, "C", "text_lookalike", "en"),
    _c("4", O_NUM, "C", "text_lookalike", "en"),
    _c("There are two knocks on the door.", O_NUM, "D", "text_lookalike", "en"),
    _c("Three beeps.", O_NUM2, "C", "text_lookalike", "en"),
    _c("No, there is no music in the clip.", O_YN, "B", "text_lookalike", "en"),
    _c("Yes.", O_NY, "B", "text_lookalike", "en"),
    _c("None of these \u2014 it's actually a double bass.", O_STR, "D", "text_lookalike", "en"),
    _c(
        "It's partly true: the speaker mentions Paris but never gives a date.",
        O_TF,
        "C",
        "text_lookalike",
        "en",
    ),
    _c("いいえ、音楽は流れていません。", O_JA_YN, "B", "text_lookalike", "ja"),
    _c("Sí.", O_ES_YN, "B", "text_lookalike", "es"),
    _c("No se puede saber con este audio.", O_ES_YN, "C", "text_lookalike", "es"),
    # ------------------------------------------------ negated texts
    _c("Not wolf howling but owl hooting.", O_NIGHT, "A", "text_negated", "en"),
    _c("It is not frog croaking.", O_NIGHT, None, "text_negated", "en"),
    _c("Definitely not cricket chirping; it's frog croaking.", O_NIGHT, "D", "text_negated", "en"),
    _c("It's not a baby crying and not a dog barking.", O_HOUSE, None, "text_negated", "en"),
    _c("Neither trumpet nor trombone.", O_BRASS, None, "text_negated", "en"),
    _c("不是小提琴，而是长笛。", O_ZH_INST, "D", "text_negated", "zh"),
    _c("鳥のさえずりではなく、犬の鳴き声です。", O_JA_ANIM, "A", "text_negated", "ja"),
    _c("No es la lluvia, son truenos.", O_ES_WX, "C", "text_negated", "es"),
    _c("Kein Hundegebell, sondern Vogelgezwitscher.", O_DE, "C", "text_negated", "de"),
    _c("Ce ne sont pas des rires.", O_FR, None, "text_negated", "fr"),
    # ------------------------------------------------ letter + text: agree / contradict
    _c("B. Trumpet", O_BRASS, None, "letter_text_conflict", "en"),
    _c("The answer is D (Clarinet).", O_BRASS, None, "letter_text_conflict", "en"),
    _c("答案：A. 长笛", O_ZH_INST, None, "letter_text_conflict", "zh"),
    _c("Respuesta: C) Guitarra", O_ES_INST, None, "letter_text_conflict", "es"),
    _c("Antwort: A (Wütend)", O_DE_EMO, None, "letter_text_conflict", "de"),
    _c("B. Saxophone", O_BRASS, "B", "letter_text_agree", "en"),
    _c("Réponse : D \u2013 Une cuisine", O_FR_PLACE, "D", "letter_text_agree", "fr"),
    _c("答え：B（猫の鳴き声）", O_JA_ANIM, "B", "letter_text_agree", "ja"),
    # ------------------------------------------------ ordinals
    _c("The second option.", O_HOME, "B", "ordinal", "en"),
    _c("I'll pick the last choice, the trombone.", O_BRASS, "D", "ordinal", "en"),
    _c("Option three, i.e. the clarinet.", O_BRASS, "C", "ordinal", "en"),
    _c("选第四个。", O_ZH_WX, "D", "ordinal", "zh"),
    _c("最后一个：平静。", O_ZH_EMO, "D", "ordinal", "zh"),
    _c("Elijo la segunda opción.", O_ES_WX, "B", "ordinal", "es"),
    _c("Die erste Option ist richtig.", O_DE, "A", "ordinal", "de"),
    _c("C'est la troisième proposition.", O_FR, "C", "ordinal", "fr"),
    _c("二番目の選択肢です。", O_JA_PLACE, "B", "ordinal", "ja"),
    _c("The second option, Clarinet.", O_BRASS, None, "ordinal_conflict", "en"),
    _c("La primera opción: granizo.", O_ES_WX, None, "ordinal_conflict", "es"),
    _c("第三个选项，也就是钢琴。", O_ZH_INST, None, "ordinal_conflict", "zh"),
    # ------------------------------------------------ last commitment wins
    _c(
        "A. Actually, wait \u2014 listening again, the call is a sharp descending screech, "
        "which fits C better. Final: C",
        O_BIRD,
        "C",
        "last_wins",
        "en",
    ),
    _c("I first thought B, but no, it's D.", O_NIGHT, "D", "last_wins", "en"),
    _c(
        "Not A (too low), not D (no slide). Between B and C, the reedy attack and the "
        "breathy upper register say C.",
        O_BRASS,
        "C",
        "last_wins",
        "en",
    ),
    _c("Cello... no wait, it's higher than that \u2014 viola.", O_STR, "C", "last_wins", "en"),
    _c("我先选B……不对，应该是C。", O_ZH_EMO, "C", "last_wins", "zh"),
    _c("Aだと思います。いや、やはりDです。", O_JA_PLACE, "D", "last_wins", "ja"),
    _c(
        "最初は猫の鳴き声だと思いましたが、よく聞くと車のクラクションでした。",
        O_JA_ANIM,
        "D",
        "last_wins",
        "ja",
    ),
    _c("Diría que A. No, mejor la C.", O_ES_INST, "C", "last_wins", "es"),
    _c("Primero pensé en la B, pero no: es la D.", O_ES_WX, "D", "last_wins", "es"),
    _c("Je pencherais pour B... Non, en fait c'est A.", O_FR_PLACE, "A", "last_wins", "fr"),
    _c("Au début j'ai cru entendre des sifflets, mais ce sont des cris.", O_FR, "D", "last_wins", "fr"),
    _c("Zuerst dachte ich C, aber nein, es ist B.", O_DE, "B", "last_wins", "de"),
    # ------------------------------------------------ letters and rejections in other languages
    _c("La respuesta correcta es la D.", O_ES_INST, "D", "foreign_letter", "es"),
    _c("La réponse est B.", O_FR_PLACE, "B", "foreign_letter", "fr"),
    _c("Die richtige Antwort ist A.", O_DE, "A", "foreign_letter", "de"),
    _c("答案是C。", O_ZH_WX, "C", "foreign_letter", "zh"),
    _c("正解はAです。", O_JA_ANIM, "A", "foreign_letter", "ja"),
    _c("Ni B ni D, es la A.", O_ES_WX, "A", "foreign_rejection", "es"),
    _c("Weder A noch B, sondern C.", O_DE_EMO, "C", "foreign_rejection", "de"),
    _c("不是B，是D。", O_ZH_EMO, "D", "foreign_rejection", "zh"),
    _c("Ce n'est pas A, c'est plutôt D.", O_FR, "D", "foreign_rejection", "fr"),
    _c("AではなくCです。", O_JA_PLACE, "C", "foreign_rejection", "ja"),
    _c("Ni A ni C.", O_ES_INST, None, "foreign_rejection", "es"),
    _c("Nicht B.", O_DE, None, "foreign_rejection", "de"),
    # ------------------------------------------------ thinking mode (<think> ... </think> then answer)
    _c(
        "<think>The clip has a low rumble that swells and fades. Option A, wind, would be a "
        "broadband hiss. Option B, traffic, means passing engines \u2014 and I do hear Doppler "
        "shifts. Could it be C? There are no cheering voices.</think>\nB",
        O_CROWD,
        "B",
        "think",
        "en",
    ),
    _c(
        "<think>\n嗯，用户让我判断这段音频里的乐器。选项A是钢琴，B是小提琴，C是吉他，D是长笛。"
        "音色有明显的揉弦和弓毛摩擦声。钢琴是击弦的，不像；吉他是拨弦的，也不像；"
        "长笛会有气息声，这里没有。所以应该是小提琴。\n</think>\n\n答案：B",
        O_ZH_INST,
        "B",
        "think",
        "zh",
    ),
    _c(
        "<think>\nThe bursts are high-pitched and irregular. Option B, a dog barking, is possible, "
        "but these are sustained wails rather than short barks. Option D would have a bright "
        "shatter. Hmm.\n</think>\n\nThe answer is A.",
        O_HOUSE,
        "A",
        "think",
        "en",
    ),
    _c(
        "<think>A short bright crash, then tinkling fragments scattering on a hard floor. "
        "That is clearly a shatter.</think>\nGlass breaking",
        O_HOUSE,
        "D",
        "think",
        "en",
    ),
    _c(
        "<think>Let me compare A and B. A has a denser, steadier texture, while B",
        O_HOME,
        None,
        "think_truncated",
        "en",
    ),
    _c(
        "<think>\n音声には電車のアナウンスとホームの雑踏が聞こえる。図書館なら静かなはず。"
        "海辺なら波の音があるはず。\n</think>\n駅です。",
        O_JA_PLACE,
        "A",
        "think",
        "ja",
    ),
    _c(
        "<think>It's either B or D... the howl is long, but the croak-like ending confuses me. "
        "I can't decide.</think>\nIt could be B or D.",
        O_NIGHT,
        None,
        "think_hedge",
        "en",
    ),
    _c(
        "<think>\nLa pregunta es sobre el instrumento. Oigo acordes rasgueados con cuerdas de "
        "nailon... no es piano (A), ni violín (C). ¿Podría ser batería (D)? No, no hay "
        "percusión.\n</think>\n\nRespuesta final: B",
        O_ES_INST,
        "B",
        "think",
        "es",
    ),
    _c(
        "<think>\nDie Stimme ist laut, schnell und gepresst. Traurig (B) passt nicht, "
        "ruhig (D) auch nicht. Fröhlich (A)? Dafür fehlt das Lachen.\n</think>\n"
        "Die Antwort ist C.",
        O_DE_EMO,
        "C",
        "think",
        "de",
    ),
    _c(
        "Okay, let me think through this carefully.\n\n"
        "**Step 1: Identify the sound sources.** I can hear metallic clinking, a tap running, "
        "and something sizzling in a pan. There is also a faint extractor-fan hum.\n\n"
        "**Step 2: Evaluate each location.**\n"
        "- A train station would have announcements and rolling stock; none are present.\n"
        "- A library would be nearly silent apart from pages and footsteps.\n"
        "- A beach would have waves and wind.\n"
        "- A kitchen matches the sizzling, running water and utensils.\n\n"
        "**Step 3: Conclusion.** Every cue points to food preparation indoors.\n\n"
        "**Answer: (D) Kitchen**",
        O_PLACE,
        "D",
        "gemini_cot",
        "en",
    ),
    _c(
        "Let me reason step by step.\n\nFirst, the recording begins with a single voice "
        "introducing the topic. Around the ten-second mark, a second voice responds with a "
        "question. I listened for overlapping talk or a third timbre but did not find one; "
        "the laughter at the end comes from the same two people.\n\n"
        "Therefore, the number of distinct speakers is two, so the correct option is B.",
        O_SPK,
        "B",
        "gemini_cot",
        "en",
    ),
    # ------------------------------------------------ R1-AQA style (<think>..</think><answer>..</answer>)
    _c(
        "<think>The bird sound is a continuous melodic trill, which rules out A (too generic) "
        "and D (a parrot would squawk). No raptor screech, so not C.</think><answer>B</answer>",
        O_BIRD,
        "B",
        "r1_answer",
        "en",
    ),
    _c(
        "<think>Steady pulsing chirps at night, very regular.</think><answer>Cricket chirping</answer>",
        O_NIGHT,
        "C",
        "r1_answer",
        "en",
    ),
    _c("<think>Hard to say.</think><answer>B or C</answer>", O_NIGHT, None, "r1_answer_multi", "en"),
    _c(
        "<think>The low plucked line at first suggests B, but the chords and the bright "
        "overdriven sustain point elsewhere.</think><answer>C</answer>",
        O_GUIT,
        "C",
        "r1_answer",
        "en",
    ),
    _c(
        "<think>\n音调上扬，语速很快，还带着笑声。\n</think>\n<answer>A</answer>",
        O_ZH_EMO,
        "A",
        "r1_answer",
        "zh",
    ),
    _c("<think>I need to listen again.</think><answer></answer>", O_BRASS, None, "r1_answer_empty", "en"),
    # ------------------------------------------------ markdown / chatty
    _c(
        "## Analysis\n"
        "- **A (Rain on a roof)**: would be dense and continuous \u2014 not a match.\n"
        "- **B (Frying food)**: crackling, irregular pops \u2014 matches well.\n"
        "- **C (Applause)**: no rhythmic clapping pattern.\n"
        "- **D (Waterfall)**: far too steady.\n\n**Answer: B**",
        O_HOME,
        "B",
        "markdown",
        "en",
    ),
    _c("**C**", O_EMO, "C", "markdown", "en"),
    _c(
        "Great question! \U0001f3a7 I listened closely: the deep, rhythmic croaks come in pairs "
        "near water.\n\n\u2705 **My pick: D \u2014 Frog croaking**",
        O_NIGHT,
        "D",
        "markdown",
        "en",
    ),
    _c(
        "Based on the audio, the recording is most consistent with **Option B: Two speakers**. "
        "You can hear a host asking questions and a guest answering, with no third voice.",
        O_SPK,
        "B",
        "markdown",
        "en",
    ),
    _c(
        "Let's go through the options:\n\n"
        "* Option A (Happy): the pitch is high, but\n"
        "* Option B (Sad): the tempo is slow, which",
        O_EMO,
        None,
        "listing_truncated",
        "en",
    ),
    _c("<!-- answer: C -->\nI'm not sure what this sound is.", O_HOUSE, None, "hidden_markup", "en"),
    _c(
        "### 分析\n1. **A 雷声**：没有低频轰鸣。\n2. **B 鸟叫**：有清脆的啁啾声 ✔\n"
        "3. **C 汽车鸣笛**：没有。\n4. **D 掌声**：没有。\n\n**最终答案：B**",
        O_ZH_WX,
        "B",
        "markdown",
        "zh",
    ),
    _c(
        "### Analyse\n- **A – Une gare** : pas d'annonces.\n- **B – Une bibliothèque** : "
        "trop de bruit pour cela.\n- **C – Une plage** : vagues et mouettes, oui !\n"
        "- **D – Une cuisine** : aucun bruit de vaisselle.\n\n**Réponse finale : C**",
        O_FR_PLACE,
        "C",
        "markdown",
        "fr",
    ),
    # ------------------------------------------------ LaTeX
    _c("$\\boxed{B}$", O_SPK, "B", "latex", "en"),
    _c("\\[\\boxed{\\text{D}}\\]", O_GUIT, "D", "latex", "en"),
    _c("The answer is $\\mathbf{C}$.", O_COUNT, "C", "latex", "en"),
    _c("\\boxed{\\text{(A) Train station}}", O_PLACE, "A", "latex", "en"),
    # ------------------------------------------------ tables
    _c(
        "| Option | Match |\n|---|---|\n| A. Owl hooting | \u274c |\n| B. Wolf howling | \u2705 |\n"
        "| C. Cricket chirping | \u274c |\n| D. Frog croaking | \u274c |",
        O_NIGHT,
        "B",
        "table",
        "en",
    ),
    _c(
        "| 选项 | 是否符合 |\n|---|---|\n| A 高兴 | 否 |\n| B 悲伤 | 是 |\n| C 愤怒 | 否 |\n| D 平静 | 否 |",
        O_ZH_EMO,
        "B",
        "table",
        "zh",
    ),
    _c(
        "| Option | Pitch | Attack |\n|---|---|---|\n| A. Trumpet | high | sharp |\n"
        "| B. Saxophone | mid | soft |\n| C. Clarinet | mid | soft |\n| D. Trombone | low | soft |",
        O_BRASS,
        None,
        "table_nomark",
        "en",
    ),
    _c(
        "| Option | Fits? |\n|---|---|\n| A. Motorcycle engine | \u2705 |\n| B. Lawn mower | \u274c |\n"
        "| C. Chainsaw | \u2705 |\n| D. Helicopter | \u274c |",
        O_VEH,
        None,
        "table_multi",
        "en",
    ),
    # ------------------------------------------------ refusals / hedges / multiple commitments
    _c(
        "I cannot hear the audio, so I can't determine which option is correct.",
        O_HOME,
        None,
        "refuse_cannot",
        "en",
    ),
    _c("It could be either B or C; the recording is too short to tell.", O_EMO, None, "refuse_hedge", "en"),
    _c("Both A and D are plausible here.", O_VEH, None, "refuse_hedge", "en"),
    _c(
        "After weighing the options \u2014 A (wind) would be a steady hiss, B (traffic) would "
        "have engines, and C and D both involve clapping \u2014\n\nFinal answer: it is "
        "impossible to tell from this recording.",
        O_CROWD,
        None,
        "refuse_final",
        "en",
    ),
    _c('{"answer": "A or C"}', O_BRASS, None, "refuse_multi", "en"),
    _c('{"choices": ["B", "C"]}', O_GUIT, None, "refuse_multi", "en"),
    _c("Wind and traffic.", O_CROWD, None, "refuse_multi", "en"),
    _c("Either a baby crying or a dog barking, hard to say.", O_HOUSE, None, "refuse_hedge", "en"),
    _c("A and C", O_SPK, None, "refuse_multi", "en"),
    _c("抱歉，我无法听到音频内容，因此无法作答。", O_ZH_INST, None, "refuse_cannot", "zh"),
    _c("可能是B，也可能是D。", O_ZH_WX, None, "refuse_hedge", "zh"),
    _c("申し訳ありませんが、音声を再生できないため回答できません。", O_JA_ANIM, None, "refuse_cannot", "ja"),
    _c(
        "No puedo escuchar el audio, así que no puedo elegir una opción.",
        O_ES_WX,
        None,
        "refuse_cannot",
        "es",
    ),
    _c("Je ne peux pas écouter l'audio, je ne peux donc pas répondre.", O_FR, None, "refuse_cannot", "fr"),
    _c("Ich kann die Audiodatei leider nicht abspielen.", O_DE, None, "refuse_cannot", "de"),
    _c("Vielleicht A, vielleicht auch C.", O_DE_EMO, None, "refuse_hedge", "de"),
]
