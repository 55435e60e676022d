"""The one backend factory: transformers, vLLM, or the model-free scripted backend (result types in `types.py`).
one. `load_backend` is the one place a stage turns "which backend, which model" into a loaded backend."""

from __future__ import annotations

from typing import Any

from ..core.errors import UserError
from .types import Backend

KINDS = ("transformers", "vllm", "scripted")
# the libraries whose versions decide what a backend generates: a stage that generates records them
GENERATION_LIBRARIES = ("torch", "transformers", "vllm")


def default_device(device: str | None = None) -> str:
    """'auto' / None -> cuda when torch sees a GPU, else cpu; anything else is kept."""
    if device not in (None, "auto"):
        return device  # type: ignore[return-value]
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover - a vLLM-only install picks its own device
        return "cpu"


def default_dtype(dtype: str, device: str) -> str:
    """'auto' -> float32 on the CPU (bf16 matmuls are slow there), the checkpoint's dtype elsewhere."""
    return "float32" if dtype == "auto" and device == "cpu" else dtype


def load_backend(
    kind: str,
    model: str | None,
    *,
    family: str | None = None,
    device: str | None = None,
    dtype: str = "auto",
    **options: Any,
) -> Backend:
    """Load `model` on the named backend; `options` go to the backend's constructor unchanged
    (e.g. revision, trust_remote_code, max_model_len)."""
    if kind == "scripted":
        from .scripted import ScriptedBackend

        return ScriptedBackend(**options)
    if kind not in KINDS:
        raise UserError(f"unknown backend {kind!r}", fix=f"use one of: {', '.join(KINDS)}")
    device = default_device(device)
    dtype = default_dtype(dtype, device)
    from .mimo.backend import is_mimo_checkpoint

    if is_mimo_checkpoint(model, family):  # reads cached codes, not audio (inference/mimo/backend.py)
        from .mimo.backend import load_mimo_backend

        return load_mimo_backend(kind, model, device=device, dtype=dtype, **options)
    if kind == "vllm":
        try:
            from .vllm_backend import VLLMBackend
        except ImportError as e:
            raise UserError(
                f"the vllm backend cannot be loaded: {e}",
                fix="install 'adqa-data[vllm]', or use the transformers backend",
            ) from None
        return VLLMBackend(model, family=family, dtype=dtype, **options)
    from .transformers_backend import TransformersBackend

    return TransformersBackend(model, family=family, device=device, dtype=dtype, **options)


def backend_input(kind: str, model: str | None, family: str | None = None) -> tuple[str, str | None]:
    """What the backend `load_backend(kind, model, family=family)` would load reads, without loading it:
    ("audio", None), or ("codes", codec name) for a family that reads RVQ codes (MiMo-Audio). Stages use
    this to read codes from the code cache (and never open audio) before any model is loaded."""
    if kind == "scripted":
        return "audio", None
    from .mimo.backend import is_mimo_checkpoint

    if is_mimo_checkpoint(model, family):
        from .adapters.mimo_audio import MiMoAudioAdapter

        return MiMoAudioAdapter.consumes, MiMoAudioAdapter.codec
    return "audio", None
