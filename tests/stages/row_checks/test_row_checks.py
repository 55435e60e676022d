"""`row_checks`: the item checks filter and rollout run before a model loads, on data built here.

- `text_problem`: more than ten options is `too_many_choices`; a prompt over the cap is `prompt_too_long`
  counted on the text the prompt style renders (options included), for every prompt check given, with the
  count, unit, model and option named; at the cap exactly is fine.
- `token_counter`: a local tokenizer folder counts tokens; no model, a folder without a tokenizer, an
  unloadable one, or a hub id absent from the offline cache count UTF-8 bytes (multi-byte text counts
  more bytes than characters).
- `audio_problems` / `check_items`: an intact clip passes; a changed, missing, folder, escaping-link,
  absolute or climbing clip gets its quarantine reason; each distinct clip is verified once; text
  problems win over audio ones; `audio=False` never opens a file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from adqa_data.core.schema import QuarantineReason as R
from adqa_data.mcq.prompt_styles import get_style
from adqa_data.stages import row_checks
from adqa_data.stages.row_checks import (
    PromptCheck,
    audio_problems,
    byte_count,
    check_items,
    text_problem,
    token_counter,
)

QUESTION = "Which instrument plays the melody?"
CHOICES = ["a violin", "a flute", "a piano", "a trumpet"]


def bytes_check(style: str = "letters", model: str = "m") -> PromptCheck:
    return PromptCheck(style=style, count=byte_count, unit="UTF-8 bytes", model=model)


# -------------------------------------------------------------------------------------------- text
def test_a_fitting_item_has_no_problem():
    n = byte_count(get_style("letters").render(QUESTION, CHOICES))
    assert text_problem(QUESTION, CHOICES, [bytes_check()], n) is None  # at the cap exactly


def test_over_the_cap_names_count_unit_model_and_option():
    n = byte_count(get_style("letters").render(QUESTION, CHOICES))
    reason, detail = text_problem(QUESTION, CHOICES, [bytes_check(model="tiny-qwen")], n - 1)
    assert reason == R.PROMPT_TOO_LONG
    assert f"{n} UTF-8 bytes" in detail and "tiny-qwen" in detail and f"at most {n - 1}" in detail
    assert "--max-prompt-tokens" in detail


def test_the_rendered_prompt_is_counted_options_included():
    long_option = ["x" * 500, *CHOICES[1:]]
    cap = byte_count(get_style("letters").render(QUESTION, CHOICES)) + 10
    assert text_problem(QUESTION, CHOICES, [bytes_check()], cap) is None
    reason, _ = text_problem(QUESTION, long_option, [bytes_check()], cap)
    assert reason == R.PROMPT_TOO_LONG


def test_every_check_is_applied_and_the_failing_one_named():
    short = PromptCheck("letters", count=lambda text: 1, unit="tokens", model="short-model")
    long = PromptCheck("think", count=lambda text: 10_000, unit="tokens", model="long-model")
    assert text_problem(QUESTION, CHOICES, [short], 100) is None
    reason, detail = text_problem(QUESTION, CHOICES, [short, long], 100)
    assert reason == R.PROMPT_TOO_LONG and "long-model" in detail and "10000 tokens" in detail


def test_more_than_ten_options_cannot_be_lettered():
    eleven = [f"option {i}" for i in range(11)]
    reason, detail = text_problem(QUESTION, eleven, [bytes_check()], 10**6)
    assert reason == R.TOO_MANY_CHOICES and "11 choices" in detail
    assert text_problem(QUESTION, eleven[:10], [bytes_check()], 10**6) is None


def test_bytes_count_multibyte_text_as_bytes():
    assert byte_count("abc") == 3 and byte_count("ééé") == 6 and byte_count("音") == 3


# ------------------------------------------------------------------------------------------ tokenizer
def test_token_counter_falls_back_to_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert token_counter(None)[1] == "UTF-8 bytes"
    empty = tmp_path / "no_tokenizer"
    empty.mkdir()
    assert token_counter(str(empty))[1] == "UTF-8 bytes"
    assert token_counter(str(tmp_path / "missing"))[1] == "UTF-8 bytes"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "tokenizer_config.json").write_text("{not json")
    count, unit = token_counter(str(broken))
    assert unit == "UTF-8 bytes" and count("ééé") == 6
    assert token_counter("nobody/not-a-cached-model")[1] == "UTF-8 bytes"


def test_token_counter_counts_tokens_of_a_local_tokenizer(tmp_path):
    from adqa_data.testing.models import train_bpe_tokenizer

    corpus = [f"{QUESTION} {' '.join(CHOICES)} number {i}" for i in range(50)]
    train_bpe_tokenizer(tmp_path / "tok", vocab_size=400, corpus=corpus)
    count, unit = token_counter(str(tmp_path / "tok"))
    text = get_style("letters").render(QUESTION, CHOICES)
    assert unit == "tokens" and 0 < count(text) < byte_count(text)  # merges learned on this very text


# ----------------------------------------------------------------------------------------------- audio
@pytest.fixture
def clips(tmp_path) -> tuple[Path, dict[str, tuple[str, str]]]:
    """A dataset root with an intact clip and one clip of each defect: name -> (audio_path, sha256)."""
    root = tmp_path / "root"
    (root / "audio").mkdir(parents=True)
    outside = tmp_path / "outside.wav"
    outside.write_bytes(b"RIFF outside")

    def clip(rel: str, data: bytes) -> tuple[str, str]:
        (root / rel).write_bytes(data)
        return rel, hashlib.sha256(data).hexdigest()

    good = clip("audio/good.wav", b"RIFF good")
    changed_path, _ = clip("audio/changed.wav", b"RIFF new bytes")
    (root / "audio" / "folder.wav").mkdir()
    os.symlink(outside, root / "audio" / "escape.wav")
    os.symlink(root / "audio" / "good.wav", root / "audio" / "inside_link.wav")
    sha_outside = hashlib.sha256(outside.read_bytes()).hexdigest()
    return root, {
        "good": good,
        "inside_link": ("audio/inside_link.wav", good[1]),
        "changed": (changed_path, hashlib.sha256(b"RIFF old bytes").hexdigest()),
        "missing": ("audio/missing.wav", good[1]),
        "folder": ("audio/folder.wav", good[1]),
        "escape": ("audio/escape.wav", sha_outside),
        "absolute": (str(outside), sha_outside),
        "climbing": ("../outside.wav", sha_outside),
    }


WANT = {
    "changed": R.AUDIO_CHANGED,
    "missing": R.AUDIO_MISSING,
    "folder": R.AUDIO_NOT_A_FILE,
    "escape": R.LINK_ESCAPES_ROOT,
    "absolute": R.ABSOLUTE_PATH,
    "climbing": R.PATH_ESCAPES_ROOT,
}


def test_each_audio_defect_gets_its_reason(clips):
    root, by_name = clips
    got = audio_problems(root, by_name.values())
    assert {name: got[c][0] for name, c in by_name.items() if c in got} == WANT
    assert by_name["good"] not in got and by_name["inside_link"] not in got
    assert all(detail for _, detail in got.values())


def test_each_distinct_clip_is_verified_once(clips, monkeypatch):
    root, by_name = clips
    seen: list[tuple[str, str]] = []
    real = row_checks.verify_item_audio

    def counting(root_, path, sha):
        seen.append((path, sha))
        return real(root_, path, sha)

    monkeypatch.setattr(row_checks, "verify_item_audio", counting)
    audio_problems(root, [by_name["good"], by_name["changed"]] * 5, workers=2)
    assert sorted(seen) == sorted([by_name["good"], by_name["changed"]])


def item(item_id: str, clip: tuple[str, str], choices: list[str] = CHOICES) -> dict:
    return {
        "item_id": item_id,
        "question": QUESTION,
        "choices": choices,
        "audio_path": clip[0],
        "audio_sha256": clip[1],
    }


def test_check_items_joins_text_and_audio_problems(clips):
    root, by_name = clips
    items = [
        item("ok", by_name["good"]),
        item("ok_too", by_name["good"]),  # the same clip: one check, both fine
        item("changed_a", by_name["changed"]),
        item("changed_b", by_name["changed"]),
        item("missing", by_name["missing"]),
        # both a text and an audio problem: the text one is reported
        item("eleven", by_name["missing"], [f"o{i}" for i in range(11)]),
    ]
    got = check_items(root, items, [bytes_check()], 10_000)
    assert {k: v[0] for k, v in got.items()} == {
        "changed_a": R.AUDIO_CHANGED,
        "changed_b": R.AUDIO_CHANGED,
        "missing": R.AUDIO_MISSING,
        "eleven": R.TOO_MANY_CHOICES,
    }
    # a tight cap refuses them all on text, before any file is read
    tight = check_items(root, items, [bytes_check()], 5)
    assert {v[0] for v in tight.values()} == {R.PROMPT_TOO_LONG, R.TOO_MANY_CHOICES} and len(tight) == 6


def test_without_audio_no_file_is_opened(clips, monkeypatch):
    root, by_name = clips

    def never(*a, **k):
        raise AssertionError("a file was checked with audio=False")

    monkeypatch.setattr(row_checks, "verify_item_audio", never)
    items = [
        item("missing", by_name["missing"]),
        item("eleven", by_name["good"], [str(i) for i in range(11)]),
    ]
    got = check_items(root, items, [bytes_check()], 10_000, audio=False)
    assert got == {"eleven": got["eleven"]} and got["eleven"][0] == R.TOO_MANY_CHOICES
