"""The eval stage: accuracy, the silence gap, letters and uncredited outputs right on planted predictions;
the self-consistency vote; DCASE dev parts; resume, no-op rerun, Ray; the CLI; a tiny transformers model.

Stage logic runs on backends without a model: a planted one (answers chosen by the test, so every
figure is known in advance) and the scripted one; the tiny-model test is marked slow.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.planted_backend import PlantedBackend
from typer.testing import CliRunner

from adqa_data.cli import app
from adqa_data.core.errors import UserError
from adqa_data.core.schema import PREDICTIONS
from adqa_data.core.workspace import Workspace
from adqa_data.mcq.answers import LETTERS, NoCredit
from adqa_data.stages.download import download
from adqa_data.stages.eval import EvalConfig, evaluate, load_config, majority_vote
from adqa_data.stages.eval import metrics as m
from adqa_data.stages.eval.parts import EXISTING, NEW, item_part

runner = CliRunner()


# -------------------------------------------------------------------------------------------- metrics
def _outcome(
    i: int, cond: str, pred: int | None, gold: int | None, qt: str = "sound", part: str | None = None
):
    return m.Outcome(f"it{i}", cond, pred, gold, 4, qt, "src", part)


def test_accuracy_gap_and_groups_on_planted_outcomes():
    # 10 graded items: with audio 7 right (sound 4/5, music 3/5), with silence 3 right (sound 2/5, music 1/5);
    # one item without gold must count nowhere
    audio_right = {0, 1, 2, 3, 5, 6, 7}
    silence_right = {0, 1, 5}
    audio, silence = [], []
    for i in range(10):
        qt = "sound" if i < 5 else "music"
        audio.append(_outcome(i, "audio", 1 if i in audio_right else 2, 1, qt))
        silence.append(_outcome(i, "silence", 1 if i in silence_right else None, 1, qt))
    audio.append(_outcome(99, "audio", 0, None))
    silence.append(_outcome(99, "silence", 3, None))
    assert m.accuracy(audio) == {"n": 10, "correct": 7, "accuracy": 0.7}
    assert m.accuracy(silence) == {"n": 10, "correct": 3, "accuracy": 0.3}
    by_type = m.accuracy_by(audio, lambda o: o.question_type)
    assert by_type["sound"] == {"n": 5, "correct": 4, "accuracy": 0.8}
    assert by_type["music"] == {"n": 5, "correct": 3, "accuracy": 0.6}
    gap = m.audio_gap(audio, silence)
    assert gap["overall"]["n"] == 10
    assert gap["overall"]["gap"] == pytest.approx(0.4)
    assert gap["by_question_type"]["sound"]["gap"] == pytest.approx(0.8 - 0.4)
    assert gap["by_question_type"]["music"]["gap"] == pytest.approx(0.6 - 0.2)
    # only items answered under both conditions enter the gap
    assert m.audio_gap(audio[:4], silence)["overall"] == {"n": 4, "audio": 1.0, "silence": 0.5, "gap": 0.5}


def test_letter_distribution_and_no_credit():
    outs = [
        _outcome(0, "audio", 0, 0),
        _outcome(1, "audio", 0, 1),
        _outcome(2, "audio", None, 3),
        _outcome(3, "audio", 2, None),
    ]
    d = m.letter_distribution(outs)
    assert d["predicted"] == {"A": 2, "B": 0, "C": 1, "D": 0, "none": 1}
    assert d["gold"] == {"A": 1, "B": 1, "C": 0, "D": 1}  # the item without gold is not a gold letter
    c = m.confusion(outs)  # gold rows against predicted columns; the item without gold is left out
    assert c["gold"] == ["A", "B", "C", "D"] and c["predicted"] == ["A", "B", "C", "D", "none"]
    assert c["counts"] == [[1, 0, 0, 0, 0], [1, 0, 0, 0, 0], [0] * 5, [0, 0, 0, 0, 1]]
    nc = m.no_credit(
        [None, NoCredit.EMPTY_ANSWER, NoCredit.EMPTY_ANSWER, NoCredit.MULTIPLE_OPTIONS],
        [True, False, False, False],
    )
    assert nc["outputs"] == 4 and nc["not_credited"] == 3 and nc["share"] == 0.75
    assert nc["by_reason"] == {
        "empty_answer": {"count": 2, "share": 0.5},
        "multiple_options": {"count": 1, "share": 0.25},
    }


def test_majority_vote_and_its_tie_rule():
    assert majority_vote([2]) == m.Vote(2, 1)
    assert majority_vote([1, 2, 2, None]) == m.Vote(2, 2)
    assert majority_vote([1, 2]) == m.Vote(1, 1)  # tie: the option whose first sample comes first
    assert majority_vote([2, 1, 1, 2]) == m.Vote(2, 2)
    assert majority_vote([None, 3, None]) == m.Vote(3, 1)  # uncredited samples do not vote
    assert majority_vote([None, None, None], ["no_answer", "empty_answer", "empty_answer"]) == m.Vote(
        None, 0, "empty_answer"
    )
    assert majority_vote([None, None], ["multiple_options", "no_answer"]).reason == "multiple_options"


def test_parts_are_derived_only_where_the_data_says():
    up = json.dumps
    assert item_part("dcase2026-dev", None, None) is None  # the manifest records none: unknown, not guessed
    assert item_part("dcase2026-dev", None, up({"source": "MMAU-test-mini"})) == EXISTING
    assert item_part("dcase2026-dev", "MMSU", None) == EXISTING
    assert item_part("dcase2026-dev", None, up({"origin": "new recordings"})) == NEW
    assert item_part("dcase2026-dev", None, up({"part": "Part 2"})) == "Part 2"
    assert item_part("dcase2026-dev", None, up({"source": "summary of a podcast"})) == NEW  # not "mmar"
    assert item_part("audiomcq", "MMAU", None) is None  # other layouts have no parts


def test_config_rules():
    assert EvalConfig().effective_temperature == 0.0
    assert EvalConfig(samples=5).effective_temperature == 1.0
    with pytest.raises(UserError, match="temperature"):
        load_config(None, samples=3, temperature=0.0)
    with pytest.raises(UserError, match="unknown key"):
        load_config(None, smaples=3)


# --------------------------------------------------------------------------------------- the stage


@pytest.fixture(scope="module")
def base_ws(tmp_path_factory, clean_demo_roots) -> Path:
    root = tmp_path_factory.mktemp("eval_ws") / "w"
    ws = Workspace(root)
    for layout in ("audiomcq", "dcase2026-dev", "dcase2026-eval"):
        download(ws, from_dir=clean_demo_roots[layout])
    return root


@pytest.fixture
def ws(base_ws, tmp_path) -> Workspace:
    shutil.copytree(base_ws, tmp_path / "w")
    return Workspace(tmp_path / "w")


def _gold(ws: Workspace, ds: str) -> dict[str, int]:
    return {
        r["item_id"]: r["answer_index"] for r in ws.items(ds, columns=["item_id", "answer_index"]).to_pylist()
    }


def _factory(backend):
    return lambda spec: backend


def test_accuracy_and_gap_through_the_stage_on_planted_answers(ws):
    gold = _gold(ws, "audiomcq")
    types = {r["item_id"]: r["question_type"] for r in ws.items("audiomcq").to_pylist()}
    ids = sorted(gold)
    wrong = lambda i: LETTERS[(gold[i] + 1) % 4]  # noqa: E731
    plan = {}
    for i in ids[:5]:  # wrong with audio
        plan[(i, "audio")] = [f"<answer>{wrong(i)}</answer>"]
    for i in ids[5:8]:  # uncredited with audio: an empty block, two options
        plan[(i, "audio")] = ["<answer></answer>"] if i != ids[7] else ["<answer>A or B</answer>"]
    for i in ids[8:12]:  # right under silence too
        plan[(i, "silence")] = [f"The answer is {LETTERS[gold[i]]}."]
    res = evaluate(
        ws,
        EvalConfig(backend="scripted", shard_size=4),
        dataset="audiomcq",
        backend_factory=_factory(PlantedBackend(gold, plan)),
    )
    s = res.summary
    n = len(ids)
    audio_right = set(ids[8:])
    silence_right = set(ids[8:12]) | {i for i in ids if gold[i] == 0 and (i, "silence") not in plan}
    assert s["items"] == n and s["rows"] == 2 * n and res.shards == -(-n // 4)
    assert s["conditions"]["audio"]["accuracy"] == pytest.approx(len(audio_right) / n)
    assert s["conditions"]["silence"]["accuracy"] == pytest.approx(len(silence_right) / n)
    assert s["gap"]["overall"]["gap"] == pytest.approx((len(audio_right) - len(silence_right)) / n)
    for qt, r in s["conditions"]["audio"]["by_question_type"].items():
        members = [i for i in ids if types[i] == qt]
        assert r["correct"] == sum(i in audio_right for i in members) and r["n"] == len(members)
    nc = s["conditions"]["audio"]["no_credit"]
    assert nc["not_credited"] == 3
    assert {k: v["count"] for k, v in nc["by_reason"].items()} == {"empty_answer": 2, "multiple_options": 1}
    letters = s["conditions"]["audio"]["letters"]
    assert letters["predicted"]["none"] == 3 and sum(letters["gold"].values()) == n
    rows = ws.read(PREDICTIONS, "audiomcq", res.name).to_pylist()
    items = {r["item_id"]: r for r in ws.items("audiomcq").to_pylist()}
    for r in rows:
        if r["predicted_index"] is not None:  # the option's exact text, never the model's words
            assert r["predicted_text"] == items[r["item_id"]]["choices"][r["predicted_index"]]
            assert r["parse_layer"] and r["parse_reason"] is None
        else:
            assert r["parse_reason"] and r["parse_layer"] is None
        assert r["correct"] == (r["predicted_index"] == gold[r["item_id"]])
        assert (
            r["model"] == "scripted" and r["prompt_style"] == "think" and len(r["prompt_fingerprint"]) == 16
        )


def test_self_consistency_vote_in_the_table(ws):
    gold = _gold(ws, "dcase2026-dev")
    a, b, c = sorted(gold)[:3]
    plan = {
        (a, "audio"): ["<answer>B</answer>", "<answer>C</answer>", "<answer>C</answer>"],
        (b, "audio"): ["<answer>D</answer>", "<answer>B</answer>", "<answer></answer>"],  # tie: D first
        (c, "audio"): ["<answer></answer>", "no idea", "<answer></answer>"],
    }
    res = evaluate(
        ws,
        EvalConfig(backend="scripted", samples=3, silence=False),
        dataset="dcase2026-dev",
        backend_factory=_factory(PlantedBackend(gold, plan)),
    )
    rows = ws.read(PREDICTIONS, "dcase2026-dev", res.name).to_pylist()
    assert len(rows) == 3 * len(gold) and {r["condition"] for r in rows} == {"audio"}
    by = {(r["item_id"], r["sample_index"]): r for r in rows}
    assert (by[a, 0]["voted_index"], by[a, 0]["vote_count"]) == (2, 2)
    assert all(by[a, s]["voted_index"] == 2 for s in range(3))
    assert (by[b, 0]["voted_index"], by[b, 0]["vote_count"]) == (3, 1)
    assert by[c, 0]["voted_index"] is None and by[c, 0]["vote_count"] == 0
    assert res.summary["gap"] is None and list(res.summary["conditions"]) == ["audio"]


def test_resume_after_a_kill_and_noop_rerun(ws):
    gold = _gold(ws, "audiomcq")
    backend = PlantedBackend(gold)
    backend.fail_on_call = 3
    cfg = EvalConfig(backend="scripted", shard_size=5)
    with pytest.raises(RuntimeError, match="simulated kill"):
        evaluate(ws, cfg, dataset="audiomcq", name="k", backend_factory=_factory(backend))
    assert ws.provenance("eval", "audiomcq", "k") is None  # never looks complete
    res = evaluate(ws, cfg, dataset="audiomcq", name="k", backend_factory=_factory(PlantedBackend(gold)))
    assert res.shards_written == res.shards - 2 and not res.up_to_date
    again = evaluate(ws, cfg, dataset="audiomcq", name="k", backend_factory=_factory(PlantedBackend(gold)))
    assert again.up_to_date and again.summary == res.summary
    fresh = evaluate(
        ws, cfg, dataset="audiomcq", name="fresh", backend_factory=_factory(PlantedBackend(gold))
    )
    assert fresh.summary["conditions"] == res.summary["conditions"]


def test_eval_set_without_answers_has_no_silence_and_no_accuracy(ws):
    res = evaluate(ws, EvalConfig(backend="scripted", letter_scores=True), dataset="dcase2026-eval")
    s = res.summary
    assert list(s["conditions"]) == ["audio"] and s["gap"] is None and s["graded_items"] == 0
    assert s["conditions"]["audio"]["accuracy"] is None
    rows = ws.read(PREDICTIONS, "dcase2026-eval", res.name).to_pylist()
    assert all(r["answer_index"] is None and r["correct"] is None for r in rows)
    assert all(r["letter_argmax"] == 0 and len(r["letter_probs"]) == r["num_choices"] for r in rows)


def test_parts_file_breaks_the_dev_set_down(ws, tmp_path):
    ids = sorted(_gold(ws, "dcase2026-dev"))
    parts = tmp_path / "parts.csv"
    parts.write_text(
        "item_id,part\n" + "".join(f"{i},{EXISTING if k < 3 else NEW}\n" for k, i in enumerate(ids))
    )
    res = evaluate(ws, EvalConfig(backend="scripted"), dataset="dcase2026-dev", parts_file=parts)
    by_part = res.summary["conditions"]["audio"]["by_part"]
    assert {k: v["n"] for k, v in by_part.items()} == {EXISTING: 3, NEW: len(ids) - 3}
    assert set(res.summary["gap"]["by_part"]) == {EXISTING, NEW} and res.summary["parts_known"] == len(ids)


@pytest.mark.ray
def test_ray_engine_gives_identical_predictions(ws):
    ray = pytest.importorskip("ray")
    cfg = EvalConfig(backend="scripted", samples=2, shard_size=4)
    local = evaluate(ws, cfg, dataset="dcase2026-dev", name="local")
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    try:
        remote = evaluate(ws, cfg, dataset="dcase2026-dev", name="ray", engine="ray", workers=1)
    finally:
        ray.shutdown()
    key = ["item_id", "condition", "sample_index"]
    a = ws.read(PREDICTIONS, "dcase2026-dev", "local").sort_by([(k, "ascending") for k in key])
    b = ws.read(PREDICTIONS, "dcase2026-dev", "ray").sort_by([(k, "ascending") for k in key])
    assert remote.shards_written == local.shards_written == 2 and a.equals(b)


# --------------------------------------------------------------------------------------------- CLI
def test_cli_eval_json_and_tables(ws):
    w = str(ws.root)
    args = [
        "eval",
        "-w",
        w,
        "-d",
        "dcase2026-dev",
        "--backend",
        "scripted",
        "--samples",
        "3",
        "--letter-scores",
    ]
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["items"] == len(_gold(ws, "dcase2026-dev")) and out["summary"]["samples"] == 3
    assert set(out["summary"]["conditions"]) == {"audio", "silence"} and out["summary"]["letter_scores"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and "top-1 accuracy" in res.stdout and "position bias" in res.stdout
    res = runner.invoke(app, ["eval", "-w", w, "-d", "dcase2026-dev", "--model", "./no/such/dir"])
    assert res.exit_code != 0


# ------------------------------------------------------------------------------- a tiny real model
@pytest.mark.slow
def test_transformers_tiny_model_end_to_end(ws, tmp_path_factory):
    pytest.importorskip("transformers")
    from adqa_data.testing.models import build_tiny_qwen2_audio

    model = build_tiny_qwen2_audio(tmp_path_factory.mktemp("tiny") / "qwen2-audio")
    cfg = load_config(
        None, model=str(model), max_new_tokens=4, letter_scores=True, shard_size=4, silence_seconds=2.0
    )
    res = evaluate(ws, cfg, dataset="dcase2026-dev")
    rows = ws.read(PREDICTIONS, "dcase2026-dev", res.name).to_pylist()
    n = len(_gold(ws, "dcase2026-dev"))
    assert len(rows) == 2 * n and res.summary["gap"]["overall"]["n"] == n
    assert all(r["model_fingerprint"].startswith("dir:") for r in rows)
    assert all(abs(sum(r["letter_probs"]) - 1) < 1e-4 for r in rows if r["condition"] == "audio")
    # greedy decoding of a random model is still deterministic: a fresh set gives the same outputs
    again = evaluate(ws, cfg, dataset="dcase2026-dev", name="again")
    assert again.summary["conditions"] == res.summary["conditions"]
