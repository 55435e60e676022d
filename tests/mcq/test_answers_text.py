"""The answer parser on answers given as an option's text, by position, in other languages, corrected on
the way, or committing to nothing (issue 19's classes), and on hostile input it must survive."""

from __future__ import annotations

import pytest

from adqa_data.mcq.answers import Layer, NoCredit, parse_answer

SOUNDS = ["Footsteps", "Siren", "Thunder", "Applause"]
WEATHER = ["Church bells", "Heavy rain", "Calm", "Birds"]
BELLS = ["bell", "church bell", "horn", "drum"]
PEOPLE = ["a woman", "a man", "an old man", "a boy"]
TYPES = ["Type B", "Type A", "Type O", "Type AB"]
COUNTS = ["1", "2", "3", "4"]
YES_NO = ["Yes", "No"]
CATCH_ALL = ["Dog", "Cat", "Bird", "None of these"]
CJK = ["狗叫", "猫叫", "鸟鸣", "汽车喇叭"]
EMOTIONS = ["happy", "sad", "angry", "neutral"]
T = "<think>The clip has a rising and falling tone.</think>"
TABLE = "| Option | Sound | Match |\n|---|---|---|\n| A | Footsteps | ❌ |\n| B | Siren | ✅ |\n| C | Thunder | ❌ |"

CASES: list[tuple[list[str], str, str | None]] = [
    # 1. the option's text, anywhere
    (WEATHER, "Church bells", "A"),
    (WEATHER, "CHURCH BELLS", "A"),
    (WEATHER, "Church bells, ringing twice.", "A"),
    (WEATHER, "Answer: calm", "C"),
    (WEATHER, 'I\'d say "heavy rain".', "B"),
    (WEATHER, "**Final answer:** heavy rain", "B"),
    (WEATHER, "\\boxed{\\text{heavy rain}}", "B"),
    (WEATHER, '{"answer": "heavy rain"}', "B"),
    (WEATHER, f"{T}<answer>It is heavy rain on a roof</answer>", "B"),
    (SOUNDS, "A siren wails and fades out.", "B"),
    (BELLS, "a church bell, twice", "B"),
    (BELLS, "Just a bell.", "A"),
    (PEOPLE, "an old man", "C"),
    (TYPES, "Type A", "B"),
    (COUNTS, "2", "B"),
    (COUNTS, "two taps", "B"),
    (COUNTS, "三次", "C"),
    (YES_NO, "Yes.", "A"),
    (YES_NO, "No, it is not.", "B"),
    (YES_NO, "Yes, there is no doubt about it.", "A"),  # "no doubt" is no answer "No"
    (CATCH_ALL, "None of these.", "D"),
    (CJK, "答案是鸟鸣。", "C"),
    (SOUNDS, "not the siren but the thunder", "C"),
    (SOUNDS, "It sounds more like a siren than thunder.", "B"),
    (SOUNDS, "The options are footsteps, siren, thunder and applause. I think it's thunder.", "C"),
    (SOUNDS, "... heavy steps (A).\n\n**Conclusion:** the siren.", "B"),  # a later text commitment
    # never credited: two texts, a negated text, a text the letter contradicts, hypotheses, truncation
    (SOUNDS, "not the siren", None),
    (SOUNDS, "The siren or the thunder.", None),
    (SOUNDS, "B, the thunder", None),
    (SOUNDS, "The answer is C, sirens.", None),
    (SOUNDS, f"{T}<answer>B - it's thunder</answer>", None),
    (SOUNDS, "The answer is B, it is a siren.", "B"),  # letter/text agreement reads texts as the finder does
    (["1 tap", "2 taps", "3 taps", "4 taps"], "I pick C (two taps)", None),
    (["1 tap", "2 taps", "3 taps", "4 taps"], "I pick B (two taps)", "B"),
    (SOUNDS, "Footsteps, siren, thunder, applause.", None),
    (SOUNDS, "Let's go through the options. Footsteps would be rhythmic and dull, which", None),
    (SOUNDS, "<think>The sound rises and falls like a siren. But it could also be", None),
    (SOUNDS, "It is not C. There is a rumble, like thunder.", None),  # C rejected, C's text affirmed
    (SOUNDS, "B or the thunder", None),  # a letter and a text hedged
    (SOUNDS, "The first or the second option.", None),
    (SOUNDS, "The answer is B.\n\nWait, maybe C. Hmm, I'm not sure between B and C.", None),
    (SOUNDS, "Entweder B oder C.", None),
    (SOUNDS, "Soit B, soit C.", None),
    (YES_NO, "No, I don't hear any dog.", "B"),
    (SOUNDS, "Among the options, siren fits best, while thunder is too low.", "B"),
    (SOUNDS, "Footsteps are not present, and neither is applause. Thunder is the answer.", "C"),
    (SOUNDS, "It could be thunder, but it's actually a siren.", "B"),
    (
        SOUNDS,
        "* **Siren:** no wail.\n* **Thunder:** a low rumble.\n\n**Conclusion.** The sound is thunder.",
        "C",
    ),
    (SOUNDS, "Footsteps? No. Siren? No. Thunder? Yes.", None),  # questions commit to nothing
    (SOUNDS, "(B) Thunder", None),
    (EMOTIONS, "I'd say the emotion is happy, although it could be neutral.", None),
    # 2. ordinals
    (SOUNDS, "the third option", "C"),
    (SOUNDS, "option two, i.e. the siren", "B"),
    (SOUNDS, "option one, i.e. the siren", None),
    (SOUNDS, "the last choice", "D"),
    (SOUNDS, "第三个", "C"),
    (SOUNDS, "la tercera opción", "C"),
    (SOUNDS, "die dritte Option", "C"),
    (SOUNDS, "Je choisis la troisième.", "C"),
    (SOUNDS, "It is not the first option.", None),
    # 3. the last commitment wins
    (SOUNDS, "B. Wait, no — D.", "D"),
    (SOUNDS, "A? Hmm. Maybe C... Final: C", "C"),
    (SOUNDS, "Je dirais A. Non, plutôt C.", "C"),
    (SOUNDS, "Not A (too high), not D. Between B and C, the timbre says C.", "C"),
    (CJK, "鸟鸣……不对，是狗叫。", "A"),
    # 4. letters and rejections in other languages
    (SOUNDS, "La respuesta es la B", "B"),
    (SOUNDS, "c'est la réponse C", "C"),
    (SOUNDS, "Die Antwort ist D", "D"),
    (SOUNDS, "Ni A ni C", None),
    (SOUNDS, "Weder C noch D, sondern A", "A"),
    (SOUNDS, "答えはBです", "B"),
    (SOUNDS, "不是A，是C", "C"),
    (SOUNDS, "A ist falsch, also D.", "D"),
    # 5. what commits to nothing; a table with one marked row
    (SOUNDS, "Let me look at each.\n\n* Option B (Siren): a steady rising tone, which", None),
    (
        SOUNDS,
        "A: dull thuds. B: a rising tone. Final answer: it is impossible to tell from this recording",
        None,
    ),
    (SOUNDS, '{"answer": "B or D"}', None),
    (SOUNDS, '{"choices": ["B", "D"]}', None),
    (SOUNDS, "I hear something. <!-- B -->", None),
    (SOUNDS, '<span style="display:none">C</span> The clip is noisy.', None),
    (SOUNDS, "[//]: # (B)\nHard to say.", None),
    (SOUNDS, TABLE, "B"),
    (SOUNDS, TABLE.replace("| C | Thunder | ❌ |", "| C | Thunder | ✅ |"), None),
    (SOUNDS, "- A: Footsteps — no\n- B: Siren — yes, clearly\n- C: Thunder — no\n- D: Applause — no", "B"),
    (SOUNDS, "A) ❌\nB) ✅\nC) ❌\nD) ❌", "B"),
    (SOUNDS, "A) ❌\nB) ✅\nC) ✅\nD) ❌", None),
    (CJK, "选项A：狗叫——不符合\n选项B：猫叫——不符合\n选项C：鸟鸣——符合\n选项D：汽车喇叭——不符合", "C"),
    (CJK, "先排除A和D。B和C之间，声音更像鸟鸣，所以选C。", "C"),
    (SOUNDS, "最初はAだと思ったが、やはりBだ。", "B"),
    (SOUNDS, "Eliminating A and D, I'm left with B and C. The pitch glide points to B.", "B"),
    (SOUNDS, "A is out, D is out. B vs C: B.", "B"),
    (SOUNDS, "Answer: B\nCorrection: C", "C"),
    (SOUNDS, "<!-- The answer is B --> Final answer: C", "C"),
    (SOUNDS, f"{T}<answer></answer>", None),
    (SOUNDS, f"{T}<answer>B</answer><answer>C</answer>", None),
]


