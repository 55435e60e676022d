"""Stage settings declared once (issue 18): encode, filter, eval and export take their options from their
settings models, existing flags and pipeline keys keep working, a bad value is one line naming its option,
and the model-backend block eval and rollout share is one declaration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from typer.main import get_command

from adqa_data.cli import app
from adqa_data.cli.options import build_settings
from adqa_data.cli.pipeline import Pipeline, plan
from adqa_data.core.errors import UserError
from adqa_data.core.results import result_from_summary
from adqa_data.export.config import ExportConfig
from adqa_data.inference.backend_settings import BackendSettings
from adqa_data.stages.encode import EncodeConfig
from adqa_data.stages.eval import EvalConfig
from adqa_data.stages.filter import FilterConfig
from adqa_data.stages.rollout.config import RolloutConfig

COMMON = ["--workspace", "-w", "--dataset", "-d", "--json"]
# every flag these commands took before their options were generated from the settings models
OLD_FLAGS = {
    "encode": COMMON
    + ["--codec", "--num-codebooks", "-n", "--cache", "--device", "--dtype", "--batch-seconds"]
    + ["--max-batch-size", "--decode-workers", "--threads", "--engine", "--force"],
    "filter": COMMON
    + ["--panel", "--condition", "--mode", "--permutations", "-k", "--min-correct", "--silence-seconds"]
    + ["--noise-color", "--noise-level", "--seed", "--chunk-items", "--max-new-tokens", "--device"]
    + ["--max-prompt-tokens", "--trust-remote-code", "--min-letter-mass", "--audit", "--engine", "--force"],
    "eval": COMMON
    + ["--model", "-m", "--backend", "--prompt-style", "--samples", "--temperature", "--top-p"]
    + ["--max-new-tokens", "--seed", "--silence", "--no-silence", "--silence-seconds", "--letter-scores"]
    + ["--parts", "--shard-size", "--family", "--device", "--dtype", "--config", "--name", "--engine"]
    + ["--workers", "--force"],
    "export": COMMON
    + ["--format", "-f", "--out", "--out-dir", "-o", "--push-to-hub", "--private", "--table", "--unit"]
    + ["--prompts", "--split", "--rollouts", "--split-name", "--prompt-style", "--audio", "--sample-rate"]
    + ["--cot-only", "--reward", "--title"],
}


@pytest.mark.parametrize("command", sorted(OLD_FLAGS))
def test_existing_flags_of_each_command_are_kept(command):
    params = get_command(app).commands[command].params
    flags = {o for p in params for o in [*p.opts, *getattr(p, "secondary_opts", [])]}
    assert set(OLD_FLAGS[command]) <= flags, sorted(set(OLD_FLAGS[command]) - flags)


def _plan(*steps: dict[str, Any]) -> list[list[str]]:
    return plan(Pipeline(workspace="w", steps=list(steps)))


def test_a_pipeline_key_may_name_the_option_as_its_flag_does():
    """`cache:` is encode's --cache (field cache_dir), `condition:` filter's --condition (field
    conditions), `out:` export's --out (field out_dir): the keys written before the fields were named."""
    encode, flt, export = _plan(
        {"encode": {"cache": "c", "num_codebooks": 2}},
        {"filter": {"condition": ["noise", "swap"], "noise_level": -20}},
        {"export": {"out": "o", "format": "verl", "reward": {"correctness": 1}}},
    )
    assert encode[encode.index("--cache") + 1] == "c" and encode[encode.index("--num-codebooks") + 1] == "2"
    assert [flt[i + 1] for i, a in enumerate(flt) if a == "--condition"] == ["noise", "swap"]
    assert export[export.index("--out") + 1] == "o"
    assert export[export.index("--reward") + 1] == "correctness=1"
    with pytest.raises(UserError, match="unknown option 'conditon'"):
        _plan({"filter": {"conditon": "noise"}})


