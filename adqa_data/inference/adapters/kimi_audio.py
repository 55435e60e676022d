"""Kimi-Audio (moonshotai/Kimi-Audio-7B-Instruct): vLLM only.

transformers has no Kimi-Audio model (the checkpoint ships remote code built on a GLM-4 speech tokenizer
plus a Whisper encoder, with discrete and continuous audio streams), so this adapter provides only what
the vLLM backend needs. The prompt follows vLLM's `examples/offline_inference/audio_language.py`
(`run_kimi_audio`): one `<|im_kimia_text_blank|>` per clip, then the text, no chat wrapper and no system
turn; vLLM's processor expands the placeholder into the clip's audio tokens. Stop token 151644 as in that
example. Not verified here against real weights (none offline); check the first outputs of a real run.
"""

from __future__ import annotations

from typing import Any

from .base import ModelAdapter, PromptParts


class KimiAudioAdapter(ModelAdapter):
    family = "kimi_audio"
    audio_placeholder = "<|im_kimia_text_blank|>"
    default_system = None  # Kimi-Audio's prompt format has no system turn
    transformers_support = False
    vllm_trust_remote_code = True
    hub_ids = ("moonshotai/Kimi-Audio-7B-Instruct",)

    def _wrap(self, system: str | None, user_text: str, has_audio: bool) -> PromptParts:
        # a style's system prompt has no slot in this format; it is prepended to the text instead
        text = f"{system}\n{user_text}" if system else user_text
        return PromptParts(prefix=self.audio_placeholder if has_audio else "", suffix=text)

    def vllm_sampling_kwargs(self) -> dict[str, Any]:
        return {"stop_token_ids": [151644]}
