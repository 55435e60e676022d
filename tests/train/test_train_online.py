"""Online rounds (`adqa-data train --online`) on a tiny random Qwen2-Audio: each round rolls out the next
slice of the prompt set with the trainer's own weights (no model is loaded for it), keeps its shards in
the workspace, and a run killed after round 1 and again mid-round 2 ends exactly where an uninterrupted
run ends: same round-2 shards, same final weights.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adqa_data.cli import app
from adqa_data.core.errors import UserError
from adqa_data.core.schema import ROLLOUTS
from adqa_data.core.workspace import Workspace, read_table
from adqa_data.stages.download import download
from adqa_data.stages.rollout import load_config as rollout_config
from adqa_data.stages.sample import sample
from adqa_data.train.config import load_config

DS = "audiomcq"
RUN = "online"


def parity(completions, *, completion_ids, **_columns):
    """A reward that varies inside a group of a random model's completions (the first token's parity)."""
    return [float(ids[0] % 2) if len(ids) else 0.0 for ids in completion_ids]


class Killed(Exception):
    """Stands in for a kill at a chosen moment of the run."""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, clean_demo_roots) -> tuple[Path, Path]:
    """A tiny random Qwen2-Audio and a workspace with a prompt set of 4."""
    pytest.importorskip("transformers")
    from adqa_data.testing.models import build_tiny_qwen2_audio

    base = tmp_path_factory.mktemp("online")
    model = build_tiny_qwen2_audio(base / "qwen2-audio")
    ws = Workspace(base / "w")
    download(ws, from_dir=clean_demo_roots[DS])
    sample(ws, n=4, split="all", seed=0)
    return model, ws.root


def _run(root: Path, model: Path, **hooks):
    from adqa_data.stages.train.online import train_online

    cfg = load_config(
        None,
        model=str(model),
        learning_rate=3e-3,
        warmup_ratio=0.0,
        beta=0.0,
        save_steps=1,
        micro_batch_groups=1,
        rewards={"correctness": 1.0, "test_train_online:parity": 1.0},
        scale="group",  # the train settings' advantage settings are what each round's rollout computes with
        min_spread=0.25,
    )
    rcfg = rollout_config(None, k=4, max_new_tokens=5)
    return train_online(Workspace(root), cfg, rcfg, rounds=2, round_prompts=2, name=RUN, **hooks)


def _completions(root: Path, k: int) -> list:
    t = read_table(Workspace(root).table_dir(ROLLOUTS.name, DS, f"{RUN}-round{k}"), ROLLOUTS)
    return sorted(
        zip(t["item_id"].to_pylist(), t["rollout_index"].to_pylist(), t["completion_token_ids"].to_pylist())
    )


def _weights(run_dir: str) -> dict:
    from safetensors.torch import load_file

    return load_file(str(Path(run_dir) / "policy" / "model.safetensors"))


@pytest.mark.slow
def test_online_rounds_share_the_model_keep_their_shards_and_resume_exactly(tiny, tmp_path, monkeypatch):
    import torch

    import adqa_data.stages.rollout.policy as rollout_policy

    model, root = tiny
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(root, a)
    shutil.copytree(root, b)

    def no_load(*args, **kwargs):
        raise AssertionError("the rollout loaded a model: it should sample with the trainer's")

    monkeypatch.setattr(rollout_policy, "load_backend", no_load)

    # uninterrupted: 2 rounds x 2 prompts, one group per step
    full = _run(a, model)
    assert (full.steps, full.total_steps, full.groups) == (4, 4, 4)
    rounds = full.summary["rounds"]
    assert [(r["round"], r["start_step"], r["end_step"]) for r in rounds] == [(1, 0, 2), (2, 2, 4)]
    ws = Workspace(a)
    for k, draws in ((1, [0, 1]), (2, [2, 3])):  # each round's shards stay, with the slice it rolled out
        prov = ws.provenance("rollout", DS, f"{RUN}-round{k}")
        assert prov["status"] == "complete" and prov["config"]["draws"] == draws
        assert prov["summary"]["groups"] == 2
        assert (prov["config"]["scale"], prov["config"]["min_spread"]) == ("group", 0.25)
    assert ws.finished_sets("sample", "prompts", DS) == ["all-4-seed0"]  # no prompt set was added
    sampler2 = ws.provenance("rollout", DS, f"{RUN}-round2")["config"]["model"]
    assert ws.provenance("rollout", DS, f"{RUN}-round1")["config"]["model"] == str(model)
    assert sampler2.endswith("rounds/round-2/policy")  # round 2 sampled with the weights round 1 left
    assert not (Path(full.run_dir) / "rounds").exists()  # sampler exports are dropped at the end
    items = [{x[0] for x in _completions(a, k)} for k in (1, 2)]
    assert not items[0] & items[1]  # the next slice, not the same prompts again
    assert json.loads((Path(full.run_dir) / "rounds.json").read_text())["rounds"]["2"]["sampler"] == sampler2

    # killed once the first round is done, then again after step 3 (mid round 2), then run to the end
    def kill_after_round_1(k, record):
        if k == 1:
            raise Killed

    with pytest.raises(Killed):
        _run(b, model, on_round=kill_after_round_1)

    def kill_at_step_3(step, total, metrics):
        if step == 3:
            raise Killed

    with pytest.raises(Killed):
        _run(b, model, on_step=kill_at_step_3)
    resumed = _run(b, model)
    assert resumed.resumed_from == 3 and resumed.steps == 4
    assert _completions(b, 2) == _completions(a, 2)  # round 2 sampled with the same weights
    assert _completions(b, 1) == _completions(a, 1)
    wa, wb = _weights(full.run_dir), _weights(resumed.run_dir)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    from safetensors.torch import load_file

    start = load_file(str(model / "model.safetensors"))
    assert start.keys() == wa.keys() and not all(torch.equal(start[k], wa[k]) for k in wa)  # it trained

    again = _run(b, model)  # finished: nothing to do
    assert again.up_to_date and again.steps == 4


def test_online_rounds_from_a_pipeline_step(tmp_path):
    """A pipeline `train` step takes the online options and the options whose flags differ from their
    names (learning_rate is --lr, train_audio: false is --freeze-audio)."""
    from adqa_data.cli.pipeline import load, plan

    (tmp_path / "p.yaml").write_text(
        "workspace: w\nsteps:\n"
        "  - train: {dataset: d, model: m, online: 3, prompts: p, round_prompts: 8, k: 4, "
        "max_new_tokens: 32, learning_rate: 1.0e-3, train_audio: false, name: run}\n"
    )
    (argv,) = plan(load(tmp_path / "p.yaml"))

    def value(flag: str) -> str:
        return argv[argv.index(flag) + 1]

    assert (value("--online"), value("--round-prompts"), value("--k"), value("--lr")) == (
        "3",
        "8",
        "4",
        "0.001",
    )
    assert "--freeze-audio" in argv and "--learning-rate" not in argv and "--no-train-audio" not in argv


def test_online_options_need_online():
    res = CliRunner().invoke(app, ["train", "-w", "nowhere", "--round-prompts", "3"])
    assert isinstance(res.exception, UserError) and "--online" in str(res.exception)


def test_online_plan_takes_the_only_prompt_set(tmp_path, clean_demo_roots):
    from adqa_data.stages.train.online import make_plan

    ws = Workspace(tmp_path / "w")
    download(ws, from_dir=clean_demo_roots[DS])
    with pytest.raises(UserError, match="has no prompt set yet"):
        make_plan(ws, DS, rollout_config(None), rounds=2)
    sample(ws, n=4, split="all", seed=0)
    plan = make_plan(ws, DS, rollout_config(None), rounds=2)
    assert (plan.prompts, plan.size, plan.round_prompts, plan.slice(2)) == ("all-4-seed0", 4, 2, [2, 3])
