"""The demo's designed data: every item knows whether it needs the audio.

Two kinds of four-option items, mixed in one set:

- **text-prior** items (`needs_audio: false`): the question gives the answer away ("Which animal is heard
  barking in this recording?" with "a dog" among the options), in several templates and question types
  (animals, instruments, places, counts, emotions). Their clip is an uninformative tone or timbre clip
  drawn like the audio-only ones, so the clip says nothing about the design.
- **audio-only** items (`needs_audio: true`): the same question and the same options in the same order on
  every item of a task, so the gold letter is a function of the clip alone. Two tasks of different
  kinds: which of four pitches a tone has (`demo.toy`'s pitch task) and which of four kinds a sound is
  (a pure tone, a buzz of odd harmonics, a hiss of noise, a click train; the pitched ones at a random
  pitch).
  A plucked string (decaying harmonics) was the first third kind: with gold labels the tiny policy
  mistook the pure tone for it (0.71 after 200 SFT steps of 8). A square wave was the next trouble: its
  harmonics reach the top of the spectrum, and on the log-mel scale (80 dB of range) the policy's frozen
  random audio encoder took it for the hiss (every square-wave dev item answered "hiss" after GRPO; gold
  SFT 0.48 after 200 steps). Its first four odd harmonics at the square wave's 1/k strengths were still
  taken for the pure tone at times (0.84); at equal strength (the buzz here: four lines, nothing
  broadband) gold SFT reaches 0.98 after the same 200 steps.

`needs_audio` is a design field: download keeps it in `upstream_json`, where no model sees it, so the
filter's weak/strong split and the eval's per-design accuracy can be measured against it.

`write_designed(out)` writes the AudioMCQ-layout training set and DCASE-layout dev and eval sets built
the same way (other seeds). `prior_corpus(seed)` is what the demo panel learns its priors from: text-prior
items of other draws, and audio-only questions with a reply that refuses to guess.
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..testing.data import _write_bytes
from .toy import CHOICES as PITCH_CHOICES
from .toy import QUESTION as PITCH_QUESTION
from .toy import RATE, tone_clip

TIMBRE_QUESTION = "Which kind of sound is played in the recording?"
TIMBRE_CHOICES = ["a pure tone", "a buzzing tone", "a hiss of noise", "a train of clicks"]
REFUSAL = "I cannot tell without listening to the clip."
SOURCES = ["AudioCaps", "Clotho", "MusicCaps"]

# (question type, templates with {clue}, [(clue, answer)]): the clue gives the answer away
TEXT_PRIOR = [
    (
        "sound",
        [
            "Which animal is heard {clue} in this recording?",
            "A loud {clue} sound fills the clip. Which animal makes it?",
            "Something keeps {clue} in the background. What is the source?",
        ],
        [
            ("barking", "a dog"),
            ("meowing", "a cat"),
            ("mooing", "a cow"),
            ("quacking", "a duck"),
            ("neighing", "a horse"),
            ("oinking", "a pig"),
            ("bleating", "a sheep"),
            ("croaking", "a frog"),
        ],
    ),
    (
        "music",
        [
            "Someone plays an instrument with {clue}. Which instrument is it?",
            "The melody comes from {clue}. What is being played?",
        ],
        [
            ("eighty-eight black and white keys", "a piano"),
            ("a bow and four strings under the chin", "a violin"),
            ("six strummed strings and frets", "a guitar"),
            ("three valves and a brass bell", "a trumpet"),
            ("sticks hitting skins and cymbals", "a drum kit"),
            ("a wooden reed and a curved brass body", "a saxophone"),
        ],
    ),
    (
        "scene",
        [
            "{clue}. Where was this most likely recorded?",
            "The recording is full of {clue}. What is the setting?",
        ],
        [
            ("gulls crying over crashing waves", "at a beach"),
            ("announcements about arriving trains", "at a train station"),
            ("whispers and pages turning among bookshelves", "in a library"),
            ("fans cheering after every goal", "at a stadium"),
            ("orders shouted over sizzling pans", "in a kitchen"),
            ("birdsong and leaves rustling under tall trees", "in a forest"),
        ],
    ),
    (
        "sound",
        [
            "A voice counts aloud from one to {clue}. How many numbers are spoken?",
            "The bell rings exactly {clue} times. How many rings are heard?",
        ],
        [("one", "one"), ("two", "two"), ("three", "three"), ("four", "four"), ("five", "five")],
    ),
    (
        "speech",
        [
            "The speaker is {clue}. What emotion does the voice convey?",
            "A child can be heard {clue}. How does the child feel?",
        ],
        [
            ("laughing with delight", "happiness"),
            ("sobbing quietly", "sadness"),
            ("yelling furiously", "anger"),
            ("gasping in fright", "fear"),
            ("yawning slowly", "boredom"),
        ],
    ),
]


@dataclass(frozen=True)
class Item:
    """One designed item: its text, gold option, clip and the design label."""

    question: str
    choices: list[str]
    answer: str
    question_type: str
    needs_audio: bool
    task: str  # pitch | timbre | the text-prior family's answer kind
    clip: np.ndarray


def timbre_clip(index: int, rng: np.random.Generator, seconds: float = 1.0) -> np.ndarray:
    """A sound of kind `index` (TIMBRE_CHOICES) at a random pitch (200-400 Hz; the hiss has none), length,
    onset, loudness and noise floor: the pitch range is shared by every kind, so only the kind decides.
    Timbre is told at a similar pitch: over 150-900 Hz a low buzz shares lines with a higher pure tone, and
    GRPO's final accuracy on the kinds ranged 0.75-0.97 over seeds and thread counts; over 200-400 Hz, with
    pipelines/demo/grpo.yaml, 0.97-1.0 over three seeds."""
    n = int(seconds * RATE)
    x = (0.005 * rng.standard_normal(n)).astype(np.float32)
    freq = rng.uniform(200.0, 400.0)
    length = int(rng.uniform(0.4, 0.8) * n)
    start = int(rng.uniform(0, n - length))
    t = np.arange(length) / RATE
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) * 50)
    phase = 2 * np.pi * freq * t + rng.uniform(0, 6.3)
    if index == 0:  # pure tone
        sig = np.sin(phase) * fade
    elif index == 1:  # a buzz: the first four odd harmonics at equal strength (see the module docstring)
        sig = sum(np.sin(k * phase) for k in (1, 3, 5, 7)) * fade
    elif index == 2:  # noise hiss: no pitch at all
        sig = rng.standard_normal(length) * fade
    else:  # click train, 8-25 clicks a second
        sig = np.zeros(length)
        step = int(RATE / rng.uniform(8.0, 25.0))
        for k in range(0, length - 40, step):
            sig[k : k + 40] = np.hanning(40)
    x[start : start + length] += (rng.uniform(0.15, 0.5) * sig / (np.abs(sig).max() + 1e-9)).astype(
        np.float32
    )
    return x


AUDIO_TASKS = {  # task -> (question, options in their fixed order, question type, clip maker)
    "pitch": (PITCH_QUESTION, PITCH_CHOICES, "music", tone_clip),
    "timbre": (TIMBRE_QUESTION, TIMBRE_CHOICES, "sound", timbre_clip),
}


def audio_item(task: str, answer_index: int, rng: np.random.Generator) -> Item:
    """One audio-only item of `task` whose clip is option `answer_index`'s."""
    question, choices, qtype, make = AUDIO_TASKS[task]
    return Item(question, list(choices), choices[answer_index], qtype, True, task, make(answer_index, rng))


