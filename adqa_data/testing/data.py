"""Small synthetic datasets in the exact upstream layouts, so every stage runs offline in minutes.

`write_demo(out)` writes `out/audiomcq/` (AudioMCQ-StrongAC-GeminiCoT layout: `data.jsonl` + one audio
folder per source corpus), `out/dcase2026-dev/` (`dev.jsonl` + `dev_audios/`) and `out/dcase2026-eval/`
(`eval-noanswer.jsonl` + `eval_audios/`). Clips are tones, noise bursts and clicks in wav, flac, ogg and
mp3, mono and stereo, at several rates. Most questions can only be answered by listening (pitch,
click count, order of events); a few can be answered from the text alone, so audio-contribution
filtering has something to find. `defects=True` plants one row of every kind download must quarantine.
The tests use this same generator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# (container, subtype, extension)
FORMATS = [
    ("WAV", "PCM_16", "wav"),
    ("FLAC", "PCM_16", "flac"),
    ("OGG", "VORBIS", "ogg"),
    ("MP3", "MPEG_LAYER_III", "mp3"),
]
RATES = [16000, 22050, 24000, 32000, 8000]
PITCHES = [
    ("a low hum around 150 Hz", 150.0),
    ("a mid tone near 440 Hz", 440.0),
    ("a high whistle around 1.8 kHz", 1800.0),
]
COUNTS = ["one", "two", "three", "four"]


@dataclass
class Clip:
    kind: str  # tone | clicks | sequence
    samples: np.ndarray  # [frames] or [frames, 2]
    rate: int
    answer: str
    choices: list[str]
    question: str
    question_type: str


def _tone(freq: float, seconds: float, rate: int, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    env = np.minimum(1.0, np.minimum(t, seconds - t) * 40)  # 25 ms fades, no clicks at the edges
    return (amp * env * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _clicks(n: int, seconds: float, rate: int) -> np.ndarray:
    x = np.zeros(int(seconds * rate), dtype=np.float32)
    for k in range(n):
        start = int((0.1 + k * (seconds - 0.2) / max(n, 1)) * rate)
        x[start : start + int(0.004 * rate)] = 0.8
    return x


def _noise(seconds: float, rate: int, rng: np.random.Generator, amp: float = 0.2) -> np.ndarray:
    return (amp * rng.standard_normal(int(seconds * rate))).astype(np.float32)


def soundscape(seed: int, seconds: float = 10.0, rate: int = 16000) -> np.ndarray:
    """A distinct, natural-looking clip per seed: harmonic events with vibrato, band-shaped noise bursts,
    chirps and click trains at random times over a quiet noise floor (float32, mono, peak ~0.5).

    Unlike the tones above, every seed gives different time structure, which is what an audio
    fingerprint identifies a recording by (check-leakage tests and its recall benchmark use these)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = 0.01 * rng.standard_normal(n)
    for _ in range(int(rng.integers(6, 14))):
        start = rng.uniform(0, seconds * 0.9)
        dur = rng.uniform(0.15, min(2.0, seconds - start))
        seg = (t >= start) & (t < start + dur)
        tt = t[seg] - start
        env = np.sin(np.pi * tt / dur) ** rng.uniform(0.5, 2.0)
        kind = rng.integers(4)
        if kind == 0:  # harmonic event with vibrato
            f0 = rng.uniform(120, 900)
            phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.02 * np.sin(2 * np.pi * rng.uniform(3, 7) * tt))) / rate
            ev = sum(rng.uniform(0.2, 1) / h * np.sin(h * phase) for h in range(1, 6))
        elif kind == 1:  # noise burst shaped by a random band
            spec = np.fft.rfft(rng.standard_normal(seg.sum()))
            f = np.fft.rfftfreq(seg.sum(), 1 / rate)
            centre, width = rng.uniform(200, 3500), rng.uniform(100, 1500)
            ev = np.fft.irfft(spec * np.exp(-(((f - centre) / width) ** 2)), seg.sum())
            ev /= np.abs(ev).max() + 1e-9
        elif kind == 2:  # chirp
            f_a, f_b = rng.uniform(200, 3000, size=2)
            ev = np.sin(2 * np.pi * (f_a * tt + (f_b - f_a) * tt**2 / (2 * dur)))
        else:  # click train
            ev = np.zeros(seg.sum())
            ev[:: max(1, int(rate / rng.uniform(3, 15)))] = 1.0
        x[seg] += rng.uniform(0.1, 0.4) * env * ev
    return (0.5 * x / (np.abs(x).max() + 1e-9)).astype(np.float32)


