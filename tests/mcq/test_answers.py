"""The layered answer parser on a table of tricky outputs, reward hacks included."""

from __future__ import annotations

import pytest
from support.answer_cases import ALL_CASES, AT, CHOICES, T

from adqa_data.mcq.answers import LETTERS, Layer, NoCredit, ParsedAnswer, letter_for, parse_answer


@pytest.mark.parametrize(
    ("choices", "text", "index", "layer_or_reason"),
    ALL_CASES,
    ids=[f"{c[0][0][:6]}|{c[1].replace(T, '<T>')!r:.55}" for c in ALL_CASES],
)
def test_parse_table(choices: list[str], text: str, index: int | None, layer_or_reason: str) -> None:
    got = parse_answer(text, choices)
    assert got.index == index, got
    if index is None:
        assert (got.reason, got.layer, got.letter, got.text, got.credited) == (
            layer_or_reason,
            None,
            None,
            None,
            False,
        )
    else:
        assert (got.layer, got.reason) == (layer_or_reason, None)
        assert (got.letter, got.text, got.credited) == (LETTERS[index], choices[index], True)


def test_table_is_large_and_covers_every_layer_and_reason() -> None:
    assert len(ALL_CASES) >= 150
    seen = {c[3] for c in ALL_CASES}
    layers = {v for k, v in vars(Layer).items() if k.isupper()}
    reasons = {v for k, v in vars(NoCredit).items() if k.isupper()}
    assert layers | reasons <= seen


def test_letters_beyond_the_options_are_invalid() -> None:
    three = CHOICES[:3]
    assert parse_answer(f"{T}<answer>D</answer>", three).reason == NoCredit.OUT_OF_RANGE
    assert parse_answer("The answer is D.", three).reason == NoCredit.NO_ANSWER
    assert parse_answer(f"{T}<answer>C</answer>", three).index == 2


def test_dcase2025_prefixed_options() -> None:
    choices = ["A. Writing", "B. Typing", "C. Drawing", "D. Erasing"]
    assert parse_answer(f"{T}<answer>Typing</answer>", choices) == ParsedAnswer(1, "B", "B. Typing", AT)
    assert parse_answer(f"{T}<answer>C. Drawing</answer>", choices).index == 2
    assert parse_answer(f"{T}<answer>B. Drawing</answer>", choices).reason == NoCredit.LETTER_TEXT_CONFLICT


def test_option_text_with_letters_inside_is_read_as_text() -> None:
    choices = ["Speaker A talks first", "Speaker B talks first", "Both at once", "Nobody talks"]
    assert parse_answer(f"{T}<answer>Speaker B talks first</answer>", choices).index == 1
    assert parse_answer(f"{T}<answer>A. Speaker A talks first</answer>", choices).index == 0


def test_duplicate_option_texts_are_not_matched_by_text() -> None:
    got = parse_answer(f"{T}<answer>dog</answer>", ["dog", "Dog.", "cat", "cow"])
    assert got.reason == NoCredit.UNPARSEABLE


def test_letter_for() -> None:
    assert [letter_for(i) for i in range(4)] == ["A", "B", "C", "D"]
    with pytest.raises(ValueError):
        letter_for(len(LETTERS))


def test_needs_choices() -> None:
    with pytest.raises(ValueError):
        parse_answer("<answer>A</answer>", [])


def _fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


def _math_bold(s: str) -> str:
    return "".join(
        chr(0x1D400 + ord(c) - 65)
        if "A" <= c <= "Z"
        else chr(0x1D41A + ord(c) - 97)
        if "a" <= c <= "z"
        else c
        for c in s
    )


def _zero_width(s: str) -> str:
    return "\u200b".join(s)


@pytest.mark.parametrize("spell", [_fullwidth, _math_bold, _zero_width])
def test_every_case_reads_the_same_in_other_unicode_forms(spell) -> None:
    for choices, text, index, layer_or_reason in ALL_CASES:
        got = parse_answer(spell(text), choices)
        assert (got.index, got.layer or got.reason) == (index, layer_or_reason), (spell(text), got)


def test_option_texts_are_compared_after_the_same_normalisation() -> None:
    choices = ["Ｄｏｇ\u3000barking", "cat\u00a0meowing", "bird \u200bsinging", "car horn"]
    assert parse_answer(f"{T}<answer>dog barking</answer>", choices) == ParsedAnswer(0, "A", choices[0], AT)
    assert parse_answer(f"{T}<answer>cat meowing</answer>", choices).index == 1
    assert parse_answer(f"{T}<answer>Ｂｉｒｄ ｓｉｎｇｉｎｇ</answer>", choices).index == 2
    assert parse_answer("So I pick A, car horn.", choices).reason == NoCredit.LETTER_TEXT_CONFLICT


REJECTIONS = [
    "not {L}",
    "definitely not {L}",
    "{L} is wrong",
    "{L} is clearly incorrect",
    "it isn't {L}",
    "it can't be option {L}",
    "we can rule out {L}",
    "anything but ({L})",
    "neither {L} nor {M}",
    "{X} rather than {L}",
    "{X}, not {L}",
    "{X} instead of {L}",
    "not {L} but {X}",
    "{X}. {L} does not fit",
]
WRAPPERS = ["{s}", "The answer: {s}.", f"{T}{{s}}", f"{T}<answer>{{s}}</answer>", f"{T}<answer>{{s}}"]


@pytest.mark.parametrize("template", REJECTIONS)
def test_a_rejected_letter_is_never_credited(template: str) -> None:
    for rejected in "ABCD":
        for kept in "ABCD".replace(rejected, ""):
            other = "ABCD".replace(rejected, "").replace(kept, "")[0]
            for wrap in WRAPPERS:
                text = wrap.format(s=template.format(L=rejected, X=kept, M=other))
                got = parse_answer(text, CHOICES)
                assert got.letter != rejected, (text, got)
                if "{X}" in template:  # exactly one option affirmed: it is credited, with no hedge
                    assert got.letter == kept, (text, got)
                else:
                    assert got.reason == NoCredit.NEGATED_ONLY, (text, got)
