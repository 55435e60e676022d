"""Rewards: correctness, format with repetition penalty, attention anchoring on hand-built maps, combine."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support.answer_cases import ALL_CASES, T

from adqa_data.mcq.answers import ANSWER_CLOSE, ANSWER_OPEN, BLOCK_LAYERS, Layer, parse_answer
from adqa_data.rewards import (
    DEFAULT_WEIGHTS,
    REWARDS,
    AnchoringConfig,
    FormatConfig,
    anchoring,
    anchoring_score,
    combine,
    correctness,
    format_reward,
    repetition,
    structure,
)

CHOICES = ["dog barking", "cat meowing", "bird singing", "car horn"]
COT = (
    "The audio begins with a low hum that sounds like an engine idling, then a sharp, high-pitched call "
    "repeats three times with short pauses between. The call has a clear tonal quality and rises at the "
    "end, which is typical of a songbird rather than a mammal. There is no meowing contour, the sound is "
    "too short and bright for a car horn, and there is no barking burst. Given the melodic, repeated "
    "chirps, the best match is a bird singing, which is option C."
)
CLEAN = f"<think>{COT}</think>\n<answer>C</answer>"


# ------------------------------------------------------------------------------------------ correctness
def test_correctness_uses_the_parser_and_refuses_hacks() -> None:
    completions = [
        CLEAN,
        "<think>x</think><answer>B</answer>",
        "<answer></answer>",
        "<answer>C or D</answer>",
    ]
    got = correctness(completions, choices=[CHOICES] * 4, answer_index=[2, 2, 2, 2], question="ignored")
    assert got == [1.0, 0.0, 0.0, 0.0]


def test_correctness_needs_gold_and_equal_lengths() -> None:
    with pytest.raises(ValueError, match="gold"):
        correctness([CLEAN], choices=[CHOICES], answer_index=[None])
    with pytest.raises(ValueError, match="length"):
        correctness([CLEAN, CLEAN], choices=[CHOICES], answer_index=[2])


# ----------------------------------------------------------------------------------------------- format
@pytest.mark.parametrize(
    ("text", "tier"),
    [
        (CLEAN, 1.0),
        ("  <think>It chirps.</think> \n <answer> B </answer>\n.", 1.0),  # whitespace, punctuation after
        ("<think>It chirps.</think><answer>c</answer>", 1.0),  # the parser reads it strictly
        ("<think>It chirps.</think><answer>Ｃ</answer>", 1.0),  # fullwidth: the parser's reading copy
        ("<think>It chirps.</think><answer>C. bird singing</answer>", 0.5),  # not a bare letter
        ("<think>It chirps.</think><answer>bird singing</answer>", 0.5),  # the option's text
        ("<think>It chirps.</think><answer>E</answer>", 0.25),  # out of range: the parser refuses
        ("<think>It chirps.</think><answer>A or C</answer>", 0.25),  # two options
        ("<think>It chirps.</think><answer>not D</answer>", 0.25),  # only a rejected letter
        ("<think>It chirps.</think><answer>C. dog barking</answer>", 0.25),  # letter and text disagree
        ("<think>It chirps.</think><answer>I am not sure</answer>", 0.25),  # names no option
        ("<think></think><answer>A or C</answer>", 0.0),
        ("<think>It chirps.</think>So: <answer>C</answer>", 0.5),  # words between the blocks
        ("<think>It chirps.</think><answer>C</answer> Hope it helps", 0.5),  # words after
        ("Sure! <think>It chirps.</think><answer>C</answer>", 0.25),  # think not first
        ("<think></think><answer>C</answer>", 0.25),  # empty think
        ("<think>It chirps.</think><answer></answer>", 0.25),  # empty answer
        ("<think>It chirps.</think>C", 0.25),  # no answer block
        ("<answer>C</answer>", 0.25),
        ("<think>It chirps. <answer>C</answer></think>", 0.0),  # answer inside think
        ("<think>It chirps.</think><answer>C</answer><answer>C</answer>", 0.25),  # two answer blocks
        ("<think>It chirps.", 0.0),  # truncated
        ("The answer is C.", 0.0),
    ],
)
def test_structure_tiers(text: str, tier: float) -> None:
    assert structure(text, CHOICES) == tier


def test_structure_reads_letters_against_the_items_own_options() -> None:
    three = CHOICES[:3]
    assert structure("<think>It chirps.</think><answer>D</answer>", CHOICES) == 1.0
    assert structure("<think>It chirps.</think><answer>D</answer>", three) == 0.25


def _without_answer_tags(text: str) -> str:
    return ANSWER_CLOSE.sub(" ", ANSWER_OPEN.sub(" ", text))


def _is_template(text: str) -> bool:
    """The think block T, then one answer block and nothing after it but whitespace."""
    rest = text.removeprefix(T)
    opened, closed = list(ANSWER_OPEN.finditer(rest)), list(ANSWER_CLOSE.finditer(rest))
    return (
        text.startswith(T)
        and len(opened) == len(closed) == 1
        and not rest[: opened[0].start()].strip()
        and not rest[closed[0].end() :].strip()
    )


@pytest.mark.parametrize(
    ("choices", "text", "index", "layer_or_reason"),
    ALL_CASES,
    ids=[f"{c[0][0][:6]}|{c[1].replace(T, '<T>')!r:.55}" for c in ALL_CASES],
)
def test_format_agrees_with_the_parser(
    choices: list[str], text: str, index: int | None, layer_or_reason: str
) -> None:
    parsed, tier = parse_answer(text, choices), structure(text, choices)
    if tier == 1.0:
        assert parsed.layer == Layer.STRICT
    if parsed.layer not in BLOCK_LAYERS:  # no answer block read: at most the think block's tier
        assert tier <= 0.25
    if not parsed.credited:  # a refused answer block earns nothing: at most what the output earns without it
        assert tier <= min(0.25, structure(_without_answer_tags(text), choices))
    if _is_template(text):  # the exact shape: the parser's layer alone decides the tier
        expected = {Layer.STRICT: 1.0, Layer.ANSWER_TEXT: 0.5, Layer.ANSWER_LETTER: 0.5}.get(
            parsed.layer, 0.25
        )
        assert tier == expected


def test_clean_output_has_no_repetition_penalty() -> None:
    assert repetition(CLEAN) == 0.0
    assert format_reward([CLEAN], choices=[CHOICES]) == [1.0]
    assert repetition("<think>Short.</think><answer>C</answer>!!!!") == 0.0  # short endings are no loop


def test_sentence_loop_scores_clearly_below_clean() -> None:
    loop = "<think>" + "The dog barks. " * 30 + "</think><answer>A</answer>"
    assert structure(loop, CHOICES) == 1.0
    assert repetition(loop) > 0.9
    assert format_reward([loop], choices=[CHOICES])[0] < 0.1


def test_truncated_loop_goes_negative() -> None:
    loop = "<think>I hear a bird. " + "tweet tweet " * 40
    (reward,) = format_reward([loop], choices=[CHOICES])
    assert reward < -0.9  # below any output that merely lacks the template (0.0)


def test_tail_loop_without_spaces_is_caught() -> None:
    text = "<think>" + COT + "</think><answer>" + "B" * 400
    assert repetition(text) > 0.4  # the n-gram and sentence checks see one word; the tail check sees the loop


def test_repeated_sentences_are_penalised_in_proportion() -> None:
    config = FormatConfig(tolerance=0.0)
    text = "It chirps. It is a bird. It chirps. It is a bird."  # 2 of 4 sentences repeat
    assert repetition(text, config) == pytest.approx(0.5)
    got = format_reward([text], choices=[CHOICES], config=FormatConfig(tolerance=0.0, penalty_max=0.2))
    assert got == [pytest.approx(-0.1)]


def test_ngram_share_and_tolerance() -> None:
    text = "a b c d e a b c d f"  # 4-grams: abcd bcde cdea deab eabc abcd bcdf -> 1 duplicate of 7
    assert repetition(text, FormatConfig(tolerance=0.0)) == pytest.approx(1 / 7)
    assert repetition(text, FormatConfig(tolerance=0.2)) == 0.0


def test_format_reward_needs_one_option_list_per_completion() -> None:
    with pytest.raises(ValueError, match="length"):
        format_reward([CLEAN, CLEAN], choices=[CHOICES])
    with pytest.raises(TypeError):
        format_reward([CLEAN])  # the item's options are required


def test_format_config_is_validated() -> None:
    with pytest.raises(ValueError):
        FormatConfig(tolerance=1.0)
    with pytest.raises(ValueError):
        FormatConfig(min_repeats=1)


# -------------------------------------------------------------------------------------------- anchoring
def _rows(row: np.ndarray, n_rows: int = 3) -> np.ndarray:
    return np.tile(row / row.sum(), (n_rows, 1))


N_TEXT, N_AUDIO = 6, 10
MASK = np.array([False] * 2 + [True] * N_AUDIO + [False] * (N_TEXT - 2))  # text, audio, text
N_KEYS = MASK.size


def test_uniform_on_audio_scores_one() -> None:
    got = anchoring_score(_rows(MASK.astype(float)), MASK)
    assert got == pytest.approx({"con": 1.0, "ar": 1.0, "ent": 1.0, "entropy": 1.0, "score": 1.0})


def test_attention_profile_places_the_mass_along_the_clip_and_sums_to_con() -> None:
    """10 audio keys onto 4 bins: key 7 alone (70-80% of the clip) fills bin 2 (50-75%) for half of it
    and bin 3 for the other half; fewer keys than bins (3 onto 6) share each key over two bins."""
    from adqa_data.rewards.anchoring import attention_profile

    row = np.zeros(N_KEYS)
    row[2 + 7] = 1.0  # audio key 7
    row[0] = 1.0  # as much on a text key: CON 0.5
    got = attention_profile(_rows(row), MASK, bins=4)
    assert got == pytest.approx([0.0, 0.0, 0.25, 0.25])
    assert sum(got) == pytest.approx(anchoring_score(_rows(row), MASK)["con"])
    few = np.array([False, True, True, True])
    assert attention_profile(_rows(np.array([0.0, 1.0, 0.0, 3.0])), few, bins=6) == pytest.approx(
        [0.125, 0.125, 0.0, 0.0, 0.375, 0.375]
    )
    with pytest.raises(ValueError, match="audio"):
        attention_profile(_rows(row), np.zeros(N_KEYS, dtype=bool))


def test_all_mass_on_one_audio_key() -> None:
    row = np.zeros(N_KEYS)
    row[5] = 1.0
    got = anchoring_score(_rows(row), MASK)
    assert got == pytest.approx({"con": 1.0, "ar": 1 / N_AUDIO, "ent": 0.0, "entropy": 0.0, "score": 0.625})


def test_half_text_half_audio() -> None:
    row = np.where(MASK, 0.5 / N_AUDIO, 0.5 / N_TEXT)
    got = anchoring_score(_rows(row), MASK)
    # each audio key gets 0.5 / 10 = 0.05, below the uniform share 1/16: none is above chance
    assert got == pytest.approx({"con": 0.5, "ar": 0.0, "ent": 1.0, "entropy": 1.0, "score": 0.45})
    # at half the uniform share (1/32) every audio key counts
    got = anchoring_score(_rows(row), MASK, AnchoringConfig(ar_threshold=0.5))
    assert got == pytest.approx({"con": 0.5, "ar": 1.0, "ent": 1.0, "entropy": 1.0, "score": 0.7})


def test_no_attention_on_audio_scores_zero() -> None:
    got = anchoring_score(_rows((~MASK).astype(float)), MASK)
    assert got == pytest.approx({"con": 0.0, "ar": 0.0, "ent": 0.0, "entropy": 0.0, "score": 0.0})


def test_entropy_floor_and_ar_threshold() -> None:
    # audio mass uniform over 4 of 16 audio keys: entropy log 4 / log 16 = 0.5
    mask = np.array([True] * 16 + [False] * 4)
    row = np.zeros(20)
    row[:4] = 0.25
    got = anchoring_score(_rows(row), mask, AnchoringConfig(entropy_floor=0.25))
    assert got["entropy"] == pytest.approx(0.5)
    assert got["ent"] == pytest.approx((0.5 - 0.25) / 0.75)
    assert got["ar"] == pytest.approx(4 / 16)
    assert anchoring_score(_rows(row), mask)["ent"] == 0.0  # default floor 0.5: at the floor, no reward
    # each active key gets 0.25 = 5x the uniform share 1/20: above a threshold of 4, not of 6
    assert anchoring_score(_rows(row), mask, AnchoringConfig(ar_threshold=4.0))["ar"] == pytest.approx(0.25)
    assert anchoring_score(_rows(row), mask, AnchoringConfig(ar_threshold=6.0))["ar"] == 0.0


def _masks(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Audio-key layouts: a block at the start, in the middle, at the end, every other key, scattered, all."""
    start, middle, end = (np.zeros(n, bool) for _ in range(3))
    start[: max(1, n // 3)] = True
    middle[n // 3 : max(n // 3 + 1, 2 * n // 3)] = True
    end[-max(1, n // 2) :] = True
    scattered = rng.random(n) < 0.4
    scattered[rng.integers(n)] = True
    return [start, middle, end, np.arange(n) % 2 == 0, scattered, np.ones(n, bool)]


def _uniform_maps(n: int, rows: int, dtype: type) -> list[np.ndarray]:
    """The same uniform attention computed the ways a producer might: 1/n, ones over their sum, a softmax
    of equal scores, and unnormalised constant rows."""
    ones = np.ones((rows, n), dtype=dtype)
    scores = np.zeros((rows, n), dtype=dtype)
    return [
        np.full((rows, n), 1.0 / n, dtype=dtype),
        ones / ones.sum(axis=1, keepdims=True, dtype=dtype),
        np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True),
        np.full((rows, n), 3.7, dtype=dtype),
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_exactly_uniform_map_has_no_key_above_chance(dtype: type) -> None:
    rng = np.random.default_rng(0)
    for n in (2, 3, 7, 10, 11, 49, 100, 750, 1001):
        for rows in (1, 3, 17):
            for mask in _masks(n, rng):
                for attn in _uniform_maps(n, rows, dtype):
                    got = anchoring_score(attn, mask)
                    assert got["ar"] == 0.0, (n, rows, int(mask.sum()))
                    assert got["con"] == pytest.approx(mask.mean())
    # keys at exactly the threshold's multiple of uniform are not above it either
    for n in (6, 10, 14, 750):
        row = np.zeros(n, dtype=dtype)
        row[: n // 2] = 2.0 / n  # twice uniform on half the keys (n even: the row sums to 1), none elsewhere
        mask = np.ones(n, bool)
        assert anchoring_score(_rows(row), mask, AnchoringConfig(ar_threshold=2.0))["ar"] == 0.0
        assert anchoring_score(_rows(row), mask)["ar"] == pytest.approx((n // 2) / n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_keys_above_uniform_give_their_share(dtype: type) -> None:
    rng = np.random.default_rng(1)
    for n in (10, 101, 750):
        for lift in (1.01, 1.5, 4.0):
            mask = rng.random(n) < 0.5
            mask[:2] = True
            audio = np.flatnonzero(mask)
            above = audio[: max(1, audio.size // 3)]  # a third of the audio keys above uniform
            row = np.ones(n)
            row[above] = lift
            others = np.setdiff1d(np.arange(n), above)
            row[others] = (n - lift * above.size) / others.size  # the rest share what is left, below uniform
            assert row[others].min() < 1.0 < lift
            got = anchoring_score(_rows((row / n).astype(dtype), n_rows=5), mask)
            assert got["ar"] == pytest.approx(above.size / audio.size)


def test_rows_are_averaged_and_renormalised() -> None:
    audio_row = MASK.astype(float) * 2.0  # sums to 20, not 1: renormalised
    text_row = (~MASK).astype(float)
    got = anchoring_score(np.stack([audio_row, text_row]), MASK)
    assert got["con"] == pytest.approx(0.5)
    assert got["entropy"] == pytest.approx(1.0)


def test_random_maps_stay_in_bounds_and_score_is_the_weighted_sum() -> None:
    rng = np.random.default_rng(0)
    config = AnchoringConfig()
    for _ in range(50):
        attn = rng.dirichlet(np.full(N_KEYS, rng.uniform(0.05, 5.0)), size=4)
        got = anchoring_score(attn, MASK, config)
        assert all(0.0 <= got[k] <= 1.0 for k in ("con", "ar", "ent", "entropy", "score"))
        weighted = (
            config.con_weight * got["con"] + config.ar_weight * got["ar"] + config.ent_weight * got["ent"]
        )
        assert got["score"] == pytest.approx(weighted)


def test_anchoring_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError):
        anchoring_score(np.ones((2, 5)), np.zeros(5, bool))  # no audio key
    with pytest.raises(ValueError):
        anchoring_score(np.ones((2, 5)), np.ones(4, bool))  # mask length
    with pytest.raises(ValueError):
        anchoring_score(np.zeros((2, 5)), np.ones(5, bool))  # empty rows
    with pytest.raises(ValueError):
        AnchoringConfig(con_weight=0.7)  # weights no longer sum to 1


def test_anchoring_reward_is_gated_on_correctness() -> None:
    got = anchoring(["a", "b", "c"], correct=[1.0, 0.0, 0.0], anchor_scores=[0.8, 0.9, None])
    assert got == [0.8, 0.0, 0.0]
    with pytest.raises(ValueError):
        anchoring(["a"], correct=[1.0], anchor_scores=[None])  # correct but never scored
    with pytest.raises(ValueError):
        anchoring(["a"], correct=[1.0], anchor_scores=[1.5])


# ---------------------------------------------------------------------------------------------- combine
def test_registry_and_combine() -> None:
    assert set(REWARDS) == set(DEFAULT_WEIGHTS) == {"correctness", "format", "anchoring"}
    parts = {"correctness": [1.0, 0.0], "format": [0.5, 1.0], "anchoring": [0.4, 0.0]}
    assert combine(parts, {"correctness": 1.0, "format": 0.5, "anchoring": 2.0}) == [2.05, 0.5]
    with pytest.raises(ValueError, match="different components"):
        combine(parts, {"correctness": 1.0, "format": 1.0})
    with pytest.raises(ValueError, match="length"):
        combine({"correctness": [1.0], "format": [1.0, 0.0]}, {"correctness": 1.0, "format": 1.0})


def test_default_weights_rank_any_correct_answer_above_any_wrong_one() -> None:
    worst_correct = combine(
        {"correctness": [1.0], "format": [-FormatConfig().penalty_max], "anchoring": [0.0]}, DEFAULT_WEIGHTS
    )[0]
    best_wrong = combine({"correctness": [0.0], "format": [1.0], "anchoring": [0.0]}, DEFAULT_WEIGHTS)[0]
    assert worst_correct > best_wrong


def test_rewards_run_end_to_end_through_the_registry() -> None:
    completions = [CLEAN, "<think>It barks.</think><answer>A</answer>", "<answer>A or C</answer>"]
    columns = {"choices": [CHOICES] * 3, "answer_index": [2, 2, 2]}
    parts = {"correctness": REWARDS["correctness"](completions, **columns)}
    parts["format"] = REWARDS["format"](completions, **columns)
    parts["anchoring"] = REWARDS["anchoring"](
        completions, correct=parts["correctness"], anchor_scores=[0.6, None, None], **columns
    )
    total = combine(parts, DEFAULT_WEIGHTS)
    # "<answer>A or C</answer>" alone: no think block, and an answer block the parser refuses
    assert parts == {"correctness": [1.0, 0.0, 0.0], "format": [1.0, 1.0, 0.0], "anchoring": [0.6, 0.0, 0.0]}
    assert total == [pytest.approx(1.55), pytest.approx(0.25), 0.0]
    assert all(math.isfinite(t) for t in total)
