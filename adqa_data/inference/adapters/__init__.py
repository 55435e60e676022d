"""Model adapters, one per LALM family, and how to find the right one for a checkpoint.

    adapter = get_adapter("qwen2_audio")             # by family name
    adapter = adapter_for_checkpoint("/models/r1-aqa")  # from config.json's model_type / architectures

Families: qwen2_audio (also R1-AQA), qwen25_omni (thinker), audio_flamingo3, kimi_audio (vLLM only),
generic (vLLM only, driven by the checkpoint's chat template), mimo_audio (reads cached RVQ codes, not
audio: `inference/mimo/`), qwen2_text (a text-only Qwen2 chat model: no audio). Importing this
package does not import torch or transformers; loading a model does.
"""

from __future__ import annotations

import json
from pathlib import Path

from ...core.errors import UserError
from .audio_flamingo3 import AudioFlamingo3Adapter
from .base import LoadedModel, ModelAdapter, PromptParts
from .generic import GenericAdapter
from .kimi_audio import KimiAudioAdapter
from .mimo_audio import MiMoAudioAdapter
from .qwen2_audio import Qwen2AudioAdapter
from .qwen2_text import Qwen2TextAdapter
from .qwen25_omni import Qwen25OmniAdapter

ADAPTERS: dict[str, type[ModelAdapter]] = {
    a.family: a
    for a in (
        Qwen2AudioAdapter,
        Qwen25OmniAdapter,
        AudioFlamingo3Adapter,
        KimiAudioAdapter,
        GenericAdapter,
        MiMoAudioAdapter,
        Qwen2TextAdapter,
    )
}

# config.json model_type -> family; architectures are the fallback for remote-code checkpoints
_MODEL_TYPES = {
    "qwen2_audio": "qwen2_audio",
    "qwen2_5_omni": "qwen25_omni",
    "qwen2_5_omni_thinker": "qwen25_omni",
    "audioflamingo3": "audio_flamingo3",
    "kimi_audio": "kimi_audio",
    "kimia": "kimi_audio",
}
_ARCHITECTURES = {
    "Qwen2AudioForConditionalGeneration": "qwen2_audio",
    "Qwen2_5OmniForConditionalGeneration": "qwen25_omni",
    "Qwen2_5OmniThinkerForConditionalGeneration": "qwen25_omni",
    "Qwen2_5OmniModel": "qwen25_omni",
    "AudioFlamingo3ForConditionalGeneration": "audio_flamingo3",
    "MoonshotKimiaForCausalLM": "kimi_audio",
    "MiMoAudioModel": "mimo_audio",  # model_type "qwen2": only the architecture tells it apart
    "MiMoAudioForCausalLM": "mimo_audio",
    "Qwen2ForCausalLM": "qwen2_text",  # text only (the trainer's comparison with TRL)
}


def get_adapter(family: str, path: str | Path | None = None, **kwargs) -> ModelAdapter:
    """The adapter of a family by name (see `ADAPTERS`); `path` is the checkpoint, needed by `generic`."""
    try:
        cls = ADAPTERS[family]
    except KeyError:
        raise UserError(f"unknown model family {family!r}", fix=f"use one of {sorted(ADAPTERS)}") from None
    return cls(path, **kwargs)


def detect_family(config: dict) -> str:
    """The family of a checkpoint from its config.json content; 'generic' when none matches."""
    mt = str(config.get("model_type", ""))
    if mt in _MODEL_TYPES:
        return _MODEL_TYPES[mt]
    for arch in config.get("architectures") or []:
        if arch in _ARCHITECTURES:
            return _ARCHITECTURES[arch]
    return "generic"


def adapter_for_checkpoint(path: str | Path, family: str | None = None, **kwargs) -> ModelAdapter:
    """The adapter for a local checkpoint directory: `family` if given, else detected from config.json."""
    p = Path(path)
    if family is None:
        cfg = p / "config.json"
        if not cfg.is_file():
            raise UserError(f"no config.json in {p}", fix="give the model family explicitly (family: ...)")
        family = detect_family(json.loads(cfg.read_text()))
    return get_adapter(family, p, **kwargs)


def adapter_for_model(model: str | Path, family: str | None = None) -> ModelAdapter:
    """The adapter for a model as a user names it: a local checkpoint directory (`adapter_for_checkpoint`),
    else a hub id, whose family must then be given (default: generic). Backends and the trainer resolve
    their `model` here."""
    p = Path(model)
    return adapter_for_checkpoint(p, family) if p.is_dir() else get_adapter(family or "generic", None)


__all__ = [
    "ADAPTERS",
    "ModelAdapter",
    "PromptParts",
    "LoadedModel",
    "adapter_for_checkpoint",
    "adapter_for_model",
    "detect_family",
    "get_adapter",
]
