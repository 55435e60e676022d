"""`stats` on a dataset whose rollout set has zero rows: the set is reported as empty (0 rows, 0 groups,
its K from the set's settings), next to the non-empty one, in the JSON report, the tables and the plots,
never a crash and never skipped as if no rollout had run."""

from __future__ import annotations

import json

import pytest
from support.planted_workspace import DS, K, _finished, _shard, build_workspace
from typer.testing import CliRunner

from adqa_data.cli import app
from adqa_data.core.schema import ROLLOUTS
from adqa_data.stages.stats import stats


@pytest.fixture(scope="module")
def with_empty_set(tmp_path_factory):
    ws = build_workspace(tmp_path_factory.mktemp("stats_empty"))
    _shard(ws, ROLLOUTS, [], DS, "r0")
    _finished(
        ws,
        "rollout",
        "r0",
        {"prompts": "p1", "k": K, "backend": "scripted", "rewards": {"correctness": 1.0}},
        {"prompts": "fp-prompts", "model": "fp-model"},
    )
    return ws


def test_an_empty_rollout_set_is_reported_empty(with_empty_set):
    report = stats(with_empty_set, DS, sections=["rollouts"])
    assert "rollouts" not in report["skipped"]
    sets = report["sections"]["rollouts"]
    assert set(sets) == {"r0", "r1"}
    empty = sets["r0"]
    assert (empty["rows"], empty["groups"], empty["k"]) == (0, 0, K)
    assert empty["accuracy"] is None and empty["parse"] == {} and empty["by_question_type"] == []
    assert sets["r1"]["rows"] > 0  # the other set is described as before


def test_cli_prints_and_plots_a_workspace_with_an_empty_rollout_set(with_empty_set, tmp_path):
    pytest.importorskip("matplotlib")
    ws = str(with_empty_set.root)
    res = CliRunner().invoke(app, ["stats", "-w", ws, "--section", "rollouts", "--out", str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    assert "rollout set r0: empty (0 rows)" in res.stderr
    assert "rollout set r1" in res.stdout
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["rollouts-r1.png"]
    res = CliRunner().invoke(app, ["stats", "-w", ws, "--section", "rollouts", "--json", "--no-plots"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["sections"]["rollouts"]["r0"]["rows"] == 0
