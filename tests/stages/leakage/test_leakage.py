"""check-leakage: a resampled and a re-encoded copy of a dev clip and a question reworded only in case are
found, an unrelated item is not; templates are not flagged; fingerprints are cached; sample leaves
flagged items out."""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from adqa_data.audio.clips import decode, resample
from adqa_data.cli import app
from adqa_data.core.errors import UserError
from adqa_data.core.schema import LEAKAGE, PROMPTS
from adqa_data.core.workspace import Workspace
from adqa_data.stages.download import download
from adqa_data.stages.leakage import audio_fingerprint as afp
from adqa_data.stages.leakage import check_leakage, normalise_text, question_key
from adqa_data.stages.sample import sample
from adqa_data.testing.data import soundscape, write_demo

runner = CliRunner()
LEAK_Q = "What happens right after the chirp?"
LEAK_CHOICES = ["a dog barks", "a bell rings", "nothing", "a car passes"]
PLANTED = ["copy_resampled", "copy_mp3", "copy_case", "clean"]


def _encode(x: np.ndarray, rate: int, fmt: str, subtype: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def _append_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "a") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


@pytest.fixture(scope="module")
def base_ws(tmp_path_factory) -> Path:
    """The demo datasets plus: a dev item with a natural-sounding clip, and in the training set a 22.05 kHz
    copy of that clip, an MP3 of it, the dev question in other case (on another clip) and a clean item."""
    tmp = tmp_path_factory.mktemp("leak")
    roots = write_demo(tmp / "demo")
    dev, train = roots["dcase2026-dev"], roots["audiomcq"]
    x = soundscape(123, 4.0, 16000)
    (dev / "dev_audios" / "dev_leak.wav").write_bytes(_encode(x, 16000, "WAV", "PCM_16"))
    _append_jsonl(
        dev / "dev.jsonl",
        [
            {
                "id": "dev_leak",
                "question_text": LEAK_Q,
                "multi_choice": LEAK_CHOICES,
                "answer": "a bell rings",
                "audio_path": "dev_audios/dev_leak.wav",
            }
        ],
    )
    clips = {
        "resampled.wav": _encode(resample(x, 16000, 22050), 22050, "WAV", "PCM_16"),
        "reencoded.mp3": _encode(x, 16000, "MP3", "MPEG_LAYER_III"),
        "other.wav": _encode(soundscape(7, 4.0, 16000), 16000, "WAV", "PCM_16"),
    }
    for name, data in clips.items():
        (train / "Clotho" / name).write_bytes(data)
    base = {
        "source_dataset": "Clotho",
        "question_type": "sound",
        "choices": ["one", "two", "three", "four"],
        "answer": "one",
        "question": "How many events?",
    }
    _append_jsonl(
        train / "data.jsonl",
        [
            {**base, "id": "copy_resampled", "audio_path": "Clotho/resampled.wav"},
            {**base, "id": "copy_mp3", "audio_path": "Clotho/reencoded.mp3"},
            {
                **base,
                "id": "copy_case",
                "audio_path": "Clotho/other.wav",
                "question": LEAK_Q.upper(),
                "choices": [c.title() for c in reversed(LEAK_CHOICES)],
                "answer": "A Bell Rings",
            },
            {
                **base,
                "id": "clean",
                "audio_path": "Clotho/other.wav",
                "question": "What happens before the chirp?",
            },
        ],
    )
    ws = Workspace(tmp / "w")
    for layout in ("audiomcq", "dcase2026-dev", "dcase2026-eval"):
        download(ws, from_dir=roots[layout])
    return ws.root


@pytest.fixture
def ws(base_ws, tmp_path) -> Workspace:
    shutil.copytree(base_ws, tmp_path / "w")
    return Workspace(tmp_path / "w")


def _flags(ws: Workspace) -> dict[str, set[tuple[str, str]]]:
    out: dict[str, set[tuple[str, str]]] = {}
    for r in ws.read(LEAKAGE, "audiomcq").to_pylist():
        out.setdefault(r["item_id"], set()).add((r["method"], r["reference_item_id"]))
    return out


# -------------------------------------------------------------------------------------------- matching
def test_finds_resampled_and_reencoded_copies_and_a_case_only_rewording(ws):
    res = check_leakage(ws, "audiomcq")
    flags = _flags(ws)
    assert flags["copy_resampled"] == {("audio_fingerprint", "dev_leak")}
    assert flags["copy_mp3"] == {("audio_fingerprint", "dev_leak")}
    assert flags["copy_case"] == {("text", "dev_leak")}
    assert "clean" not in flags
    assert res.against == ["dcase2026-dev", "dcase2026-eval"] and res.flagged_items == len(flags)
    rows = {r["item_id"]: r for r in ws.read(LEAKAGE, "audiomcq").to_pylist() if r["item_id"] in PLANTED}
    assert rows["copy_resampled"]["similarity"] > 0.95 and rows["copy_mp3"]["similarity"] > 1 - afp.MAX_BER
    assert rows["copy_case"]["reference_split"] == "dev" and rows["copy_case"]["similarity"] == 1.0
    again = check_leakage(ws, "audiomcq")
    assert again.up_to_date and again.flagged_items == res.flagged_items


def test_identical_bytes_are_reported_by_hash_only(ws):
    check_leakage(ws, "audiomcq")
    dev_sha = {r["audio_sha256"] for r in ws.items("dcase2026-dev").to_pylist()}
    same = {r["item_id"] for r in ws.items("audiomcq").to_pylist() if r["audio_sha256"] in dev_sha}
    flags = _flags(ws)
    for item in same:  # the demo's tones are byte-identical between the sets: the hash says so, once
        methods = {m for m, _ in flags[item]}
        assert "audio_sha256" in methods and "audio_fingerprint" not in methods
    assert same, "the demo data should share some clips"


