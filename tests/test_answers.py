"""The layered answer parser on a table of tricky outputs, reward hacks included."""

from __future__ import annotations

import pytest

from adqa_data.answers import LETTERS, Layer, NoCredit, ParsedAnswer, letter_for, parse_answer

CHOICES = ["dog barking", "cat meowing", "bird singing", "car horn"]
T = "<think>The clip has a high-pitched repeated call.</think>"

S, AT, AL, TH, LL = Layer.STRICT, Layer.ANSWER_TEXT, Layer.ANSWER_LETTER, Layer.AFTER_THINK, Layer.LAST_LETTER
MULTI, EMPTY, NONE = NoCredit.MULTIPLE_OPTIONS, NoCredit.EMPTY_ANSWER, NoCredit.NO_ANSWER

# (output, expected index, expected layer or refusal reason)
CASES = [
    # layer 1: strict
    (f"{T}<answer>B</answer>", 1, S),
    (f"{T}\n<answer> C </answer>\n", 2, S),
    (f"{T}<answer>B.</answer>", 1, S),
    (f"{T}<answer>(D)</answer>", 3, S),
    (f"{T}<answer>b</answer>", 1, S),
    (f"{T}<answer>**A**</answer>", 0, S),
    (f"{T}< Answer >C</ answer >", 2, S),
    (f"{T}<ANSWER>A)</ANSWER>", 0, S),
    (f"{T}<answer>B</answer><answer>B</answer>", 1, S),  # agreeing blocks
    ("<think>Format: <answer> </answer>.</think><answer>D</answer>", 3, S),  # echoed empty template
    ("<think>Maybe A or B? It is high-pitched.</think><answer>C</answer>", 2, S),  # hedging while thinking
    # layer 2: the block is one option's text
    (f"{T}<answer>Cat meowing</answer>", 1, AT),
    (f"{T}<answer>  bird   singing. </answer>", 2, AT),
    (f"{T}<answer>A car horn</answer>", 3, AT),  # leading article
    # layer 3: a letter inside the block
    (f"{T}<answer>The answer is C</answer>", 2, AL),
    (f"{T}<answer>C. bird singing</answer>", 2, AL),
    (f"{T}<answer>(B) cat meowing</answer>", 1, AL),
    (f"{T}<answer>Answer: **D**</answer>", 3, AL),
    (f"{T}<answer>option B</answer>", 1, AL),
    (f"{T}<answer>C bird singing</answer>", 2, AL),  # letter then that option's text
    (f"{T}<answer>B", 1, AL),  # truncated: unclosed block at the end
    # layer 4: after </think>
    (f"{T}B", 1, TH),
    (f"{T}\n\nThe answer is C.\n", 2, TH),
    (f"{T}A dog barks in the distance, so the answer is (D).", 3, TH),  # article "A" is no letter
    (f"{T}(B) A cat is meowing.", 1, TH),  # "(B) A cat": article, not a hedge
    (f"{T}A", 0, TH),
    # layer 5: the last answer-looking letter
    ("The sound is a meow. Final answer: B", 1, LL),
    ("Option A is a dog, option B a cat, so the answer is B.", 1, LL),
    ("I think it is **D**.", 3, LL),
    ("<think>It purrs, so the answer is B.</think> A cat.", 1, LL),  # nothing after </think>: reasoning
    ("Reasoning first.\nC\nHope this helps!", 2, LL),
    ("I'd go with C", 2, LL),
    ("<think>the answer is C", 2, LL),  # truncated inside the reasoning
    # refusals: reward hacks and outputs naming several options
    (f"{T}<answer></answer>", None, EMPTY),
    (f"{T}<answer> </answer>", None, EMPTY),
    (f"{T}<answer> . </answer>", None, EMPTY),
    (f"{T}<answer>A or B</answer>", None, MULTI),
    (f"{T}<answer>A, C</answer>", None, MULTI),
    (f"{T}<answer>A/B</answer>", None, MULTI),
    (f"{T}<answer>A B C D</answer>", None, MULTI),
    (f"{T}<answer>A-D</answer>", None, MULTI),
    (f"{T}<answer>B or E</answer>", None, MULTI),  # hedging with a non-option still names two
    (f"{T}<answer>A. dog barking B. cat meowing C. bird singing D. car horn</answer>", None, MULTI),
    (f"{T}<answer>A</answer><answer>B</answer>", None, MULTI),
    ("<think>I write <answer>A</answer>, no:</think><answer>B</answer>", None, MULTI),
    (f"{T}<answer>C. or maybe D</answer>", None, MULTI),
    (f"{T}The answer is A and B.", None, MULTI),
    (f"{T}(A) or (B)", None, MULTI),
    (f"{T}Option A and option C are both plausible.", None, MULTI),
    ("The answer is A or B", None, MULTI),
    ("A. B. C. D.", None, MULTI),
    (f"{T}<answer>C. dog barking</answer>", None, NoCredit.LETTER_TEXT_CONFLICT),
    (f"{T}<answer>E</answer>", None, NoCredit.OUT_OF_RANGE),
    (f"{T}<answer>The sound is a dog barking</answer>", None, NoCredit.UNPARSEABLE),  # no substrings
    (f"{T}<answer>dog barking cat meowing bird singing car horn</answer>", None, NoCredit.UNPARSEABLE),
    (f"{T}<answer>ABCD</answer>", None, NoCredit.UNPARSEABLE),
    (f"{T}<answer>I don't know</answer><answer>B</answer>", None, NoCredit.UNPARSEABLE),
    # no answer at all: capitals that are not answers
    ("", None, NONE),
    ("A cat meows loudly.", None, NONE),
    (f"{T}The answer is a cat meowing", None, NONE),
    ("Take vitamin E.", None, NONE),  # out of range for four options
    ("It was recorded at 9 A.M. in a park", None, NONE),
]


@pytest.mark.parametrize(
    ("text", "index", "layer_or_reason"), CASES, ids=[repr(c[0].replace(T, "<T>"))[:60] for c in CASES]
)
def test_parse_table(text: str, index: int | None, layer_or_reason: str) -> None:
    got = parse_answer(text, CHOICES)
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
        assert (got.letter, got.text, got.credited) == (LETTERS[index], CHOICES[index], True)


def test_table_is_large_and_covers_every_layer_and_reason() -> None:
    assert len(CASES) >= 40
    seen = {c[2] for c in CASES}
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