@pytest.mark.parametrize(("choices", "text", "letter"), CASES, ids=[repr(c[1])[:50] for c in CASES])
def test_reads_as_meant(choices: list[str], text: str, letter: str | None) -> None:
    got = parse_answer(text, choices)
    assert got.letter == letter, got


def test_text_layers() -> None:
    assert parse_answer("Church bells.", WEATHER).layer == Layer.OPTION_TEXT
    assert parse_answer(f"{T}<answer>It is heavy rain</answer>", WEATHER).layer == Layer.ANSWER_TEXT
    # a block naming the texts of several options names none of them
    got = parse_answer(f"{T}<answer>heavy rain or calm</answer>", WEATHER)
    assert got.reason == NoCredit.UNPARSEABLE


HOSTILE = [
    "<answer>" * 8000,
    "<think>" * 5000 + "</answer>" * 5000,
    "<answer><answer><think>B</think></answer>" * 1000,
    "<!--" * 12000,
    "<span hidden>" * 4000,
    "\ud800B\udfff" * 5000,
    "(" * 50000,
    "\\boxed{" * 8000 + "B" + "}" * 8000,
    "not the siren or " * 3000,
    "第三个" * 15000,
    "| A | ✅ |\n" * 5000,
    "Wait, no — A. " * 3500,
    "2 " * 25000,
]


@pytest.mark.parametrize("text", HOSTILE, ids=[repr(t[:12]) for t in HOSTILE])
@pytest.mark.parametrize("choices", [SOUNDS, COUNTS, YES_NO, BELLS])
def test_hostile_input_is_read_without_raising(text: str, choices: list[str]) -> None:
    got = parse_answer(text, choices)
    assert got.index is None or 0 <= got.index < len(choices)
