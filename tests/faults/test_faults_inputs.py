"""Fault injection, second round: poisoned audio, broken or crafted checkpoints, hostile settings files.

One test (or a few) per class of fault, each with several examples of the class:
- audio with inf/NaN samples (quarantined at download, refused where a later stage reads it), and a
  training step whose loss or gradient is not finite (skipped, counted; a run of them stops the run;
  non-finite weights are never written);
- a resumed run's logs (the killed run's steps past the checkpoint are dropped, so none appears twice);
- checkpoints that are pickles (a crafted one is refused and never run) or broken (a truncated file or a
  bad state.json: named, set aside, the previous checkpoint resumed);
- a reward plugin imported where only its column is read;
- settings files that are not what they seem (a "billion laughs", deep nesting, not UTF-8, a FIFO,
  /dev/zero, a huge file): one line, exit 2, at once;
- pipeline option values checked before the first step runs; eval's message for a model not cached offline.

The audio, plugin and settings tests run on the demo data and the scripted backend; the trainer tests
build a tiny random Qwen2-Audio and are marked slow.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from support.faults import (
    N_PROMPTS,
    _copy_run,
    _trainer,
    assert_clean_error,
    quarantine_reasons,
    run_cli,
    scripted,
)

from adqa_data.audio.clips import AudioError, read_item_audio
from adqa_data.core.errors import UserError
from adqa_data.core.schema import QUARANTINE
from adqa_data.core.workspace import Workspace
from adqa_data.stages.download import download
from adqa_data.stages.rollout import rollout
from adqa_data.stages.sample import sample

DS = "audiomcq"


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch):
    monkeypatch.delenv("ADQA_DEBUG", raising=False)


@pytest.fixture
def env(clean_demo_roots, tmp_path) -> tuple[Workspace, Path]:
    """A private copy of the AudioMCQ demo data, downloaded and sampled (--split all): (workspace, root)."""
    root = tmp_path / "data" / DS
    shutil.copytree(clean_demo_roots[DS], root)
    ws = Workspace(tmp_path / "w")
    download(ws, from_dir=root, workers=1)
    sample(ws, n=N_PROMPTS, split="all", seed=0)
    return ws, root


def _float_wav(path: Path, bad: dict[int, float], frames: int = 40_000, channels: int = 1, subtype="FLOAT"):
    """A float WAV of quiet noise with the given samples (frame -> value) set, in every channel."""
    import soundfile as sf

    x = (np.random.default_rng(0).standard_normal((frames, channels)) * 0.05).astype(np.float64)
    for frame, value in bad.items():
        x[frame] = value
    sf.write(str(path), x if channels > 1 else x[:, 0], 16000, subtype=subtype)


def _run_with_timeout(fn, seconds: float = 30):
    """`fn()` in a thread; fails the test if it does not return in time (a read that blocks)."""
    out: dict = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            out["error"] = e

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "blocked"
    if "error" in out:
        raise out["error"]
    return out["value"]


# ------------------------------------------------------------------------------ 1. non-finite audio
NONFINITE = {
    "nan": ({30_000: np.nan}, 1, "FLOAT"),
    "posinf": ({5: np.inf}, 1, "FLOAT"),
    "neginf_stereo": ({100: -np.inf}, 2, "FLOAT"),
    "nan_double": ({20_000: np.nan}, 1, "DOUBLE"),
    "nan_last_block": ({39_999: np.nan}, 1, "FLOAT"),  # past the probe's first block: every block is checked
}


def test_download_quarantines_audio_with_inf_or_nan_samples(env, tmp_path):
    _, root = env
    lines = (root / "data.jsonl").read_text().splitlines()
    good = json.loads(lines[0])
    rows = []
    for name, (bad, channels, subtype) in NONFINITE.items():
        _float_wav(root / f"{name}.wav", bad, channels=channels, subtype=subtype)
        rows.append(json.dumps({**good, "id": name, "audio_path": f"{name}.wav"}))
    _float_wav(root / "clean.wav", {})  # a float file without them is fine
    rows.append(json.dumps({**good, "id": "clean", "audio_path": "clean.wav"}))
    (root / "data.jsonl").write_text("\n".join([*lines, *rows]) + "\n")
    ws = Workspace(tmp_path / "fresh")
    res = download(ws, from_dir=root, workers=1)
    assert res.items + res.quarantined == res.input_rows == len(lines) + len(rows)
    q = {r["item_id"]: (r["reason"], r["detail"]) for r in ws.read(QUARANTINE, DS, "download").to_pylist()}
    assert {i: q[i][0] for i in NONFINITE} == dict.fromkeys(NONFINITE, "audio_nonfinite")
    assert "clean" not in q and "inf or NaN" in q["nan"][1]


def test_a_nonfinite_clip_in_an_older_item_table_is_refused_where_it_is_read(env, tmp_path, monkeypatch):
    """An item table written before download checked samples (simulated by switching the check off for
    the download) still holds the clip: the one reader refuses it with the reason, so each model stage
    stops with it (never answers or trains on NaN), saying how to repair; download --force quarantines it."""
    import adqa_data.audio.clips as audio
    from adqa_data.inference.panel import Panel
    from adqa_data.inference.scripted import ScriptedBackend
    from adqa_data.stages.eval import EvalConfig, evaluate
    from adqa_data.stages.filter import FilterOptions, filter_dataset

    _, root = env
    items = [json.loads(x) for x in (root / "data.jsonl").read_text().splitlines()]
    poisoned = items[0]["audio_path"]
    _float_wav(root / poisoned, {1_000: np.nan, 2_000: np.inf})
    hit = {r["id"] for r in items if r["audio_path"] == poisoned}
    ws = Workspace(tmp_path / "old")
    with monkeypatch.context() as m:
        m.setattr(audio, "_check_finite", lambda *a, **k: None, raising=False)
        download(ws, from_dir=root, workers=1)
    row = next(r for r in ws.items(DS).to_pylist() if r["audio_path"] == poisoned)
    with pytest.raises(AudioError) as e:
        read_item_audio(root, poisoned, row["audio_sha256"], 16000)
    assert e.value.reason == "audio_nonfinite"
    sample(ws, n=len(items), split="all", name="every")
    panel = Panel(name="p", min_correct=1, members=[{"name": "m0", "model": "fake/m0"}])
    runs = {
        "eval": lambda: evaluate(ws, EvalConfig(backend="scripted"), name="e"),
        "filter": lambda: filter_dataset(
            ws,
            panel,
            options=FilterOptions(silence_seconds=1.0),
            backend_factory=lambda member, device=None: ScriptedBackend(),
        ),
        "rollout": lambda: rollout(ws, scripted(), prompts="every", name="r"),
    }
    for stage, run in runs.items():
        with pytest.raises(UserError, match="audio_nonfinite") as e:
            run()
        assert "download --force" in e.value.fix, stage
    download(ws, from_dir=root, workers=1, force=True)
    assert quarantine_reasons(ws, "download") == dict.fromkeys(hit, "audio_nonfinite")
    assert evaluate(ws, EvalConfig(backend="scripted"), name="e").items == len(items) - len(hit)


# --------------------------------------------------------------- 4. a reward plugin's module import
def test_train_reads_a_plugin_rewards_column_without_importing_the_plugin(env, tmp_path, monkeypatch):
    from adqa_data.stages.rollout.contract import load_rollout_groups
    from adqa_data.train.config import load_config as train_config

    ws, _ = env
    ran = tmp_path / "plugin-ran"
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "noisy_reward.py").write_text(
        f"from pathlib import Path\nPath({str(ran)!r}).touch()\n\n"
        "def shortness(completions, **columns):\n    return [1.0 / (1 + len(c)) for c in completions]\n"
    )
    monkeypatch.syspath_prepend(str(plugins))
    weights = {"correctness": 1.0, "noisy_reward:shortness": 1.0}
    rollout(ws, scripted(rewards=weights), name="r")
    assert ran.exists()  # rollout calls it: imported there
    ran.unlink()
    monkeypatch.delitem(sys.modules, "noisy_reward")
    for w in (weights, {"noisy_reward:shortness": 2.0}, {"correctness": 1.0, "noisy_reward:shortness": 0.0}):
        groups, _ = load_rollout_groups(ws, DS, ["r"], rewards=w)
        assert groups and not ran.exists(), w
    train_config(None, rewards=weights)  # validating the settings does not import it either
    code, _, err = run_cli("train", "-w", ws.root, "--reward", "noisy_reward:shortness=1", "--rollouts", "r")
    assert not ran.exists() and "noisy_reward" not in sys.modules, err
    assert code != 0  # the scripted rollouts name no model: refused, after reading the groups


# -------------------------------------------------------------------- 5. hostile settings files
BILLION_LAUGHS = "\n".join(
    ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
)
HOSTILE_YAML = {
    "billion_laughs": ("text", "steps: []\n" + BILLION_LAUGHS + "\n", "aliases"),
    "merge_laughs": (
        "text",
        "x0: &x0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}\n"
        + "\n".join(f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, 9))
        + "\nsteps: []\n",
        "aliases",
    ),
    "self_alias": ("text", "steps: &s [*s]\n", "aliases"),
    "deep_flow": ("text", "steps: " + "[" * 20_000 + "]" * 20_000 + "\n", "deep"),
    "deep_block": ("text", "".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + "steps: []\n", "deep"),
    "latin1": ("bytes", b"workspace: caf\xe9\nsteps: []\n", "not UTF-8"),
    "utf16": ("bytes", "steps: []\n".encode("utf-16"), "not UTF-8"),
    "huge": ("text", "# " + "x" * (2 << 20) + "\nsteps: []\n", "larger than"),
    "fifo": ("fifo", None, "FIFO"),
    "folder": ("folder", None, "folder"),
    "dev_zero": ("path", "/dev/zero", "device"),
    "dev_urandom": ("path", "/dev/urandom", "device"),
}


def _hostile(tmp_path: Path, kind: str) -> Path:
    how, content, _ = HOSTILE_YAML[kind]
    p = tmp_path / f"{kind}.yaml"
    if how == "text":
        p.write_text(content)
    elif how == "bytes":
        p.write_bytes(content)
    elif how == "fifo":
        os.mkfifo(p)
    elif how == "folder":
        p.mkdir()
    else:
        p = Path(content)
    return p


@pytest.mark.parametrize("kind", sorted(HOSTILE_YAML))
def test_a_hostile_pipeline_file_is_one_line_and_exit_2_at_once(tmp_path, kind):
    p = _hostile(tmp_path, kind)
    code, _, err = _run_with_timeout(lambda: run_cli("run", p))
    assert_clean_error(code, err, HOSTILE_YAML[kind][2])
    assert len([line for line in err.splitlines() if line.strip()]) <= 3


@pytest.mark.parametrize("kind", ["billion_laughs", "deep_flow", "latin1", "fifo", "dev_zero"])
def test_every_settings_file_is_read_with_the_same_bounds(env, tmp_path, kind):
    ws, _ = env
    p = _hostile(tmp_path, kind)
    for argv in (
        ["rollout", "-w", ws.root, "--backend", "scripted", "--config", p],
        ["train", "-w", ws.root, "--config", p],
        ["eval", "-w", ws.root, "--backend", "scripted", "--config", p],
        ["filter", "-w", ws.root, "--panel", p],
        ["rollout", "-w", ws.root, "--backend", "scripted", "--prompt-style", p],
    ):
        code, _, err = _run_with_timeout(lambda argv=argv: run_cli(*argv))
        style_name = "--prompt-style" in argv and kind == "dev_zero"  # not .yaml: read as a style name
        assert_clean_error(code, err, *([] if style_name else [HOSTILE_YAML[kind][2]]))


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "folder"])
def test_validate_submission_reads_only_a_regular_file(env, tmp_path, kind):
    ws, _ = env
    p = _hostile(tmp_path, kind)
    code, _, err = _run_with_timeout(lambda: run_cli("validate-submission", p, "-w", ws.root))
    assert_clean_error(code, err, HOSTILE_YAML[kind][2])


def test_a_normal_settings_file_with_an_anchor_still_reads(tmp_path):
    from adqa_data.core.config_files import read_yaml_mapping

    p = tmp_path / "ok.yaml"
    p.write_text("common: &c {n: 2, split: all}\nsteps:\n  - sample: *c\n  - sample: {<<: *c, seed: 1}\n")
    assert read_yaml_mapping(p, "pipeline file")["steps"][1]["sample"] == {"n": 2, "split": "all", "seed": 1}


# ------------------------------------------------------ 6. option values checked before any step
@pytest.mark.parametrize(
    "step, needle",
    [
        ("sample: {n: 2, split: sometimes}", "unknown split"),
        ("sample: {n: 0, split: all}", "--n"),
        ("sample: {n: 2, weights: 'sound=x'}", "not a number"),
        ("train: {loss_type: ppo}", "loss_type"),
        ("train: {method: rl}", "method"),
        ("train: {online: 2, rollout_backend: nope}", "backend"),
        ("train: {reward: ['accuracy=1']}", "unknown reward"),
        ("rollout: {k: 0}", "k"),
        ("rollout: {backend: magic}", "backend"),
        ("rollout: {reward: ['correctness=0']}", "every reward weight is 0"),
        ("eval: {backend: magic}", "backend"),
        ("filter: {mode: guess}", "unknown mode"),
        ("filter: {permutations: 50}", "--permutations"),
        ("download: {engine: spark}", "unknown engine"),
        ("encode: {engine: spark}", "unknown engine"),
    ],
)
def test_pipeline_option_values_are_checked_before_the_first_step_runs(tmp_path, step, needle):
    p = tmp_path / "p.yaml"
    p.write_text(
        f"workspace: {tmp_path / 'w'}\nsteps:\n  - demo-data: {{out: {tmp_path / 'demo'}}}\n  - {step}\n"
    )
    code, _, err = run_cli("run", p)
    assert_clean_error(code, err, "step 2", needle)
    assert not (tmp_path / "demo").exists() and not (tmp_path / "w").exists()  # nothing ran


def test_every_value_checked_command_stops_at_its_check_in_a_check_pass(tmp_path):
    """The check pass runs a command's body up to `options_checked()`: each listed command must get
    there with its defaults and write nothing (else a pipeline's check would run it)."""
    from adqa_data.cli.pipeline import VALUE_CHECKED, Pipeline, plan

    steps = [
        {c: {"dataset": "x"} if c not in ("download",) else {"from_dir": str(tmp_path)}}
        for c in VALUE_CHECKED
    ]
    argvs = plan(Pipeline(workspace=str(tmp_path / "w"), steps=steps))
    assert len(argvs) == len(VALUE_CHECKED) and not (tmp_path / "w").exists()


def test_eval_names_a_model_missing_from_the_offline_cache_as_rollout_does(env, monkeypatch, tmp_path):
    ws, _ = env
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for model in ("nobody/no-such-model", "owner/name"):
        _, _, rollout_err = run_cli("rollout", "-w", ws.root, "--model", model)
        code, _, err = run_cli("eval", "-w", ws.root, "--model", model)
        assert_clean_error(code, err, "not in the local Hugging Face hub cache", "HF_HUB_OFFLINE")
        assert err.splitlines()[0] == rollout_err.splitlines()[0]
    code, _, err = run_cli("eval", "-w", ws.root, "--model", "./no/such/folder")
    assert_clean_error(code, err, "does not exist")


# ==================================================================================== the trainer


def _metric_steps(run: Path) -> list[int]:
    return [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]


def _all_finite(tensors: dict) -> bool:
    import torch

    return all(torch.isfinite(v).all() for v in tensors.values())


@pytest.mark.slow
def test_a_resumed_run_logs_each_step_once(trained, tmp_path):
    """Killed after step 4 was logged but before its checkpoint: the resumed run starts at step 2's
    checkpoint, and steps 3 and 4 (and their completions tables) appear once, not twice."""
    from adqa_data.train.loop import train

    run = _copy_run(trained, tmp_path)
    assert _metric_steps(run) == [1, 2, 3, 4]
    shutil.rmtree(run / "checkpoints" / "step-000004")
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 5, "loss": 0.1')  # a line cut short by the kill
    trainer, groups = _trainer(trained["ws"], trained["model"], run)
    assert trainer.resume() and trainer.state.step == 2
    assert _metric_steps(run) == [1, 2]
    assert sorted(p.name for p in (run / "completions").iterdir()) == [
        "step-000001.parquet",
        "step-000002.parquet",
    ]
    train(trainer, groups)
    trainer.close()
    assert _metric_steps(run) == [1, 2, 3, 4]
    assert len(list((run / "completions").iterdir())) == 4
    # no checkpoint at all (killed before the first): the log starts over
    shutil.rmtree(run / "checkpoints")
    trainer, _ = _trainer(trained["ws"], trained["model"], run)
    assert not trainer.resume() and not (run / "metrics.jsonl").read_text()
    trainer.close()


class _Evil:
    def __init__(self, sentinel: Path):
        self.sentinel = sentinel

    def __reduce__(self):
        return (Path.touch, (self.sentinel,))


@pytest.mark.slow
@pytest.mark.parametrize("file", ["optimizer.pt", "rng-0.pt", "scheduler.pt", "batch_cache.pt"])
def test_a_crafted_pickle_in_a_checkpoint_is_refused_and_never_run(trained, tmp_path, file):
    import torch

    run = _copy_run(trained, tmp_path)
    sentinel = tmp_path / "code-ran"
    target = run / "checkpoints" / "step-000004" / file
    torch.save({"state": _Evil(sentinel), "param_groups": []}, target)
    trainer, _ = _trainer(trained["ws"], trained["model"], run)
    with pytest.raises(UserError, match="pickled objects other than tensors") as e:
        trainer.resume()
    trainer.close()
    assert not sentinel.exists()
    assert str(target) in e.value.what and "\n" not in e.value.what
    assert (run / "checkpoints" / "step-000004").is_dir()  # refused, not set aside or deleted


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _nan_weights(path: Path) -> None:
    from safetensors.torch import load_file, save_file

    w = load_file(str(path))
    first = sorted(w)[0]
    w[first] = w[first].clone().fill_(float("nan"))
    save_file(w, str(path))


BREAKS = {
    "trainable.safetensors": _truncate,
    "optimizer.pt": _truncate,
    "scheduler.pt": _truncate,
    "rng-0.pt": lambda p: p.write_bytes(b""),
    "state.json": lambda p: p.write_text('{"step": 4, "batch"'),
    "state.json ": lambda p: p.write_text('["not", "a", "state"]'),
    "trainable.safetensors ": _nan_weights,
    "optimizer.pt ": lambda p: p.unlink(),
}


@pytest.mark.slow
@pytest.mark.parametrize("broken", sorted(BREAKS))
def test_a_broken_latest_checkpoint_is_named_and_the_previous_one_resumed(trained, tmp_path, broken):
    from adqa_data.train.loop import train

    run = _copy_run(trained, tmp_path)
    file = broken.strip()
    BREAKS[broken](run / "checkpoints" / "step-000004" / file)
    # a half-written checkpoint (killed while saving) is never the latest
    shutil.copytree(run / "checkpoints" / "step-000004", run / "checkpoints" / "step-000006.tmp")
    trainer, groups = _trainer(trained["ws"], trained["model"], run)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert trainer.resume()
    messages = [str(w.message) for w in caught if "step-000004" in str(w.message)]
    assert len(messages) == 1 and file in messages[0], [str(w.message) for w in caught]
    assert trainer.state.step == 2 and _metric_steps(run) == [1, 2]
    assert [p.name for p in trainer.checkpoints()] == ["step-000002"]
    assert (run / "checkpoints" / "step-000004.broken").is_dir()  # kept for a look
    history = train(trainer, groups)
    trainer.close()
    assert len(history) == 2 and [p.name for p in trainer.checkpoints()] == ["step-000002", "step-000004"]
    assert history[-1]["loss"] == pytest.approx(trained["history"][-1]["loss"], abs=1e-6)


@pytest.mark.slow
def test_nonfinite_steps_are_skipped_counted_and_stop_the_run(trained, tmp_path):
    """NaN audio reaching the model (here an in-memory clip, past every file check) makes every step's
    loss non-finite: each is skipped without an update, counted in the metrics, and the run stops after
    max_nonfinite_steps of them in a row with one error, having written only finite weights."""
    import torch

    from adqa_data.train.loop import train

    trainer, groups = _trainer(
        trained["ws"], trained["model"], tmp_path / "run", max_nonfinite_steps=3, save_steps=1
    )
    before = {k: v.clone() for k, v in trainer.trainable_state().items()}
    for g in groups:
        g.audio = np.full(16000, np.nan, dtype=np.float32)
    with pytest.raises(UserError, match="3 steps in a row had a non-finite loss or gradient") as e:
        train(trainer, groups)
    assert "\n" not in e.value.what
    after = trainer.trainable_state()
    assert all(torch.equal(before[k], after[k]) for k in before)  # no update from a skipped step
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["nonfinite_steps"] for r in rows] == [1, 2, 3]
    assert trainer.state.nonfinite_steps == 3
    from safetensors.torch import load_file

    for ckpt in trainer.checkpoints():
        assert _all_finite(load_file(str(ckpt / "trainable.safetensors")))
    trainer.close()


