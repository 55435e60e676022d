"""How a model as the user names it becomes an adapter (`adapters.adapter_for_model`, which both backends
and the trainer use), and which `VLLMConfig` settings reach `vllm.LLM` (checked with a stand-in `vllm`
module, so it runs where vLLM is not installed)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from adqa_data.inference import vllm_backend
from adqa_data.inference.adapters import adapter_for_model
from adqa_data.inference.vllm_backend import VLLMBackend, VLLMConfig


def test_a_checkpoint_folder_names_its_family_and_a_hub_id_takes_the_given_one(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2_audio"}))
    assert adapter_for_model(tmp_path).family == "qwen2_audio"
    assert adapter_for_model(str(tmp_path), "audio_flamingo3").family == "audio_flamingo3"
    assert adapter_for_model("Qwen/Qwen2-Audio-7B-Instruct", "qwen2_audio").family == "qwen2_audio"
    assert adapter_for_model("someone/some-model").family == "generic"


class _EngineBuilt(Exception):
    def __init__(self, kwargs: dict):
        super().__init__("engine built")
        self.kwargs = kwargs


def _engine_kwargs(monkeypatch, cfg: VLLMConfig) -> dict:
    def llm(**kwargs):
        raise _EngineBuilt(kwargs)

    monkeypatch.setattr(vllm_backend, "require", lambda *a, **k: SimpleNamespace(LLM=llm))
    with pytest.raises(_EngineBuilt) as built:
        VLLMBackend(cfg)
    return built.value.kwargs


def test_vllm_engine_gets_the_configs_settings_and_none_leaves_vllms_default(monkeypatch):
    cfg = VLLMConfig(
        model="/nowhere/r1-aqa",
        family="qwen2_audio",
        dtype="bfloat16",
        seed=7,
        revision="abc123",
        max_model_len=None,
        enable_prefix_caching=False,
        engine_kwargs={"enforce_eager": True},
    )
    kw = _engine_kwargs(monkeypatch, cfg)
    assert kw == {
        "limit_mm_per_prompt": {"audio": 1},  # the adapter's own
        "model": "/nowhere/r1-aqa",
        "dtype": "bfloat16",
        "seed": 7,
        "trust_remote_code": False,
        "enable_prefix_caching": False,
        "logprobs_mode": "processed_logprobs",
        "revision": "abc123",
        "enforce_eager": True,
    }
    assert (
        _engine_kwargs(monkeypatch, VLLMConfig(model="/nowhere/m", family="qwen2_audio"))["max_model_len"]
        == 4096
    )
