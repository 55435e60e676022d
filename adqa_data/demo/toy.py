"""A synthetic four-option task that only the audio can answer: which of four pitches a tone has.

The trainer's proof that it learns (`benchmarks/toy_grpo.py`) needs a task whose text carries no hint:
every item asks the same question with the same four options in the same order, so the gold letter is
a function of the clip alone. Clips vary in pitch (±8% around the option's frequency), length, onset,
loudness and background noise, so a held-out clip is never a training clip. `silent=True` writes the
warm-start set instead: the same question over a silent clip with a uniformly random gold letter,
which can teach the answer format and nothing about the task.

Written in the AudioMCQ layout (`data.jsonl` + 16 kHz WAV files), so `adqa-data download --from-dir`
reads it like the real dataset.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

RATE = 16000
QUESTION = "Which tone is played in the recording?"
TONES = [
    ("a low tone near 200 Hz", 200.0),
    ("a middle tone near 600 Hz", 600.0),
    ("a high tone near 1.8 kHz", 1800.0),
    ("a very high tone near 5 kHz", 5000.0),
]
CHOICES = [label for label, _ in TONES]


def tone_clip(index: int, rng: np.random.Generator, seconds: float = 1.0) -> np.ndarray:
    """A tone of option `index`'s pitch, with a random length, onset, loudness and noise floor."""
    n = int(seconds * RATE)
    x = (0.005 * rng.standard_normal(n)).astype(np.float32)
    freq = TONES[index][1] * rng.uniform(0.92, 1.08)
    length = int(rng.uniform(0.4, 0.8) * n)
    start = int(rng.uniform(0, n - length))
    t = np.arange(length) / RATE
    env = np.minimum(1.0, np.minimum(t, t[-1] - t) * 50)  # 20 ms fades
    x[start : start + length] += (
        rng.uniform(0.15, 0.5) * env * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6.3))
    )
    return x


def write_pitch_task(out: str | Path, n: int, seed: int = 0, silent: bool = False) -> Path:
    """Write `n` items under `out` (AudioMCQ layout) and return `out`. Gold letters are balanced (item i
    has option i mod 4, in shuffled order) for tone items and uniformly random for `silent` ones."""
    import soundfile as sf

    root = Path(out)
    (root / "clips").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    answers = rng.integers(0, len(TONES), n) if silent else rng.permutation(np.arange(n) % len(TONES))
    rows = []
    for i, a in enumerate(answers):
        clip = np.zeros(RATE, dtype=np.float32) if silent else tone_clip(int(a), rng)
        item_id = f"{'silent' if silent else 'tone'}_{seed}_{i:05d}"
        rel = f"clips/{item_id}.wav"
        sf.write(root / rel, clip, RATE, format="WAV", subtype="PCM_16")
        rows.append(
            {
                "source_dataset": "toy",
                "id": item_id,
                "question_type": "pitch",
                "audio_path": rel,
                "question": QUESTION,
                "choices": list(CHOICES),
                "answer": CHOICES[int(a)],
            }
        )
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root