@pytest.mark.slow
def test_one_nonfinite_step_is_skipped_and_the_run_goes_on(trained, tmp_path, monkeypatch):
    from adqa_data.train.loop import Trainer, train

    trainer, groups = _trainer(trained["ws"], trained["model"], tmp_path / "run")
    real = Trainer.loss
    calls = {"n": 0}

    def nan_on_second_step(self, b, logp, old, ref, step_tokens):
        loss, metrics = real(self, b, logp, old, ref, step_tokens)
        calls["n"] += 1
        return (loss * float("inf") if self.state.step == 1 else loss), metrics

    monkeypatch.setattr(Trainer, "loss", nan_on_second_step)
    history = train(trainer, groups)
    assert len(history) == 4 and trainer.state.nonfinite_steps == 1
    assert "nonfinite_steps" not in history[0] and history[1]["nonfinite_steps"] == 1
    assert _all_finite(trainer.trainable_state())
    trainer.close()


@pytest.mark.slow
def test_nonfinite_weights_are_never_written(trained, tmp_path):
    import torch

    trainer, _ = _trainer(trained["ws"], trained["model"], tmp_path / "run")
    name, param = next((n, p) for n, p in trainer.unwrapped.named_parameters() if p.requires_grad)
    with torch.no_grad():
        param.view(-1)[0] = float("nan")
    with pytest.raises(UserError, match="not finite") as e:
        trainer.save_checkpoint()
    assert name in e.value.what and not trainer.checkpoints()
    assert not list((tmp_path / "run" / "checkpoints").glob("*"))  # nor a half-written one
    with pytest.raises(UserError, match="not finite"):
        trainer.export_policy(tmp_path / "run" / "policy")
    assert not (tmp_path / "run" / "policy").exists()
    trainer.close()
