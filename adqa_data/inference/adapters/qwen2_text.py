"""A text-only Qwen2 chat model (`Qwen2ForCausalLM`): the same chat format as Qwen2-Audio without the audio.

Why an audio toolkit has it: the trainer's comparison with TRL (`benchmarks/train_vs_trl.py`) needs a
model both can train, and TRL has no audio path; a text-only family lets the trainer and the
transformers backend run such a checkpoint through the same code as an audio one (a query with audio is
refused). Detected from config.json's architecture `Qwen2ForCausalLM` (model_type "qwen2" alone would
also match MiMo-Audio's checkpoints).

Chat format: <|im_start|>system\\n{system}<|im_end|>\\n<|im_start|>user\\n{text}<|im_end|>\\n
<|im_start|>assistant\\n
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core.errors import UserError
from .base import LoadedModel, ModelAdapter, PromptParts


def no_audio() -> UserError:
    return UserError(
        "this is a text-only model: it cannot take audio",
        fix="give it text-only queries, or use an audio model family",
    )


class Qwen2TextAdapter(ModelAdapter):
    family = "qwen2_text"
    audio_placeholder = "<|AUDIO|>"  # never written: prompts have no audio block
    default_system = "You are a helpful assistant."

    def _wrap(self, system: str | None, user_text: str, has_audio: bool) -> PromptParts:
        if has_audio:
            raise no_audio()
        head = f"<|im_start|>system\n{system}<|im_end|>\n" if system else ""
        return PromptParts(
            prefix=f"{head}<|im_start|>user\n", suffix=f"{user_text}<|im_end|>\n<|im_start|>assistant\n"
        )

    def vllm_engine_kwargs(self) -> dict[str, Any]:
        return {"trust_remote_code": False}

    def load_transformers(self, path, device="cpu", dtype="float32", trust_remote_code=False) -> LoadedModel:
        model, tok = self._from_pretrained("Qwen2ForCausalLM", path, device, dtype, trust_remote_code)
        return TextLoadedModel(
            self, model, tok, None, decoder=model.model, lm_head=model.lm_head, audio_token_id=-1
        )


class TextLoadedModel(LoadedModel):
    """A loaded text-only model: no placeholder token (id -1 matches none), no audio encoder."""

    def audio_token_count(self, num_samples: int) -> int:
        raise no_audio()

    def encode_audio(self, clips: list[np.ndarray], grad: bool = False):
        raise no_audio()
