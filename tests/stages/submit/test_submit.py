"""The submission CSV: written from predictions with exact option texts, fallbacks counted, validated;
the validator refuses a missing, duplicated or extra id and a non-verbatim answer, with line numbers."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from support.planted_backend import PlantedBackend
from typer.testing import CliRunner

from adqa_data.cli import app
from adqa_data.core.errors import UserError
from adqa_data.core.workspace import Workspace
from adqa_data.stages.download import download
from adqa_data.stages.eval import EvalConfig, evaluate
from adqa_data.stages.submit import Problem, choose_answers, submit, validate_bytes, validate_submission

runner = CliRunner()
ITEMS = {"q1": ["a dog", "a cat", "no tone, only noise"], "q2": ['say "hi"', "B", "C"], "q3": ["x", "y"]}


@pytest.fixture(scope="module")
def base_ws(tmp_path_factory, clean_demo_roots) -> Path:
    root = tmp_path_factory.mktemp("submit_ws") / "w"
    ws = Workspace(root)
    for layout in ("dcase2026-dev", "dcase2026-eval"):
        download(ws, from_dir=clean_demo_roots[layout])
    return root


@pytest.fixture
def ws(base_ws, tmp_path) -> Workspace:
    shutil.copytree(base_ws, tmp_path / "w")
    return Workspace(tmp_path / "w")


def _items(ws: Workspace, ds: str) -> dict[str, list[str]]:
    return {r["item_id"]: list(r["choices"]) for r in ws.items(ds).to_pylist()}


def _kinds(report) -> list[tuple[str, int | None, str | None]]:
    return [(f.kind, f.line, f.item_id) for f in report.findings]


# ------------------------------------------------------------------------------------------ validator
def test_a_good_file_passes_and_quoting_round_trips():
    data = b'question,answer\nq1,"no tone, only noise"\nq2,"say ""hi"""\nq3,y\n'
    report = validate_bytes(data, ITEMS)
    assert report.ok and report.rows == 3


def test_validator_refuses_missing_duplicated_and_extra_ids():
    data = b"question,answer\nq1,a dog\nq1,a cat\nq9,x\n"
    report = validate_bytes(data, ITEMS)
    assert _kinds(report) == [
        (Problem.DUPLICATE_ID, 3, "q1"),
        (Problem.EXTRA_ID, 4, "q9"),
        (Problem.MISSING_ID, None, "q2"),
        (Problem.MISSING_ID, None, "q3"),
    ]
    assert "line 2" in report.findings[0].detail


def test_validator_refuses_answers_that_are_not_verbatim():
    data = b"question,answer\nq1,A Dog\nq2, B\nq3,B\n"
    report = validate_bytes(data, ITEMS)
    assert _kinds(report) == [
        (Problem.NOT_VERBATIM, 2, "q1"),
        (Problem.NOT_VERBATIM, 3, "q2"),
        (Problem.NOT_VERBATIM, 4, "q3"),
    ]
    details = [f.detail for f in report.findings]
    assert "only in case" in details[0] and "only in whitespace" in details[1]
    assert "is a letter" in details[2]  # "B" for q3 (options x, y): the option text, not its letter
    assert (
        "not one of" in validate_bytes(b"question,answer\nq1,a bird\nq2,B\nq3,x\n", ITEMS).findings[0].detail
    )


def test_validator_reports_header_encoding_and_field_problems_with_lines():
    report = validate_bytes(b"\xef\xbb\xbfquestion,answer\nq1,a dog\nq2,B\nq3,x\n", ITEMS)
    assert _kinds(report) == [(Problem.BOM, 1, None)]
    report = validate_bytes(b"id,answer\nq1,a dog\nq2,B\nq3,x\n", ITEMS)
    assert _kinds(report) == [(Problem.HEADER, 1, None)]
    report = validate_bytes(
        b"q1,a dog\nq2,B\nq3,x\n", ITEMS
    )  # no header: the first line still counts as data
    assert _kinds(report) == [(Problem.HEADER, 1, None)]
    report = validate_bytes(
        "question,answer\nq1,no tone, only noise\nq2,B\n\nq3,x\xe9\n".encode("latin-1"), ITEMS
    )
    kinds = _kinds(report)
    assert (Problem.FIELDS, 2, "q1") in kinds and (Problem.BLANK, 4, None) in kinds
    assert (Problem.ENCODING, 5, None) in kinds and (Problem.NOT_VERBATIM, 5, "q3") in kinds
    report = validate_bytes(b'question,answer\nq1,"a\ndog"\nq2,\nq3,x\n', ITEMS)  # a quoted field spans lines
    assert _kinds(report) == [(Problem.NOT_VERBATIM, 2, "q1"), (Problem.EMPTY_ANSWER, 4, "q2")]
    assert _kinds(validate_bytes(b"", ITEMS))[0] == (Problem.HEADER, 1, None)


