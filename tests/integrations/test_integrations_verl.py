"""`compute_score` (verl) and TRL's `total` give the rollout's rewards for the same completions.

Over the answer parser's whole case table, each output is graded by the rollout stage's own reward code
(`stages.rollout.shards._reward_and_rank`, anchoring off) and by the two integrations: correctness,
format and the weighted total must agree exactly. Also: the verl export's `extra_info` carries the options
and the reward mix that `compute_score` reads, a weighted anchoring term is refused, and a ground truth
that contradicts `answer_index` is an error rather than a silent zero. Runs without verl installed.
"""

from __future__ import annotations

import pytest
from support.case_rollouts import rewarded_case_rows
from support.planted_workspace import build_workspace

from adqa_data.export import ExportOptions, export
from adqa_data.integrations import trl as trl_rewards
from adqa_data.integrations.verl import compute_score
from adqa_data.mcq.answers import LETTERS

MIXES = [{"correctness": 1.0, "format": 0.25}, {"correctness": 1.0, "format": 0.5, "anchoring": 0.0}]


def rollout_rows(weights):
    """The case table as rollout rows, rewarded by the rollout stage's own code."""
    return rewarded_case_rows(weights)


@pytest.mark.parametrize("weights", MIXES)
def test_compute_score_and_trl_total_equal_the_rollout_columns(weights):
    rows = rollout_rows(weights)
    assert {r["reward_correctness"] for r in rows} == {0.0, 1.0}
    for r in rows:
        info = {"choices": r["choices"], "answer_index": r["answer_index"], "reward_weights": weights}
        got = compute_score("cases", r["completion_text"], LETTERS[r["answer_index"]], info)
        assert got["correctness"] == r["reward_correctness"] == got["acc"]
        assert got["format"] == r["reward_format"]
        assert got["score"] == r["reward"]
    weighted = {k: v for k, v in weights.items() if v}
    if weighted == {"correctness": 1.0, "format": 0.25}:  # TRL's total uses the default mix
        totals = trl_rewards.total(
            [r["completion_text"] for r in rows],
            choices=[r["choices"] for r in rows],
            answer_index=[r["answer_index"] for r in rows],
        )
        assert totals == [r["reward"] for r in rows]


def test_the_verl_export_carries_what_compute_score_reads(tmp_path):
    import datasets

    ws = build_workspace(tmp_path / "ws")
    out = tmp_path / "verl"
    export(
        ws, "verl", options=ExportOptions(audio="none", rewards={"correctness": 1.0, "format": 0.5}), out=out
    )
    row = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "cache"))[0]
    info, truth = row["extra_info"], row["reward_model"]["ground_truth"]
    assert info["reward_weights"] == [
        {"name": "correctness", "weight": 1.0},
        {"name": "format", "weight": 0.5},
    ]
    right = f"<think>A steady tone.</think><answer>{truth}</answer>"
    assert compute_score(row["data_source"], right, truth, info)["score"] == 1.5
    assert compute_score(row["data_source"], "no idea", truth, info)["score"] == 0.0


def test_mistakes_are_errors():
    info = {"choices": ["a", "b", "c"], "answer_index": 1}
    with pytest.raises(ValueError, match="anchoring"):
        compute_score("x", "B", "B", info, weights={"correctness": 1.0, "anchoring": 0.5})
    with pytest.raises(ValueError, match="disagrees"):
        compute_score("x", "B", "C", info)
    with pytest.raises(ValueError, match="choices"):
        compute_score("x", "B", "B", {"answer_index": 1})
    assert compute_score("x", "<answer>b</answer>", "b", {"choices": ["a", "b"]})["correctness"] == 1.0
