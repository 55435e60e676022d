"""`adqa-data stats`: kappa against hand-computed examples, every section on a planted workspace, sections
absent from a workspace skipped with a note, the metrics log read leniently, eval's prediction sets with the
planted accuracies, gap, letters and uncredited outputs, plots written, the CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from support.planted_workspace import DS, GROUP_REWARDS, build_workspace
from typer.testing import CliRunner

from adqa_data.cli import app
from adqa_data.core.workspace import DatasetRecord, Workspace
from adqa_data.stages.rollout.summary import zero_signal_share
from adqa_data.stages.stats import cohen_kappa, fleiss_kappa, read_metrics_log, stats

runner = CliRunner()


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Workspace:
    return build_workspace(tmp_path_factory.mktemp("stats"))


# ------------------------------------------------------------------------------------------- kappa
def test_fleiss_kappa_hand_computed():
    # 3 raters, 4 items, correct / wrong counts [3,0], [0,3], [2,1], [1,2]:
    # p = (1/2, 1/2), P_i = 1, 1, 1/3, 1/3 -> P_bar = 2/3, P_e = 1/2, kappa = (2/3 - 1/2) / (1/2) = 1/3
    assert fleiss_kappa([[3, 0], [0, 3], [2, 1], [1, 2]]) == pytest.approx(1 / 3)
    # Fleiss (1971) as tabulated on Wikipedia: 10 subjects, 14 raters, 5 categories -> 0.210
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(table) == pytest.approx(0.20993, abs=1e-4)
    assert fleiss_kappa([[3, 0], [0, 3]]) == pytest.approx(1.0)  # perfect agreement
    assert fleiss_kappa([[2, 0], [2, 0]]) is None  # every rating in one category: undefined
    assert fleiss_kappa(np.zeros((0, 2))) is None
    with pytest.raises(ValueError):
        fleiss_kappa([[2, 1], [1, 1]])  # different numbers of raters


def test_cohen_kappa_hand_computed():
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> p_o = 0.7, p_e = 0.5*0.6 + 0.5*0.4 = 0.5 -> 0.4
    a = [1] * 20 + [1] * 5 + [0] * 10 + [0] * 15
    b = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, a) == pytest.approx(1.0)
    assert cohen_kappa([1, 1], [1, 1]) is None
    # two raters as a Fleiss table agree with Cohen when both raters have the same marginals
    x, y = [1, 0, 1, 1, 0, 0], [1, 0, 0, 1, 1, 0]
    counts = [[int(p) + int(q), 2 - int(p) - int(q)] for p, q in zip(x, y)]
    assert fleiss_kappa(counts) == pytest.approx(cohen_kappa(x, y))


def test_zero_signal_share():
    groups = [g for g, r in enumerate(GROUP_REWARDS) for _ in r]
    rewards = [x for r in GROUP_REWARDS for x in r]
    assert zero_signal_share([str(g) for g in groups], rewards) == pytest.approx(3 / 5)
    assert zero_signal_share(["a", "a", "b", "b"], [0.5, 0.5 + 1e-9, 0.0, 1e-3]) == pytest.approx(1 / 2)
    assert zero_signal_share([], []) is None


# -------------------------------------------------------------------------------- planted workspace
def test_every_section_on_the_planted_workspace(planted):
    r = stats(planted)
    assert r["skipped"] == {}
    s = r["sections"]
    assert (s["items"]["items"], s["items"]["quarantined"], s["items"]["input_rows"]) == (12, 2, 14)
    assert {q["reason"]: q["count"] for q in s["items"]["quarantine"]} == {
        "audio_missing": 1,
        "invalid_json": 1,
    }
    assert (s["splits"]["weak"], s["splits"]["strong"]) == (6, 6)
    assert {x["question_type"]: x["strong"] for x in s["splits"]["by_question_type"]} == {
        "music": 6,
        "sound": 0,
    }
    assert s["contribution"]["audio_contribution"]["m2"] == {"-1": 0, "0": 3, "1": 9}
    assert sum(s["contribution"]["score_histogram"]["counts"]) == 12
    panel = s["panel"]
    assert panel["fleiss_kappa"] == pytest.approx(1 / 3, abs=1e-4)
    # the votes hold a right/wrong tie for every wrong member: the permutation average must not credit it
    assert {m: a["silence"] for m, a in panel["accuracy"].items()} == {"m0": 0.75, "m1": 0.5, "m2": 0.25}
    assert {m: a["audio"] for m, a in panel["accuracy"].items()} == {"m0": 1.0, "m1": 1.0, "m2": 1.0}
    kappas = {(p["a"], p["b"]): p["cohen_kappa"] for p in panel["pairs"]}
    assert kappas == {("m0", "m1"): 0.5, ("m0", "m2"): 0.2, ("m1", "m2"): 0.5}
    # letter mass over every read (12 items x 2 conditions x 2 rotations); m2 recorded none
    assert panel["letter_mass"] == {
        "m0": {
            "votes": 48,
            "median": round(6.5 / 12, 4),
            "p10": round(2 / 12, 4),
            "min": round(1 / 12, 4),
            "low": False,
        },
        "m1": {"votes": 48, "median": 0.25, "p10": 0.25, "min": 0.25, "low": True},
    }
    assert panel["letter_mass_threshold"] == 0.5
    prompts = s["prompts"]["p1"]
    assert (prompts["n"], prompts["pool"], prompts["split"]) == (10, 12, "all")
    assert {x["question_type"]: (x["pool"], x["chosen"]) for x in prompts["by_question_type"]} == {
        "music": (6, 5),
        "sound": (6, 5),
    }
    ro = s["rollouts"]["r1"]
    assert (ro["groups"], ro["rows"], ro["k"]) == (5, 20, 4)
    assert (ro["zero_signal_share"], ro["zero_signal_groups"], ro["zero_signal_flag_share"]) == (0.6, 3, 0.6)
    assert ro["rewards"]["total"]["mean"] == pytest.approx(
        np.mean([x for g in GROUP_REWARDS for x in g]), abs=1e-4
    )
    assert ro["rewards"]["anchoring"] == {"mean": None, "std": None, "rows": 0}
    assert ro["truncated_share"] == 0.25 and ro["completion_length"]["max"] == 8.0
    assert ro["parse"] == {"answer_block": 20}
    run = s["training"]["run1"]
    assert (run["records"], run["skipped_lines"]) == (5, 1)
    assert run["curves"]["loss"]["step"] == [1, 2, 3, 4, 5]
    assert run["curves"]["reward"]["step"] == [1, 2, 4, 5]  # step 3 has no reward: missing, not zero
    assert run["last"]["kl"] == pytest.approx(0.05)
    assert set(run["plotted"]) == {"loss", "reward", "kl", "clip_ratio"}
    pred = s["predictions"]["e1"]
    assert (pred["model"], pred["prompt_style"], pred["items"], pred["graded_items"]) == (
        "m-planted",
        "think",
        12,
        12,
    )
    audio, silence = pred["conditions"]["audio"], pred["conditions"]["silence"]
    assert (audio["accuracy"], silence["accuracy"]) == (0.75, 0.25)
    assert {t: a["accuracy"] for t, a in audio["by_question_type"].items()} == pytest.approx(
        {"sound": 5 / 6, "music": 4 / 6}
    )
    assert {t: a["accuracy"] for t, a in silence["by_question_type"].items()} == {"sound": 0.5, "music": 0.0}
    assert pred["gap"]["overall"]["gap"] == pytest.approx(0.5)
    assert {t: g["gap"] for t, g in pred["gap"]["by_question_type"].items()} == pytest.approx(
        {"sound": 1 / 3, "music": 2 / 3}
    )
    assert audio["letters"] == {
        "predicted": {"A": 3, "B": 2, "C": 3, "D": 2, "none": 2},
        "gold": dict.fromkeys("ABCD", 3),
    }
    assert silence["letters"]["predicted"] == {"A": 12, "B": 0, "C": 0, "D": 0, "none": 0}
    assert audio["no_credit"]["not_credited"] == 2 and audio["no_credit"]["share"] == pytest.approx(2 / 12)
    assert {k: v["count"] for k, v in audio["no_credit"]["by_reason"].items()} == {
        "multiple_options": 1,
        "no_answer": 1,
    }
    assert silence["no_credit"]["by_reason"] == {}
    json.dumps(r)  # plain data


def test_a_fresh_workspace_skips_sections_with_a_note(tmp_path, planted):
    ws = Workspace(tmp_path / "w")
    shutil.copytree(planted.root / "items", ws.root / "items")
    ws.register_dataset(DatasetRecord(**{**planted.dataset(DS).__dict__}))
    r = stats(ws)
    assert set(r["sections"]) == {"items"}
    assert set(r["skipped"]) == {
        "splits",
        "contribution",
        "panel",
        "prompts",
        "rollouts",
        "training",
        "predictions",
    }
    assert "filter" in r["skipped"]["panel"] and "train" in r["skipped"]["training"]
    assert "run 'adqa-data eval'" in r["skipped"]["predictions"]


def test_an_unfinished_prediction_set_is_not_reported(tmp_path, planted):
    shutil.copytree(planted.root, tmp_path / "w")
    ws = Workspace(tmp_path / "w")
    prov = ws.provenance_path("eval", DS, "e1")
    prov.write_text(json.dumps({**json.loads(prov.read_text()), "status": "running"}))
    r = stats(ws, sections=["predictions"])
    assert r["sections"] == {} and "e1 did not finish" in r["skipped"]["predictions"]


def test_panel_without_votes_keeps_fleiss(tmp_path, planted):
    shutil.copytree(planted.root, tmp_path / "w")
    ws = Workspace(tmp_path / "w")
    shutil.rmtree(ws.root / "votes")
    panel = stats(ws, sections=["panel"])["sections"]["panel"]
    assert panel["fleiss_kappa"] == pytest.approx(1 / 3, abs=1e-4)
    assert panel["pairs"] == [] and "votes" in panel["note"]


def test_metrics_log_tolerates_bad_lines(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"step": 1, "loss": 2.0, "tag": "x", "ok": true}\n[1, 2]\n{"loss": NaN}\n\n{"reward": 1}\n')
    rows, skipped = read_metrics_log(p)
    assert rows == [{"step": 1.0, "loss": 2.0}, {"reward": 1.0}]
    assert skipped == 2  # the list and the line with no finite number


def test_training_log_without_step_uses_line_order(tmp_path, planted):
    shutil.copytree(planted.root, tmp_path / "w")
    ws = Workspace(tmp_path / "w")
    (ws.root / "runs" / DS / "run1" / "metrics.jsonl").write_text('{"loss": 3}\n{"loss": 2}\n{"kl": 0.1}\n')
    run = stats(ws, sections=["training"])["sections"]["training"]["run1"]
    assert run["curves"]["loss"] == {"step": [0, 1], "value": [3.0, 2.0]}
    assert run["curves"]["kl"] == {"step": [2], "value": [0.1]}


def test_bundled_trainer_metric_names_are_plotted(tmp_path, planted):
    shutil.copytree(planted.root, tmp_path / "w")
    ws = Workspace(tmp_path / "w")
    line = {
        "step": 1,
        "loss": 0.1,
        "reward": 0.5,
        "reward_std": 0.2,
        "kl": 0.0,
        "clip_ratio/region_mean": 0.1,
        "clip_ratio/low_mean": 0.05,
        "ratio_mean": 1.0,
    }
    (ws.root / "runs" / DS / "run1" / "metrics.jsonl").write_text(json.dumps(line) + "\n")
    run = stats(ws, sections=["training"])["sections"]["training"]["run1"]
    assert set(run["curves"]) == set(line) - {"step"}  # every metric is reported
    assert run["plotted"] == ["loss", "reward", "reward_std", "kl", "clip_ratio/region_mean"]


# -------------------------------------------------------------------------------------- plots, CLI
def test_cli_writes_tables_json_and_plots(tmp_path, planted):
    shutil.copytree(planted.root, tmp_path / "w")
    res = runner.invoke(app, ["stats", "-w", str(tmp_path / "w")])
    assert res.exit_code == 0, res.output
    assert "Fleiss' kappa on silence: 0.333" in res.stdout and "zero-signal groups" in res.stdout
    assert "0.542" in res.stdout and "0.250 LOW" in res.stdout  # letter mass median, m1 flagged
    assert (
        "prediction set e1" in res.stdout and "+50.0 pts" in res.stdout and "multiple_options" in res.stdout
    )
    pngs = sorted(p.name for p in (tmp_path / "w" / "stats" / DS).glob("*.png"))
    assert pngs == [
        "contribution.png",
        "items.png",
        "panel.png",
        "predictions-e1.png",
        "prompts-p1.png",
        "rollouts-r1.png",
        "splits.png",
        "training-run1.png",
    ]
    assert all((tmp_path / "w" / "stats" / DS / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    res = runner.invoke(
        app, ["stats", "-w", str(tmp_path / "w"), "--json", "--no-plots", "--section", "panel"]
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert list(report["sections"]) == ["panel"] and "plots" not in report
    res = runner.invoke(app, ["stats", "-w", str(tmp_path / "w"), "--section", "nope"])
    assert res.exit_code != 0


def test_missing_matplotlib_is_one_clear_error(monkeypatch, planted):
    import builtins

    from adqa_data.core.errors import UserError
    from adqa_data.stages.stats import plots

    real = builtins.__import__

    def no_matplotlib(name, *a, **kw):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(name)
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(UserError, match="matplotlib"):
        plots.write_plots(stats(planted, sections=["items"]), planted.root / "never")
