"""The story demo's designed data (`demo.design`): every item carries a correct `needs_audio` label (the
audio-only items' text is the same for every gold answer and their clip has the gold option's pitch or
timbre; the text-prior items' question holds the clue of their answer), download keeps the label out of
the model's view, and `demo.story` measures a split and a prediction set against it."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import soundfile as sf

from adqa_data.core.schema import ITEM_SCORES, PREDICTIONS
from adqa_data.core.workspace import StageRun, Workspace
from adqa_data.demo.design import (
    PITCH_CHOICES,
    RATE,
    TEXT_PRIOR,
    TIMBRE_CHOICES,
    designed_items,
    timbre_clip,
    write_designed,
)
from adqa_data.demo.story import accuracy_by_design, design_labels, split_agreement
from adqa_data.demo.toy import TONES
from adqa_data.stages.download import download


def _peak_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x))
    return float(np.fft.rfftfreq(len(x), 1 / RATE)[int(np.argmax(spectrum))])


def _lines(x: np.ndarray, min_share: float = 0.1) -> list[tuple[float, float]]:
    """The clip's spectral lines, lowest first: (frequency, share of the power within 3% of it) for each
    line holding at least `min_share`. One line for a pure tone, four equal ones at 1, 3, 5 and 7 times
    the pitch for the buzz, none for a hiss or a click train (their power is spread thin)."""
    p = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / RATE)
    total, out = p.sum(), []
    while True:
        i = int(np.argmax(p))
        near = np.abs(f - f[i]) < 0.03 * f[i] + 2
        if p[near].sum() / total < min_share:
            return sorted(out)
        out.append((float(f[i]), float(p[near].sum() / total)))
        p[near] = 0


def _predictions(rows: list[dict]):
    """A predictions table of the given (item_id, condition, sample_index, voted_correct) rows."""
    fill = {
        "dataset": "dcase2026-dev",
        "samples": 1,
        "model": "m",
        "model_fingerprint": "f",
        "prompt_style": "think",
        "prompt_fingerprint": "p",
        "seed": 0,
        "temperature": 0.0,
        "raw_output": "",
        "vote_count": 1,
        "num_choices": 4,
    }
    return PREDICTIONS.from_pylist([{**fill, **r} for r in rows])


def test_audio_only_items_differ_only_in_the_clip():
    items = designed_items(64, 32, seed=3)
    audio = [it for it in items if it.needs_audio]
    assert len(audio) == 64 and sum(not it.needs_audio for it in items) == 32
    for task, choices in (("pitch", PITCH_CHOICES), ("timbre", TIMBRE_CHOICES)):
        of_task = [it for it in audio if it.task == task]
        assert {(it.question, tuple(it.choices)) for it in of_task} == {(of_task[0].question, tuple(choices))}
        assert Counter(it.answer for it in of_task) == Counter({c: 8 for c in choices})  # balanced
    for it in audio:
        if it.task == "pitch":
            target = dict(TONES)[it.answer]
            assert abs(_peak_hz(it.clip) - target) < 0.1 * target


def _high_share(x: np.ndarray) -> float:
    """Share of the power above 4 kHz: about half for a white hiss, little for the others."""
    p = np.abs(np.fft.rfft(x)) ** 2
    return float(p[np.fft.rfftfreq(len(x), 1 / RATE) > 4000].sum() / p.sum())


def test_timbres_are_told_apart_by_their_spectrum():
    rng = np.random.default_rng(0)
    for k, kind in enumerate(TIMBRE_CHOICES):
        for x in (timbre_clip(k, rng) for _ in range(12)):
            lines, high = _lines(x), _high_share(x)
            if k == 0:  # pure tone: one line, nothing high
                assert len(lines) == 1 and lines[0][1] > 0.95 and high < 0.1, (kind, lines, high)
            elif k == 1:  # buzz: four equal lines at the odd multiples of its pitch
                f0 = lines[0][0]
                assert [round(f / f0) for f, _ in lines] == [1, 3, 5, 7], (kind, lines)
                assert all(0.2 < share < 0.3 for _, share in lines), (kind, lines)
            else:  # hiss (about half its power above 4 kHz) and clicks (little): no line at all
                assert lines == [] and (0.35 < high < 0.65 if k == 2 else high < 0.2), (kind, lines, high)


def test_text_prior_items_give_their_answer_away():
    clue_of = {(qt, a): c for qt, _, pairs in TEXT_PRIOR for c, a in pairs}
    answers = {a for _, _, pairs in TEXT_PRIOR for _, a in pairs}
    text = [it for it in designed_items(8, 60, seed=1) if not it.needs_audio]
    assert len({it.question_type for it in text}) >= 3 and len({it.question for it in text}) > 20
    for it in text:
        assert it.answer in it.choices and len(set(it.choices)) == 4 and set(it.choices) <= answers
        assert clue_of[(it.question_type, it.answer)] in it.question.lower()
    assert len(Counter(it.choices.index(it.answer) for it in text)) == 4  # every letter is gold somewhere


def test_download_keeps_the_label_out_of_view_and_story_measures_against_it(tmp_path):
    roots = write_designed(tmp_path / "d", n_audio=12, n_text=6, n_dev=12, n_eval=12, seed=0)
    rows = [json.loads(x) for x in (roots["audiomcq"] / "data.jsonl").read_text().splitlines()]
    x, rate = sf.read(roots["audiomcq"] / rows[0]["audio_path"], dtype="float32")
    assert rate == RATE and x.ndim == 1
    ws = Workspace(tmp_path / "w")
    for name, root in roots.items():
        download(ws, from_dir=root, name=name)
    labels = design_labels(ws, "audiomcq")
    assert labels == {r["id"]: r["needs_audio"] for r in rows} and sum(labels.values()) == 12
    assert "needs_audio" not in ws.items("audiomcq").column_names  # not a column a prompt is built from
    assert sum(design_labels(ws, "dcase2026-dev").values()) == 8 and design_labels(ws, "dcase2026-eval")

    ids = sorted(labels)
    wrong = ids[0]  # one item on the wrong side of the split
    scores = [
        {
            "dataset": "audiomcq",
            "item_id": i,
            "split": ("strong" if labels[i] else "weak")
            if i != wrong
            else ("weak" if labels[i] else "strong"),
        }
        for i in ids
    ]
    StageRun.write_shard(
        ws.table_dir("item_scores", "audiomcq"), 0, ITEM_SCORES.from_pylist(scores), ITEM_SCORES
    )
    agreement = split_agreement(ws, "audiomcq")
    assert agreement["items"] == 18 and agreement["agreement"] == round(17 / 18, 4)

    dev = design_labels(ws, "dcase2026-dev")
    preds = [
        {"item_id": i, "condition": c, "sample_index": 0, "voted_correct": c == "audio" or not dev[i]}
        for i in dev
        for c in ("audio", "silence")
    ]
    StageRun.write_shard(
        ws.table_dir("predictions", "dcase2026-dev", "after"), 0, _predictions(preds), PREDICTIONS
    )
    acc = accuracy_by_design(ws, "dcase2026-dev", "after")
    assert acc["audio"]["audio-only"] == 1.0 and acc["silence"]["audio-only"] == 0.0
    assert acc["silence"]["text-prior"] == 1.0 and acc["silence"]["n_audio-only"] == 8
    from typer.testing import CliRunner

    from adqa_data.cli import app

    res = CliRunner().invoke(
        app, ["demo-summary", "-w", str(tmp_path / "w"), "--before", "after", "--after", "after", "--json"]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["split"]["agreement"] == agreement["agreement"]
    assert summary["eval"]["after"]["gap_audio_only"] == 1.0
    assert summary["report"] is None  # no page yet; once written, the summary says where it is
    page = tmp_path / "w" / "report" / "index.html"
    page.parent.mkdir()
    page.write_text("<html></html>")
    res = CliRunner().invoke(
        app, ["demo-summary", "-w", str(tmp_path / "w"), "--before", "after", "--after", "after"]
    )
    assert res.exit_code == 0 and f"report: {page}" in res.output.replace("\n", "")


def test_the_warm_start_set_teaches_the_format_and_nothing_about_the_answers():
    """format_items asks the training set's questions, audio-only ones included (the warm start must show
    the policy the questions GRPO will ask), over silence, with gold options drawn at random."""
    from adqa_data.demo.design import format_items

    items = format_items(300, seed=0)
    assert all(not it.clip.any() for it in items)  # silence: the clip cannot tell the answer
    assert {it.task for it in items if it.needs_audio} == {"pitch", "timbre"}
    assert any(not it.needs_audio for it in items)
    for task in ("pitch", "timbre"):  # on a fixed-option task the gold letter is uniform, not the clip's
        letters = Counter(it.choices.index(it.answer) for it in items if it.task == task)
        assert len(letters) == 4 and min(letters.values()) >= 15