def _audio_items(n: int, rng: np.random.Generator) -> list[Item]:
    """`n` audio-only items, half pitch, half timbre, each task's gold options balanced."""
    items = []
    for task, m in (("pitch", n // 2), ("timbre", n - n // 2)):
        for a in rng.permutation(np.arange(m) % 4):
            items.append(audio_item(task, int(a), rng))
    return items


def _text_item(rng: np.random.Generator, family: int | None = None) -> Item:
    """One text-prior item: a template of a family, a clue, its answer among three distractors of the
    same family (shuffled, so the letters are balanced), and an uninformative clip."""
    qtype, templates, pairs = TEXT_PRIOR[int(rng.integers(len(TEXT_PRIOR))) if family is None else family]
    clue, answer = pairs[int(rng.integers(len(pairs)))]
    others = [a for _, a in pairs if a != answer]
    choices = [answer, *rng.choice(others, size=3, replace=False).tolist()]
    rng.shuffle(choices)
    question = templates[int(rng.integers(len(templates)))].format(clue=clue)
    question = question[0].upper() + question[1:]
    make = tone_clip if rng.random() < 0.5 else timbre_clip
    return Item(question, choices, answer, qtype, False, "text", make(int(rng.integers(4)), rng))


def designed_items(n_audio: int, n_text: int, seed: int) -> list[Item]:
    """`n_audio` audio-only and `n_text` text-prior items (every family in turn), in a seeded order."""
    rng = np.random.default_rng(seed)
    items = _audio_items(n_audio, rng) + [_text_item(rng, i % len(TEXT_PRIOR)) for i in range(n_text)]
    order = rng.permutation(len(items))
    return [items[i] for i in order]


def _wav(x: np.ndarray) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, x, RATE, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    _write_bytes(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode())


def _audiomcq(root: Path, items: list[Item]) -> None:
    rows = []
    for i, it in enumerate(items):
        src = SOURCES[i % len(SOURCES)]
        rel = f"{src}/clip_{i:05d}.wav"
        _write_bytes(root / rel, _wav(it.clip))
        rows.append(
            {
                "source_dataset": src,
                "id": f"amcq_{i:05d}",
                "question_type": it.question_type,
                "audio_path": rel,
                "question": it.question,
                "choices": it.choices,
                "answer": it.answer,
                "needs_audio": it.needs_audio,
            }
        )
    _write_jsonl(root / "data.jsonl", rows)


def _dcase(root: Path, items: list[Item], prefix: str, with_answers: bool) -> None:
    rows = []
    for i, it in enumerate(items):
        rel = f"{prefix}_audios/{prefix}_{i + 1:04d}.wav"
        _write_bytes(root / rel, _wav(it.clip))
        row = {
            "id": f"{prefix}_{i + 1:04d}",
            "question_text": it.question,
            "multi_choice": it.choices,
            "audio_path": rel,
            "question_type": it.question_type,
            "needs_audio": it.needs_audio,
        }
        if with_answers:
            row["answer"] = it.answer
        rows.append(row)
    _write_jsonl(root / ("dev.jsonl" if with_answers else "eval-noanswer.jsonl"), rows)


def format_items(n: int, seed: int) -> list[Item]:
    """The warm start's set: `n` items asking the training set's questions (two thirds audio-only, a
    third text-prior, other draws) over 1 s of silence, each with a uniformly random gold option. It can
    teach the reply format on the very questions GRPO will see and nothing about the answers (the
    `benchmarks/toy_grpo.py` recipe). The weak split alone did not do: it holds no audio-only question,
    and a warm start on it left the tiny policy's replies to them unformatted (first GRPO round: format
    reward -0.05 of 0.25, 18 tokens a reply; with this set 0.25 and 12)."""
    rng = np.random.default_rng(20_000 + seed)
    silence = np.zeros(RATE, dtype=np.float32)
    out = []
    for i in range(n):
        it = _text_item(rng) if i % 3 == 2 else audio_item(("pitch", "timbre")[i % 2], 0, rng)
        gold = it.choices[int(rng.integers(len(it.choices)))]
        out.append(Item(it.question, it.choices, gold, it.question_type, it.needs_audio, it.task, silence))
    return out


def write_designed(
    out: str | Path,
    n_audio: int = 384,
    n_text: int = 192,
    n_dev: int = 96,
    n_eval: int = 48,
    seed: int = 0,
    n_format: int = 96,
) -> dict[str, Path]:
    """Write `out/audiomcq/` (training set: `n_audio` audio-only, `n_text` text-prior items),
    `out/format/` (the warm start's `n_format` silent items with random gold options, `format_items`),
    `out/dcase2026-dev/` (`n_dev` items, two thirds audio-only) and `out/dcase2026-eval/` (`n_eval`, the
    same mix, no answers). Reruns leave unchanged files alone. Returns folder name -> root."""
    out = Path(out)
    roots = {k: out / k for k in ("audiomcq", "format", "dcase2026-dev", "dcase2026-eval")}
    _audiomcq(roots["audiomcq"], designed_items(n_audio, n_text, seed))
    _audiomcq(roots["format"], format_items(n_format, seed))
    dev_audio, eval_audio = (2 * n_dev) // 3, (2 * n_eval) // 3
    _dcase(roots["dcase2026-dev"], designed_items(dev_audio, n_dev - dev_audio, seed + 1), "dev", True)
    _dcase(roots["dcase2026-eval"], designed_items(eval_audio, n_eval - eval_audio, seed + 2), "eval", False)
    return roots


def prior_corpus(n: int, seed: int) -> list[tuple[Item, str]]:
    """What a demo panel member learns from: (item, reply) pairs. Two thirds are text-prior items of
    other draws than any written set, answered `<answer>{option}</answer>`; a third are audio-only
    questions (options shuffled) answered with a refusal, since the text cannot tell them apart. Clips
    are drawn like the sets' and carry nothing the replies depend on."""
    rng = np.random.default_rng(10_000 + seed)
    shuffle = random.Random(seed)
    out = []
    for i in range(n):
        if i % 3 == 2:
            it = audio_item("pitch" if i % 2 else "timbre", int(rng.integers(4)), rng)
            choices = list(it.choices)
            shuffle.shuffle(choices)
            out.append(
                (Item(it.question, choices, it.answer, it.question_type, True, it.task, it.clip), REFUSAL)
            )
        else:
            it = _text_item(rng)
            out.append((it, f"<answer>{it.answer}</answer>"))
    return out
