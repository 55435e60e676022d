"""The trainer benchmark's synthetic task (`demo.toy`): only the clip decides the answer (every item has the
same question and options), tone items have balanced letters and the pitch of their option, and the
warm-start items are silent with random letters; download reads the layout."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import soundfile as sf

from adqa_data.core.workspace import Workspace
from adqa_data.demo.toy import CHOICES, QUESTION, RATE, TONES, write_pitch_task
from adqa_data.stages.download import download


def _peak_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x))
    return float(np.fft.rfftfreq(len(x), 1 / RATE)[int(np.argmax(spectrum))])


def test_tone_items_carry_their_answer_only_in_the_audio(tmp_path):
    root = write_pitch_task(tmp_path / "tones", 40, seed=1)
    rows = [json.loads(x) for x in (root / "data.jsonl").read_text().splitlines()]
    assert {r["question"] for r in rows} == {QUESTION} and all(r["choices"] == CHOICES for r in rows)
    assert Counter(r["answer"] for r in rows) == Counter({c: 10 for c in CHOICES})  # balanced
    for r in rows:
        x, rate = sf.read(root / r["audio_path"], dtype="float32")
        target = dict(TONES)[r["answer"]]
        assert rate == RATE and abs(_peak_hz(x) - target) < 0.1 * target  # the option's pitch
    ws = Workspace(tmp_path / "w")
    res = download(ws, from_dir=root, name="toy")
    assert res.items == 40


def test_warm_start_items_are_silent_with_random_letters(tmp_path):
    root = write_pitch_task(tmp_path / "silent", 200, seed=3, silent=True)
    rows = [json.loads(x) for x in (root / "data.jsonl").read_text().splitlines()]
    counts = Counter(r["answer"] for r in rows)
    assert set(counts) == set(CHOICES) and max(counts.values()) < 80  # every letter, none dominant
    x, _ = sf.read(root / rows[0]["audio_path"], dtype="float32")
    assert not np.any(x)