def test_text_templates_are_not_flagged_unless_asked(ws):
    res = check_leakage(ws, "audiomcq", methods=["text"])
    assert res.by_method == {"text": 1} and res.template_matches > 0  # the demo asks "How many clicks?" often
    every = check_leakage(ws, "audiomcq", methods=["text"], template_min=0)
    assert every.by_method == {"text": res.template_matches + 1} and every.template_matches == 0


def test_normalised_text_ignores_case_spacing_punctuation_and_option_order():
    assert normalise_text("  What's THAT   sound?! ") == "what s that sound"
    assert question_key("Q?", ["b", "A."]) == question_key("q", ["a", "B"])
    assert question_key("Q?", ["a", "b"]) != question_key("Q?", ["a", "c"])


def test_fingerprint_survives_codecs_and_separates_clips():
    x = soundscape(5, 5.0, 22050)
    index = afp.FingerprintIndex(
        [
            afp.fingerprint_samples(resample(x, 22050, afp.RATE)),
            afp.fingerprint_samples(resample(soundscape(6, 5.0, 22050), 22050, afp.RATE)),
        ]
    )
    for fmt, subtype, rate in (
        ("OGG", "VORBIS", 22050),
        ("MP3", "MPEG_LAYER_III", 22050),
        ("FLAC", "PCM_16", 8000),
    ):
        y = decode(_encode(0.5 * resample(x, 22050, rate), rate, fmt, subtype), afp.RATE)[0]
        assert [m.reference for m in index.match(afp.fingerprint_samples(y))] == [0], fmt
    cropped = afp.fingerprint_samples(
        resample(x[22050:], 22050, afp.RATE)
    )  # the clip without its first second
    (hit,) = index.match(cropped)
    assert hit.reference == 0 and hit.offset_frames == pytest.approx(afp.RATE / afp.HOP, abs=1)
    quiet = afp.fingerprint_samples(np.zeros(afp.RATE * 3, dtype=np.float32))
    assert quiet.n_valid == 0 and index.match(quiet) == []


# ----------------------------------------------------------------------------------- cache and sample
def test_fingerprints_are_cached_per_dataset(ws):
    check_leakage(ws, "audiomcq", against=["dcase2026-dev"])
    before = ws.provenance("audio-fingerprint", "audiomcq")["finished"]
    res = check_leakage(ws, "audiomcq", against=["dcase2026-eval"])
    assert ws.provenance("audio-fingerprint", "audiomcq")["finished"] == before  # reused, not recomputed
    assert res.against == ["dcase2026-eval"] and "copy_mp3" not in _flags(ws)
    with pytest.raises(UserError, match="against itself"):
        check_leakage(ws, "audiomcq", against=["audiomcq"])


def test_a_clip_that_no_longer_decodes_is_counted_not_fatal(ws, tmp_path):
    rec = ws.dataset("audiomcq")
    root = Path(shutil.copytree(rec.root, tmp_path / "amcq", symlinks=True))  # the shared root stays intact
    ws.register_dataset(replace(rec, root=str(root)))
    (root / "Clotho" / "other.wav").write_bytes(b"not audio any more")
    res = check_leakage(ws, "audiomcq")
    assert res.fingerprint_errors == 1
    flags = _flags(ws)
    assert flags["copy_case"] == {("text", "dev_leak")} and flags["copy_mp3"] == {
        ("audio_fingerprint", "dev_leak")
    }


def test_sample_leaves_flagged_items_out(ws):
    with pytest.raises(UserError, match="check-leakage"):
        sample(ws, "audiomcq", n=5, split="all", exclude_leaked=True)
    before = sample(ws, "audiomcq", n=5, split="all", name="before")
    assert before.excluded_leaked == 0
    check_leakage(ws, "audiomcq")
    flagged = set(_flags(ws))
    pool = sum(r["answer_index"] is not None for r in ws.items("audiomcq").to_pylist())
    res = sample(ws, "audiomcq", n=pool - len(flagged), split="all", name="after")
    assert res.excluded_leaked == len(flagged)
    chosen = set(ws.read(PROMPTS, "audiomcq", "after").column("item_id").to_pylist())
    assert not chosen & flagged and len(chosen) == pool - len(flagged)
    with pytest.raises(UserError, match="fewer than"):  # the pool shrank by exactly the flagged items
        sample(ws, "audiomcq", n=pool - len(flagged) + 1, split="all", name="too-many")
    kept = sample(ws, "audiomcq", n=pool, split="all", name="kept", exclude_leaked=False)
    assert kept.excluded_leaked == 0 and kept.n == pool


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_check_leakage_json(ws):
    res = runner.invoke(app, ["check-leakage", "-w", str(ws.root), "-d", "audiomcq", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["flagged_items"] >= 3 and set(out["by_method"]) == {
        "audio_sha256",
        "audio_fingerprint",
        "text",
    }
    res = runner.invoke(app, ["check-leakage", "-w", str(ws.root), "-d", "audiomcq", "--method", "bogus"])
    assert res.exit_code != 0
    base = ["sample", "-w", str(ws.root), "-d", "audiomcq", "--n", "3", "--split", "all", "--json"]
    res = runner.invoke(app, base)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["excluded_leaked"] == out["flagged_items"]
    res = runner.invoke(app, [*base, "--keep-leaked", "--name", "kept"])
    assert res.exit_code == 0 and json.loads(res.stdout)["excluded_leaked"] == 0