def _make_clip(
    i: int, rng: np.random.Generator, rate: int | None = None, seconds: float | None = None
) -> Clip:
    rate = rate or RATES[i % len(RATES)]
    seconds = seconds or 1.0 + 0.25 * (i % 3)
    kind = ("tone", "clicks", "sequence")[i % 3]
    if kind == "tone":
        label, freq = PITCHES[i % len(PITCHES)]
        choices = [p[0] for p in PITCHES] + ["no tone, only noise"]
        x = _tone(freq, seconds, rate)
        return Clip(
            kind, x, rate, label, choices, "Which description best matches the pitch of the sound?", "music"
        )
    if kind == "clicks":
        n = 1 + i % 4
        x = _clicks(n, seconds, rate)
        return Clip(
            kind,
            x,
            rate,
            COUNTS[n - 1],
            list(COUNTS),
            "How many distinct clicks can be heard in the recording?",
            "sound",
        )
    tone_first = i % 2 == 0
    half = seconds / 2
    a, b = _tone(660.0, half, rate), _noise(half, rate, rng)
    x = np.concatenate([a, b] if tone_first else [b, a])
    answer = "the tone comes before the noise" if tone_first else "the noise comes before the tone"
    choices = [
        "the tone comes before the noise",
        "the noise comes before the tone",
        "both start at the same moment",
        "there is no noise at all",
    ]
    return Clip(kind, x, rate, answer, choices, "In what order do the two sounds occur?", "temporal")


def _write_bytes(path: Path, data: bytes) -> None:
    """Write only when the content differs: rerunning demo-data leaves files (and mtimes) alone, so a
    pipeline that starts with it stays up to date downstream."""
    if not (path.is_file() and path.read_bytes() == data):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _write_audio(path: Path, x: np.ndarray, rate: int, fmt_index: int, stereo: bool) -> None:
    import io

    import soundfile as sf

    fmt, subtype, _ = FORMATS[fmt_index]
    if stereo:
        x = np.stack([x, 0.5 * x], axis=1)
    if fmt == "MP3" and rate not in (8000, 16000, 22050, 24000, 32000, 44100, 48000):
        rate = 16000
    if path.is_file():  # Ogg Vorbis streams get a random serial number: re-encoding would change bytes
        return
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    _write_bytes(path, buf.getvalue())


TEXT_ONLY = [  # answerable without listening: the "weak" kind audio-contribution filtering should find
    ("Which of these animals is known for barking?", ["a dog", "a fish", "a snail", "a butterfly"], "a dog"),
    ("A church bell is usually made of which material?", ["bronze", "paper", "wool", "glass"], "bronze"),
    ("Which instrument has 88 keys?", ["a piano", "a violin", "a flute", "a trumpet"], "a piano"),
]


