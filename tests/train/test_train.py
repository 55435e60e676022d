"""The trainer: configs and presets, reward re-weighting, the schedule (no model); then on a tiny random
Qwen2-Audio and its own transformers rollouts: the group layout reproduces the sampler's log-probs,
audio reaches the loss, the stored-old-log-prob ratio (1, then not), exact resume, LoRA, SFT, export and
averaging, and the CLI end to end.

The model tests are marked slow; each keeps a few groups of a few tokens.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from support.train import _trainer
from typer.testing import CliRunner

from adqa_data.cli import app
from adqa_data.core.errors import UserError
from adqa_data.core.workspace import Workspace
from adqa_data.mcq.advantages import group_advantages
from adqa_data.stages.download import download
from adqa_data.stages.rollout import load_config as rollout_config
from adqa_data.stages.rollout import rollout
from adqa_data.stages.rollout.contract import load_rollout_groups
from adqa_data.stages.sample import sample
from adqa_data.stages.train.data import load_sft_groups
from adqa_data.train.config import TrainConfig, load_config, presets_dir
from adqa_data.train.groups import sft_target
from adqa_data.train.reweight import reweight
from adqa_data.train.setup import lr_multiplier

runner = CliRunner()
DS = "audiomcq"


def parity(completions, *, completion_ids, **_columns):
    """A plugin reward that varies inside a group of a random model's completions: the first token's
    parity. It gives GRPO a signal where correctness (never right) and format (never well-formed) do not."""
    return [float(ids[0] % 2) if len(ids) else 0.0 for ids in completion_ids]


# ----------------------------------------------------------------------------------------- no model
def test_presets_and_config_errors(tmp_path):
    assert load_config("reference-000") == TrainConfig()  # the default preset is the defaults
    ref1 = load_config(presets_dir() / "reference-001.yaml")
    assert (ref1.beta, ref1.max_steps, ref1.gradient_accumulation_steps, ref1.save_steps) == (
        0.04,
        2000,
        2,
        100,
    )
    assert load_config("reference-001", beta=0.1).beta == 0.1  # options override the file
    with pytest.raises(UserError, match="preset"):
        load_config("no-such-preset")
    with pytest.raises(UserError, match="importance_sampling"):
        load_config(None, importance_sampling="sequence_mask")  # needs old_logp: recompute
    with pytest.raises(UserError, match="unknown key"):
        load_config(None, learning_rat=1e-5)
    assert load_config(None, old_logp="recompute", importance_sampling="token_truncate").importance_cap == 3.0
    run_key = TrainConfig().run_config()
    assert "logging_steps" not in run_key and "beta" in run_key  # logging does not restart a run


def test_lr_schedule_warmup_then_cosine():
    cfg = TrainConfig(warmup_ratio=0.1)
    lr = [lr_multiplier(s, 100, cfg) for s in range(101)]
    assert lr[0] == 0 and lr[5] == pytest.approx(0.5) and lr[10] == 1.0  # ceil(0.1 * 100) = 10 warm-up steps
    assert lr[55] == pytest.approx(0.5) and lr[100] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(lr[10:], lr[11:]))
    assert lr_multiplier(50, 100, TrainConfig(lr_scheduler="constant", warmup_ratio=0.0)) == 1.0


def test_sft_targets_follow_the_prompt_style():
    choices = ["a dog", "a cat", "a cow"]
    assert sft_target("think", choices, 1, "It meows.") == "<think>It meows.</think><answer>B</answer>"
    assert sft_target("think", choices, 0, None) == "<think></think><answer>A</answer>"
    assert sft_target("letters", choices, 2, "x") == "C"
    assert sft_target("audiomcq", choices, 1, None) == "<answer>a cat</answer>"


def test_batches_are_full_seeded_and_cover_every_epoch():
    from adqa_data.train.groups import Group, batch_groups

    groups = [Group(f"g{i}", f"i{i}", "q", ["a", "b"], "think", []) for i in range(5)]
    stream = [g.group_id for b in range(5) for g in batch_groups(groups, b, 3, seed=7)]  # 15 = 3 epochs of 5
    assert all(len(batch_groups(groups, b, 3, seed=7)) == 3 for b in range(5))
    for epoch in range(3):
        assert sorted(stream[epoch * 5 : (epoch + 1) * 5]) == [f"g{i}" for i in range(5)]
    assert stream == [g.group_id for b in range(5) for g in batch_groups(groups, b, 3, seed=7)]
    assert stream != [g.group_id for b in range(5) for g in batch_groups(groups, b, 3, seed=8)]


def test_checkpoint_average_and_tracker(tmp_path, monkeypatch):
    import sys
    import types

    import torch
    from safetensors.torch import save_file

    from adqa_data.train.checkpoint import average_checkpoints
    from adqa_data.train.checkpoint_files import WEIGHTS
    from adqa_data.train.metrics import MetricsLog

    for i, value in enumerate((1.0, 2.0, 6.0)):
        (tmp_path / f"c{i}").mkdir()
        save_file(
            {"w": torch.full((2, 2), value), "b": torch.tensor([value])}, str(tmp_path / f"c{i}" / WEIGHTS)
        )
    mean = average_checkpoints([tmp_path / f"c{i}" for i in range(3)])
    assert torch.equal(mean["w"], torch.full((2, 2), 3.0)) and torch.equal(mean["b"], torch.tensor([3.0]))
    with pytest.raises(UserError, match="no checkpoints"):
        average_checkpoints([])

    calls = []
    fake = types.SimpleNamespace(
        init=lambda **kw: calls.append(("init", kw["project"], kw["name"])),
        log=lambda metrics, step: calls.append(("log", step, metrics["loss"])),
        finish=lambda: calls.append(("finish",)),
    )
    monkeypatch.setitem(sys.modules, "trackio", fake)
    log = MetricsLog(tmp_path / "run", TrainConfig(report_to="trackio", logging_steps=2), True, "ds/run")
    for step in (1, 2, 3, 4):
        log.step(step, {"loss": float(step)})
    log.close()
    assert calls == [("init", "adqa-data", "ds/run"), ("log", 2, 2.0), ("log", 4, 4.0), ("finish",)]
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert lines == [{"step": 2, "loss": 2.0}, {"step": 4, "loss": 4.0}]
    monkeypatch.setitem(sys.modules, "wandb", None)  # not installed
    with pytest.raises(UserError, match="pip install wandb"):
        MetricsLog(tmp_path / "run", TrainConfig(report_to="wandb"), True, "x")


@pytest.fixture(scope="module")
def scripted_ws(tmp_path_factory, clean_demo_roots) -> Workspace:
    """download -> sample -> scripted rollout (no model): varied reward columns in milliseconds."""
    ws = Workspace(tmp_path_factory.mktemp("train_scripted") / "w")
    download(ws, from_dir=clean_demo_roots[DS])
    sample(ws, n=8, split="all", seed=0)
    rollout(
        ws,
        rollout_config(None, backend="scripted", k=4, rewards={"correctness": 1.0, "format": 0.25}),
        name="s",
    )
    return ws


def test_reward_reweighting_recomputes_advantages(scripted_ws):
    stored, info = load_rollout_groups(scripted_ws, DS, ["s"])
    assert info.backend == "scripted" and info.temperature == 1.0 and info.max_new_tokens == 512
    assert all(len(g.completions) == 4 for g in stored) and len(stored) == 8
    assert stored[0].completions[0].token_ids is None  # scripted ids are bytes: the trained model retokenizes
    formats, _ = load_rollout_groups(scripted_ws, DS, ["s"], rewards={"format": 1.0})
    f = np.array([c.rewards["reward_format"] for g in formats for c in g.completions])
    ids = [g.group_id for g in formats for _ in g.completions]
    expected = group_advantages(f, ids).advantages
    got = np.array([c.advantage for g in formats for c in g.completions])
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert [c.reward for g in formats for c in g.completions] == pytest.approx(f.tolist())
    before = np.array([c.advantage for g in stored for c in g.completions])
    assert not np.allclose(before, got)  # another reward mix, other advantages, same shards
    with pytest.raises(UserError, match="reward_anchoring was not computed"):
        load_rollout_groups(scripted_ws, DS, ["s"], rewards={"anchoring": 1.0})
    with pytest.raises(UserError, match="unknown reward"):
        load_rollout_groups(scripted_ws, DS, ["s"], rewards={"accuracy": 1.0})
    reweight(stored, {"correctness": 1.0, "anchoring": 0.0})  # a weight-0 reward needs no column values
    assert [c.reward for g in stored for c in g.completions] == pytest.approx(
        [c.rewards["reward_correctness"] for g in stored for c in g.completions]
    )


def _advantages(groups) -> np.ndarray:
    return np.array([c.advantage for g in groups for c in g.completions])


def test_recomputed_advantages_use_the_rollout_shards_and_its_settings(scripted_ws, tmp_path):
    """The batch of scale="batch" is a rollout shard, in rollout and in re-weighting alike: the rollout's
    own weights and settings reproduce its stored advantages; given settings replace the recorded ones."""
    ws = Workspace(tmp_path / "w")
    shutil.copytree(scripted_ws.root, ws.root)
    weights = {"correctness": 1.0, "format": 0.25}
    rollout(ws, rollout_config(None, backend="scripted", k=4, rewards=weights, shard_size=3), name="b")
    stored, _ = load_rollout_groups(ws, DS, ["b"])
    assert [g.batch for g in stored] == ["b/0"] * 3 + ["b/1"] * 3 + ["b/2"] * 2
    again, _ = load_rollout_groups(ws, DS, ["b"], rewards=weights)
    np.testing.assert_allclose(_advantages(again), _advantages(stored), atol=1e-5)
    assert [g.zero_signal for g in again] == [g.zero_signal for g in stored]
    one_batch = group_advantages(
        [c.reward for g in stored for c in g.completions], [g.group_id for g in stored for _ in g.completions]
    ).advantages
    assert not np.allclose(one_batch, _advantages(stored), atol=1e-3)  # the shards are not one batch
    # an advantage setting alone recomputes from the stored totals
    grouped, _ = load_rollout_groups(ws, DS, ["b"], scale="group", min_spread=0.0)
    totals = np.array([c.reward for g in grouped for c in g.completions])
    expected = group_advantages(
        totals, [g.group_id for g in grouped for _ in g.completions], scale="group", min_spread=0.0
    )
    np.testing.assert_allclose(_advantages(grouped), expected.advantages, atol=1e-12)
    wide, _ = load_rollout_groups(ws, DS, ["b"], min_spread=10.0)  # no group spans 10: all zero signal
    assert all(g.zero_signal for g in wide) and not _advantages(wide).any()
    # a record from before scale/min_spread existed was computed with group scaling and no minimum
    prov_path = ws.provenance_path("rollout", DS, "b")
    record = json.loads(prov_path.read_text())
    for key in ("scale", "min_spread"):
        del record["config"][key]
    prov_path.write_text(json.dumps(record))
    legacy, info = load_rollout_groups(ws, DS, ["b"], rewards=weights)
    assert (info.advantage["scale"], info.advantage["min_spread"]) == ("group", 0.0)
    np.testing.assert_allclose(_advantages(legacy), _advantages(grouped), atol=1e-5)


def test_advantage_settings_are_checked_and_reach_the_loader(scripted_ws, monkeypatch):
    for bad in ({"scale": "std"}, {"min_spread": -1.0}, {"min_spread": float("nan")}):
        with pytest.raises(UserError):
            load_config(None, **bad)
    cfg = load_config(None, scale="none", min_spread=0.5, baseline="leave-one-out")
    assert (cfg.scale, cfg.min_spread, cfg.baseline) == ("none", 0.5, "leave_one_out")
    import adqa_data.stages.train.data as data

    seen = {}

    def spy(*args, **kwargs):
        seen.update(kwargs)
        raise UserError("stop")

    monkeypatch.setattr(data, "load_rollout_groups", spy)
    with pytest.raises(UserError, match="stop"):
        data.load_groups_for(scripted_ws, DS, cfg, ["s"])
    assert (seen["scale"], seen["min_spread"], seen["baseline"]) == ("none", 0.5, "leave_one_out")


def test_grpo_trains_on_the_only_rollout_set_by_default(scripted_ws, tmp_path, clean_demo_roots):
    from adqa_data.stages.train.stage import training_sources as _sources

    assert _sources(scripted_ws, DS, load_config(None)) == ["s"]
    assert _sources(scripted_ws, DS, load_config(None, rollouts=["a", "b"])) == ["a", "b"]
    bare = Workspace(tmp_path / "w")
    download(bare, from_dir=clean_demo_roots[DS])
    with pytest.raises(UserError, match="no rollout set yet"):
        _sources(bare, DS, load_config(None))


def test_codec_is_for_policies_that_read_codes(scripted_ws):
    from adqa_data.stages.train.data import load_groups_for

    grpo = load_config(None, codec="mimo-audio")
    with pytest.raises(UserError, match="sampled from audio"):  # the rollouts read audio, not codes
        load_groups_for(scripted_ws, DS, grpo, ["s"])
    sft = load_config(None, method="sft", split="all", codec="mimo-audio")
    with pytest.raises(UserError, match="reads audio"):  # no MiMo model: nothing reads codes
        load_groups_for(scripted_ws, DS, sft, [])
    groups, info = load_groups_for(scripted_ws, DS, load_config(None, method="sft", split="all"), [])
    assert info.codec_key is None and groups and all(g.codes is None for g in groups)


# ------------------------------------------- tiny model fixtures (`tiny`, `tws`: tests/train/conftest.py)
def _weights(trainer) -> dict:
    return {k: v.clone() for k, v in trainer.trainable_state().items()}


# --------------------------------------------------------------------------------------- the data path
@pytest.mark.slow
def test_group_layout_reproduces_the_sampler_and_separate_forwards(tws):
    import torch

    from adqa_data.train.collate import Collator
    from adqa_data.train.policy import batch_inputs, load_policy

    groups, info = load_rollout_groups(tws, DS, ["tf"])
    policy = load_policy(info.policy)
    collate = Collator(policy.model)
    batch = collate(groups[:3])  # 3 rows: each prompt once, then its 4 completions
    assert batch.input_ids.shape[0] == 3 and batch.mask.shape[0] == 12
    with torch.no_grad():
        logp, _ = policy.module(batch_inputs(batch))
    # the stored sampler log-probs, recomputed from the shards alone (prompt rebuilt, clip reloaded)
    torch.testing.assert_close(logp * batch.mask, batch.sampler_logp * batch.mask, atol=2e-5, rtol=0)
    m, n = policy.model, 0
    for g in groups[:3]:
        ids, audio = collate.prompt(g)
        assert ids == g.prompt_token_ids
        for c in g.completions:
            full = torch.tensor([ids + c.token_ids])
            with torch.no_grad():
                h = m.decoder(
                    inputs_embeds=m.embed_with_audio(full, [audio]), use_cache=False
                ).last_hidden_state[0]
                lp = m.lm_head(h[len(ids) - 1 : -1]).float().log_softmax(-1)
            alone = lp.gather(1, torch.tensor(c.token_ids)[:, None]).squeeze(1)
            torch.testing.assert_close(logp[n, : len(c.token_ids)], alone, atol=2e-5, rtol=0)
            n += 1
    # another tokenizer's prompt is refused, not silently scored
    groups[0].prompt_token_ids = groups[0].prompt_token_ids[:-1]
    with pytest.raises(UserError, match="not the one the sampler stored"):
        Collator(policy.model)(groups[:1])


@pytest.mark.slow
def test_loss_changes_when_only_the_audio_changes(tws):
    import torch

    from adqa_data.train.collate import Collator
    from adqa_data.train.loss import policy_loss
    from adqa_data.train.policy import batch_inputs, load_policy

    groups, info = load_rollout_groups(tws, DS, ["tf"], rewards={"test_train:parity": 1.0})
    g = next(g for g in groups if not g.zero_signal)
    policy = load_policy(info.policy)
    clip = g.load_audio(16000)
    losses, grads = [], []
    for audio in (clip, np.zeros_like(clip), np.roll(clip, len(clip) // 2)):
        g.audio = audio  # the same prompt ids (same length), the same completions: only the audio differs
        batch = Collator(policy.model, check_prompts=False)([g])
        logp, _ = policy.module(batch_inputs(batch))
        loss, _ = policy_loss(logp, batch.sampler_logp, batch.advantages, batch.mask)
        policy.module.zero_grad()
        loss.backward()
        losses.append(float(loss.detach()))
        grads.append(policy.model.lm_head.weight.grad.clone())
    assert losses[0] != losses[1] and losses[0] != losses[2] and losses[1] != losses[2]
    assert not torch.equal(grads[0], grads[1])


# --------------------------------------------------------------------------------------------- the loop
@pytest.mark.slow
def test_stored_old_logp_ratio_is_one_first_then_moves(tws, tmp_path):
    trainer, groups = _trainer(
        tws,
        tmp_path / "run",
        num_iterations=2,
        max_steps=2,
        micro_batch_groups=2,
        gradient_accumulation_steps=2,
        rewards={"test_train:parity": 1.0},
    )
    history = trainer.run_stream(groups, 1, "offline")
    assert len(history) == 2
    assert history[0]["ratio_mean"] == pytest.approx(1.0, abs=1e-5)  # sampler = trainer before any update
    assert history[0]["clip_ratio/region_mean"] == 0.0 and history[0]["loss"] != 0.0
    assert abs(history[1]["ratio_mean"] - 1.0) > 1e-4  # the second pass sees the updated policy


@pytest.mark.slow
def test_resume_gives_the_same_next_steps_as_an_uninterrupted_run(tws, tmp_path):
    """Four steps (two batches x two iterations, old log-probs recomputed) with a checkpoint every step;
    a new trainer resumed from step 3 — between the two iterations of the second batch — takes step 4
    exactly as the first did."""
    import torch

    kw = {
        "num_iterations": 2,
        "max_steps": 4,
        "micro_batch_groups": 1,
        "gradient_accumulation_steps": 2,
        "old_logp": "recompute",
        "save_steps": 1,
        "beta": 0.05,
        "rewards": {"test_train:parity": 1.0},
    }
    from adqa_data.train.loop import train

    first, groups = _trainer(tws, tmp_path / "a", **kw)
    history = train(first, groups)
    final = _weights(first)
    assert [p.name for p in first.checkpoints()] == [f"step-{i:06d}" for i in (1, 2, 3, 4)]
    assert (first.checkpoints()[2] / "batch_cache.pt").exists()  # step 3 is mid-batch
    assert not (first.checkpoints()[1] / "batch_cache.pt").exists()
    first.close()

    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "b" / "checkpoints" / "step-000004")
    second, groups = _trainer(tws, tmp_path / "b", **kw)
    assert second.resume() and (second.state.step, second.state.batch, second.state.iteration) == (3, 1, 1)
    again = train(second, groups)
    assert len(again) == 1 and again[0]["loss"] == history[3]["loss"] and again[0]["kl"] == history[3]["kl"]
    resumed = _weights(second)
    assert final.keys() == resumed.keys() and all(torch.equal(final[k], resumed[k]) for k in final)
    second.close()


@pytest.mark.slow
def test_lora_trains_only_the_adapter_and_its_reference_is_the_disabled_adapter(tws, tmp_path):
    import torch
    from safetensors.torch import load_file

    from adqa_data.train.collate import Collator
    from adqa_data.train.loop import train
    from adqa_data.train.policy import batch_inputs, load_policy

    trainer, groups = _trainer(
        tws,
        tmp_path / "run",
        lora=True,
        lora_r=4,
        beta=0.1,
        max_steps=2,
        micro_batch_groups=2,
        save_steps=2,
        rewards={"test_train:parity": 1.0},
    )
    assert trainer.reference is None  # no second copy: the adapter is switched off instead
    base = load_policy(trainer.model_path)
    frozen_before = {
        n: p.detach().clone() for n, p in trainer.policy.model.module.named_parameters() if "lora_" not in n
    }
    history = train(trainer, groups)
    assert all(h["kl"] >= 0 for h in history) and history[-1]["kl"] > 0
    for n, p in trainer.policy.model.module.named_parameters():
        if "lora_" not in n:
            assert torch.equal(p, frozen_before[n]), n  # the base never moves
    saved = load_file(str(trainer.checkpoints()[-1] / "trainable.safetensors"))
    assert saved and all("lora_" in k for k in saved)  # checkpoints hold the adapter only
    batch = Collator(trainer.policy.model)(groups[:1])
    with torch.no_grad():
        ref = trainer._reference_logps(batch)
        plain, _ = base.module(batch_inputs(batch))
        trained, _ = trainer.module(batch_inputs(batch))
    torch.testing.assert_close(ref, plain, atol=1e-5, rtol=0)  # reference = the untouched base
    assert not torch.allclose(trained, plain, atol=1e-4)
    # the exported policy is the base with the adapter merged: it scores as the trained module does
    out = trainer.export_policy(tmp_path / "policy")
    merged = load_policy(out)
    with torch.no_grad():
        exported, _ = merged.module(batch_inputs(Collator(merged.model)(groups[:1])))
    torch.testing.assert_close(exported, trained, atol=1e-4, rtol=0)
    trainer.close()


@pytest.mark.slow
def test_sft_lowers_the_loss_on_its_data(tws, tmp_path):
    from adqa_data.train.loop import Trainer, train

    groups = load_sft_groups(tws, DS, "all")
    assert all(len(g.completions) == 1 for g in groups)
    with_cot = [g for g in groups if "<think></think>" not in g.completions[0].text]
    assert with_cot  # the demo items carry a chain-of-thought
    cfg = load_config(
        None,
        method="sft",
        split="all",
        learning_rate=3e-3,
        warmup_ratio=0.0,
        max_steps=6,
        micro_batch_groups=4,
        save_steps=1000,
    )
    model = str(tws.provenance("rollout", DS, "tf")["config"]["model"])
    trainer = Trainer(
        cfg,
        tmp_path / "sft",
        model=model,
        sampling=load_rollout_groups(tws, DS, ["tf"])[1],
        total_steps=cfg.max_steps,
    )
    small = groups[:4]  # one batch, seen six times
    history = train(trainer, small)
    assert len(history) == 6 and history[-1]["nll"] < 0.8 * history[0]["nll"]
    trainer.close()


@pytest.mark.slow
def test_cli_sft_then_grpo_from_its_policy_with_averaging(tws):
    from adqa_data.train.policy import load_model

    w = str(tws.root)
    base = tws.provenance("rollout", DS, "tf")["config"]["model"]
    res = runner.invoke(
        app,
        [
            "train",
            "-w",
            w,
            "--method",
            "sft",
            "--split",
            "all",
            "--model",
            base,
            "--max-steps",
            "2",
            "--micro-batch-groups",
            "4",
            "--lr",
            "1e-3",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    sft = json.loads(res.stdout)
    assert (sft["name"], sft["steps"], sft["method"]) == ("all-sft-seed0", 2, "sft")
    sft_policy = Path(sft["policy_dir"])
    load_model(sft_policy)  # a checkpoint the transformers stack loads

    args = [
        "train",
        "-w",
        w,
        "--model",
        str(sft_policy),
        "--reward",
        "test_train:parity=1",
        "--max-steps",
        "3",
        "--save-steps",
        "1",
        "--completions-steps",
        "2",
        "--lr",
        "1e-4",
        "--name",
        "grpo",
        "--json",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    run = Path(out["run_dir"])
    assert out["steps"] == 3 and not out["up_to_date"] and (run / "policy" / "config.json").exists()
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2, 3] and all(math.isfinite(x["loss"]) for x in lines)
    import polars as pl

    table = pl.read_parquet(run / "completions" / "step-000002.parquet")
    assert {"prompt", "completion", "reward", "advantage", "reward_parity"} <= set(
        table.columns
    ) and table.height > 0
    prov = tws.provenance("train", DS, "grpo")
    assert prov["status"] == "complete" and prov["config"]["rewards"] == {"test_train:parity": 1.0}

    again = runner.invoke(app, args)  # same settings, same inputs: nothing to do
    assert again.exit_code == 0 and json.loads(again.stdout)["up_to_date"]
    averaged = runner.invoke(app, [*args, "--average-last", "2"])  # on the finished run, no retraining
    assert averaged.exit_code == 0, averaged.output
    assert json.loads(averaged.stdout)["averaged_dir"] and (run / "policy-avg" / "model.safetensors").exists()
    other = runner.invoke(app, [*args[:-1], "--beta", "0.5"])  # other settings under the same name
    assert isinstance(other.exception, UserError) and "other settings" in str(other.exception)


@pytest.mark.slow
def test_two_processes_take_the_same_steps_as_one_with_accumulation(tws, tmp_path):
    """DDP over two CPU processes (torchrun, gloo), one group each, against one process accumulating
    the same two groups: the same metrics and the same weights."""
    import os
    import subprocess
    import sys

    import torch
    from safetensors.torch import load_file

    from adqa_data.train.loop import train

    kw = {"max_steps": 2, "beta": 0.05, "save_steps": 1, "rewards": {"test_train:parity": 1.0}}
    single, groups = _trainer(
        tws, tmp_path / "single", micro_batch_groups=1, gradient_accumulation_steps=2, **kw
    )
    history = train(single, groups)
    single.close()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parent), str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
    }
    options = "--rollouts tf --name ddp --reward test_train:parity=1 --max-steps 2 --lr 1e-3 --warmup-ratio 0"
    options += " --beta 0.05 --save-steps 1 --grad-accum 1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "adqa_data", "train"]
    cmd += ["-w", str(tws.root), *options.split()]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tws.root / "runs" / DS / "ddp"
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    for mine, theirs in zip(history, lines):
        for key in ("loss", "reward", "reward_std", "kl", "grad_norm"):
            assert theirs[key] == pytest.approx(mine[key], rel=1e-5, abs=1e-9), key
    a = load_file(str(single.checkpoints()[-1] / "trainable.safetensors"))
    b = load_file(str(run / "checkpoints" / "step-000002" / "trainable.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-7, rtol=0) for k in a)
