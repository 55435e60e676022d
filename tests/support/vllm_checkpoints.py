"""The check that a tiny checkpoint is in the layout vLLM loads, shared by the vLLM backend and rollout tests."""

from __future__ import annotations


def _vllm_loadable(path):
    """The tiny builder writes the real checkpoint layout (`tiny_models.hub_layout`); check it."""
    from safetensors import safe_open

    with safe_open(str(path / "model.safetensors"), "pt") as f:
        assert not any(k.startswith("language_model.model.model.") for k in f.keys()), "not in the hub layout"
    return path