def _audiomcq(root: Path, n_clips: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    sources = ["AudioCaps", "Clotho", "MusicCaps", "Tacos"]
    rows = []
    for i in range(n_clips):
        clip = _make_clip(i, rng)
        fmt_index = i % len(FORMATS)
        src = sources[i % len(sources)]
        rel = f"{src}/clip_{i:03d}.{FORMATS[fmt_index][2]}"
        _write_audio(root / rel, clip.samples, clip.rate, fmt_index, stereo=i % 5 == 4)
        rows.append(
            {
                "source_dataset": src,
                "id": f"amcq_{i:04d}",
                "question_type": clip.question_type,
                "audio_path": rel,
                "question": clip.question,
                "choices": clip.choices,
                "answer": clip.answer,
                "gemini_cot": f"The clip is a {clip.kind} recording; listening closely gives: {clip.answer}.",
            }
        )
    # several rows sharing one clip (upstream has this): the probe must read the file once
    for j, (q, choices, answer) in enumerate(TEXT_ONLY):
        rows.append(
            {
                "source_dataset": sources[0],
                "id": f"amcq_text_{j}",
                "question_type": "sound",
                "audio_path": rows[j]["audio_path"],
                "question": q,
                "choices": choices,
                "answer": answer,
                "gemini_cot": "This follows from general knowledge.",
                "audio-contribution": "weak",
            }
        )
    return rows


def _plant_defects(root: Path, rows: list[dict], outside: Path) -> list[str]:
    """Append one row per quarantine reason; returns extra raw lines (not valid JSON objects)."""
    import io

    import soundfile as sf

    good = dict(rows[0])
    ok_path = good["audio_path"]

    def row(i: str, **kw) -> dict:
        return {**good, "id": f"bad_{i}", **kw}

    def encoded(x: np.ndarray, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
        buf = io.BytesIO()
        sf.write(buf, x, 16000, format=fmt, subtype=subtype)
        return buf.getvalue()

    broken = root / "Broken"
    _write_bytes(broken / "garbage.wav", np.random.default_rng(7).bytes(2000))
    _write_bytes(broken / "empty.wav", b"")
    _write_bytes(broken / "noframes.wav", encoded(np.zeros(0, dtype=np.float32)))
    wav = encoded(_tone(440, 2.0, 16000))
    _write_bytes(broken / "truncated.wav", wav[: len(wav) // 2])
    mp3 = encoded(_tone(440, 4.0, 16000), "MP3", "MPEG_LAYER_III")
    _write_bytes(broken / "truncated.mp3", mp3[: len(mp3) // 3])
    _write_bytes(outside / "secret.wav", encoded(_tone(300, 1.0, 16000)))
    link = broken / "link_out.wav"
    if not link.is_symlink():
        link.symlink_to(outside / "secret.wav")
    rows += [
        row("missing_audio", audio_path="AudioCaps/does_not_exist.wav"),
        row("garbage_audio", audio_path="Broken/garbage.wav"),
        row("empty_file", audio_path="Broken/empty.wav"),
        row("no_frames", audio_path="Broken/noframes.wav"),
        row("truncated_wav", audio_path="Broken/truncated.wav"),
        row("truncated_mp3", audio_path="Broken/truncated.mp3"),
        row("answer_not_in_choices", answer="a kazoo"),
        row("one_choice", choices=[good["answer"]]),
        row(
            "dup_choices",
            choices=[good["choices"][0], good["choices"][0], "x", "y"],
            answer=good["choices"][0],
        ),
        {**good},  # duplicate id of row 0
        {k: v for k, v in row("no_question").items() if k != "question"},
        row("choices_not_list", choices="A, B, C"),
        row("absolute", audio_path=str((root / ok_path).absolute())),
        row("climbs", audio_path="AudioCaps/../../outside/secret.wav"),
        row("link_out", audio_path="Broken/link_out.wav"),
    ]
    return ['{"id": "bad_json", "question": "unterminated', "[1, 2, 3]"]


EXPECTED_DEFECT_REASONS = {  # what download must report for the planted rows
    "audio_missing": 1,
    "audio_unreadable": 1,
    "audio_empty": 2,
    "audio_truncated": 2,
    "answer_not_in_choices": 1,
    "too_few_choices": 1,
    "duplicate_choices": 1,
    "duplicate_id": 1,
    "missing_field": 1,
    "bad_field": 1,
    "absolute_path": 1,
    "path_escapes_root": 1,
    "link_escapes_root": 1,
    "invalid_json": 2,
}


def _write_jsonl(path: Path, rows: list[dict], extra_lines: list[str] = ()) -> None:
    lines = [json.dumps(r, ensure_ascii=False) for r in rows] + list(extra_lines)
    _write_bytes(path, ("\n".join(lines) + "\n").encode())


def _dcase(root: Path, n: int, seed: int, with_answers: bool) -> None:
    rng = np.random.default_rng(seed + 1000)
    prefix = "dev" if with_answers else "eval"
    rows = []
    for i in range(n):
        clip = _make_clip(i + 7, rng, rate=16000, seconds=1.0)
        rel = f"{prefix}_audios/{prefix}_{i + 1:04d}.wav"
        _write_audio(root / rel, clip.samples, clip.rate, 0, stereo=False)
        row = {
            "id": f"{prefix}_{i + 1:04d}",
            "question_text": clip.question,
            "multi_choice": clip.choices,
            "audio_path": rel,
        }
        if with_answers:
            row["answer"] = clip.answer
        rows.append(row)
    _write_jsonl(root / ("dev.jsonl" if with_answers else "eval-noanswer.jsonl"), rows)


def write_demo(out: str | Path, n_clips: int = 24, seed: int = 0, defects: bool = False) -> dict[str, Path]:
    """Write the demo datasets under `out`; returns layout name -> dataset root."""
    out = Path(out)
    roots = {
        "audiomcq": out / "audiomcq",
        "dcase2026-dev": out / "dcase2026-dev",
        "dcase2026-eval": out / "dcase2026-eval",
    }
    for r in roots.values():
        r.mkdir(parents=True, exist_ok=True)
    rows = _audiomcq(roots["audiomcq"], n_clips, seed)
    extra = _plant_defects(roots["audiomcq"], rows, out / "outside") if defects else []
    _write_jsonl(roots["audiomcq"] / "data.jsonl", rows, extra)
    _dcase(roots["dcase2026-dev"], max(4, n_clips // 3), seed, with_answers=True)
    _dcase(roots["dcase2026-eval"], max(4, n_clips // 4), seed, with_answers=False)
    return roots