@pytest.mark.parametrize(
    ("step", "needle"),
    [
        ({"filter": {"permutations": 0}}, "--permutations"),
        ({"filter": {"condition": "reverb"}}, "unknown condition"),
        ({"filter": {"min_letter_mass": 1.5}}, "--min-letter-mass"),
        ({"encode": {"device": "tpu"}}, "--device: unknown device 'tpu'"),
        ({"encode": {"max_batch_size": 0}}, "--max-batch-size"),
        ({"eval": {"samples": 0}}, "--samples"),
        ({"export": {"sample_rate": 0}}, "--sample-rate"),
    ],
)
def test_a_bad_value_is_refused_before_any_step_runs_naming_its_option(step, needle):
    with pytest.raises(UserError, match=needle):
        _plan(step)


def test_filter_conditions_are_audio_and_silence_then_the_extras_once_each():
    assert FilterConfig(conditions=["swap", "noise", "audio", "swap"]).conditions == (
        "audio",
        "silence",
        "noise",
        "swap",
    )
    assert FilterConfig(conditions="noise").conditions == ("audio", "silence", "noise")
    assert FilterConfig(noise_level=-12.0).condition_params("noise")["level_dbfs"] == -12.0


def test_encode_batch_seconds_default_follows_the_device():
    assert EncodeConfig().effective_batch_seconds() == 30.0
    assert EncodeConfig(device="cuda:1").effective_batch_seconds() == 600.0
    assert EncodeConfig(device="cuda", batch_seconds=5).effective_batch_seconds() == 5.0


def test_the_model_backend_block_is_one_declaration_that_eval_and_rollout_extend():
    block = set(BackendSettings.model_fields)
    assert block == {"backend", "model", "family", "device", "dtype", "backend_options"}
    for config in (EvalConfig, RolloutConfig):
        assert issubclass(config, BackendSettings)
        assert all(
            config.model_fields[n].description == BackendSettings.model_fields[n].description for n in block
        )
    ev = EvalConfig(backend="vllm", model="m", backend_options={"max_num_seqs": 8})
    assert ev.policy_spec() == {
        "backend": "vllm",
        "model": "m",
        "family": None,
        "device": "auto",
        "dtype": "auto",
        "options": {"max_num_seqs": 8},
    }
    sha = "a" * 40
    ro = RolloutConfig(
        backend="vllm", model="m", revision=sha, trust_remote_code=True, backend_options={"x": 1}
    )
    assert ro.policy_spec()["options"] == {"x": 1, "trust_remote_code": True, "revision": sha}
    assert RolloutConfig(backend="scripted").policy_spec()["options"] == {}
    from adqa_data.stages.rollout.policy import policy_spec

    assert policy_spec(ro) == ro.policy_spec()  # rollout's loader reads the same spec


def test_eval_run_key_leaves_out_the_unit_and_the_parts_file_path():
    """The dataset and the set name are the run's unit, and the parts count by the parts they name (in
    the items' fingerprint), so a run recorded before they were settings keeps its key."""
    plain = EvalConfig().run_config()
    assert EvalConfig(dataset="dev", name="n", parts="parts.csv").run_config() == plain
    assert EvalConfig(seed=1).run_config() != plain


def test_export_settings_convert_the_reward_weights_and_split_off_the_format_options():
    cfg = build_settings(
        ExportConfig, {"rewards": {"correctness": "1", "format": "0.5"}, "format": "verl"}, "export"
    )
    assert cfg.rewards == {"correctness": 1.0, "format": 0.5}
    opts = cfg.options()
    assert type(opts).__name__ == "ExportOptions" and opts.rewards == cfg.rewards
    assert not hasattr(opts, "format")
    with pytest.raises(UserError, match="--reward"):
        build_settings(ExportConfig, {"rewards": {"format": "lots"}}, "export")


def test_a_result_with_a_summary_field_is_rebuilt_from_its_summary():
    @dataclass
    class Result:
        name: str
        items: int = 0
        summary: dict[str, Any] = field(default_factory=dict)

    recorded = {"items": 3, "other": 1}
    res = result_from_summary(Result, recorded, name="n", summary=recorded)
    assert (res.name, res.items, res.summary) == ("n", 3, recorded)