# --------------------------------------------------------------------------------------------- submit
def test_fallback_rule_is_counted_per_kind():
    voted = {
        "q1": {"voted_index": 2, "voted_text": "no tone, only noise", "num_choices": 3, "letter_argmax": 0},
        "q2": {"voted_index": None, "voted_text": None, "num_choices": 3, "letter_argmax": 1},
    }
    chosen, how = choose_answers(ITEMS, voted)  # q3 has no prediction row at all
    assert chosen == {"q1": 2, "q2": 1, "q3": 0}
    assert how == {"q1": "vote", "q2": "letter_scores", "q3": "first_option"}
    with pytest.raises(UserError, match="other options"):
        choose_answers(ITEMS, {"q1": {**voted["q1"], "voted_text": "a dog"}})


def test_submit_writes_a_valid_file_with_exact_texts_and_counts_fallbacks(ws, tmp_path):
    gold = {i: 0 for i in _items(ws, "dcase2026-eval")}
    ids = sorted(gold)
    plan = {(ids[0], "audio"): ["<answer></answer>"], (ids[1], "audio"): ["<answer>A or C</answer>"]}
    evaluate(
        ws,
        EvalConfig(backend="scripted", letter_scores=True),
        dataset="dcase2026-eval",
        name="scored",
        backend_factory=lambda spec: PlantedBackend(gold, plan),
    )
    evaluate(
        ws,
        EvalConfig(backend="scripted"),
        dataset="dcase2026-eval",
        name="plain",
        backend_factory=lambda spec: PlantedBackend(gold, plan),
    )
    items = _items(ws, "dcase2026-eval")
    res = submit(ws, "dcase2026-eval", "scored", tmp_path / "scored.csv")
    assert res.items == len(items) and res.predicted == len(items) - 2
    assert res.fallbacks == {"letter_scores": 2} and res.fallback_items["letter_scores"] == ids[:2]
    with open(res.path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["question", "answer"] and [r[0] for r in rows[1:]] == list(items)
    for item_id, answer in rows[1:]:
        expected = (
            items[item_id][-1] if item_id in ids[:2] else items[item_id][0]
        )  # planted: letter argmax = last
        assert answer == expected
    assert validate_submission(ws, res.path, "dcase2026-eval").ok
    plain = submit(ws, "dcase2026-eval", "plain", tmp_path / "plain.csv")
    assert plain.fallbacks == {"first_option": 2} and plain.no_prediction_row == 0
    again = submit(ws, "dcase2026-eval", "plain", tmp_path / "plain.csv")
    assert again.up_to_date and again.sha256 == plain.sha256
    Path(plain.path).unlink()
    assert not submit(
        ws, "dcase2026-eval", "plain", tmp_path / "plain.csv"
    ).up_to_date  # a deleted file is rewritten
    with pytest.raises(UserError, match="several prediction sets"):
        submit(ws, "dcase2026-eval")


def test_submit_on_dev_reports_the_files_accuracy(ws):
    gold = {r["item_id"]: r["answer_index"] for r in ws.items("dcase2026-dev").to_pylist()}
    ids = sorted(gold)
    plan = {(ids[0], "audio"): ["<answer>B</answer>" if gold[ids[0]] != 1 else "<answer>C</answer>"]}
    res = evaluate(
        ws,
        EvalConfig(backend="scripted", silence=False),
        dataset="dcase2026-dev",
        backend_factory=lambda spec: PlantedBackend(gold, plan),
    )
    sub = submit(ws, "dcase2026-dev")
    assert sub.fallbacks == {} and sub.accuracy == res.summary["conditions"]["audio"]["accuracy"]
    assert sub.accuracy == pytest.approx((len(ids) - 1) / len(ids))
    assert Path(sub.path).parent == ws.root / "submissions" / "dcase2026-dev"


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_submit_and_validate(ws, tmp_path):
    w = str(ws.root)
    assert (
        runner.invoke(app, ["eval", "-w", w, "-d", "dcase2026-eval", "--backend", "scripted"]).exit_code == 0
    )
    out = tmp_path / "sub.csv"
    res = runner.invoke(app, ["submit", "-w", w, "-d", "dcase2026-eval", "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["items"] == len(_items(ws, "dcase2026-eval"))
    res = runner.invoke(app, ["validate-submission", str(out), "-w", w, "-d", "dcase2026-eval"])
    assert res.exit_code == 0 and "valid" in res.stdout
    lines = out.read_text().splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0], lines[1], lines[1], "eval_9999,x", *lines[3:]]) + "\n")
    res = runner.invoke(app, ["validate-submission", str(bad), "-w", w, "-d", "dcase2026-eval", "--json"])
    assert res.exit_code == 1
    report = json.loads(res.stdout)
    assert not report["ok"]
    assert report["counts"] == {"duplicate_id": 1, "extra_id": 1, "missing_id": 1}
    assert {(f["kind"], f["line"]) for f in report["findings"]} >= {("duplicate_id", 3), ("extra_id", 4)}
