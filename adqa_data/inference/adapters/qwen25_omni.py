"""Qwen2.5-Omni, the thinker only (text out): Qwen/Qwen2.5-Omni-7B and fine-tunes such as the AudioMCQ
Weak-to-Strong / Mixed-to-Strong checkpoints.

Chat format (the Omni chat template; no newline after the audio block):
    <|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n
    <|audio_bos|><|AUDIO|><|audio_eos|>{text}<|im_end|>\n<|im_start|>assistant\n
`Qwen2_5OmniProcessor` needs torchvision, which cannot be installed next to a CPU torch
(docs/models.md#cpu-builds-of-torch), so the features come from `WhisperFeatureExtractor` (128 bins,
padded to 30 s) and `<|AUDIO|>` is expanded here: 25 tokens per second. With audio and text only, the
thinker's 3-D rotary positions are plain 0..L-1 (transformers `get_rope_index`), so the backend's plain
positions are exact.
"""

from __future__ import annotations

import numpy as np

from ...core.errors import require
from .base import (
    LoadedModel,
    ModelAdapter,
    PromptParts,
    whisper_features,
    whisper_token_count,
)

OMNI_SYSTEM = (
    "You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving "
    "auditory and visual inputs, as well as generating text and speech."
)


class Qwen25OmniAdapter(ModelAdapter):
    family = "qwen25_omni"
    audio_placeholder = "<|AUDIO|>"
    default_system = OMNI_SYSTEM
    hub_ids = ("Qwen/Qwen2.5-Omni-7B", "Qwen/Qwen2.5-Omni-3B")

    def _wrap(self, system: str | None, user_text: str, has_audio: bool) -> PromptParts:
        head = f"<|im_start|>system\n{system}<|im_end|>\n" if system else ""
        audio = f"<|audio_bos|>{self.audio_placeholder}<|audio_eos|>" if has_audio else ""
        return PromptParts(
            prefix=f"{head}<|im_start|>user\n{audio}",
            suffix=f"{user_text}<|im_end|>\n<|im_start|>assistant\n",
        )

    def load_transformers(self, path, device="cpu", dtype="float32", trust_remote_code=False) -> LoadedModel:
        transformers = require("transformers", "models", "the transformers backend")
        # a full Omni checkpoint (thinker + talker) loads its thinker weights under the "thinker." prefix
        model, tok = self._from_pretrained(
            "Qwen2_5OmniThinkerForConditionalGeneration",
            path,
            device,
            dtype,
            trust_remote_code,
            ignore_unexpected=("talker.", "token2wav."),
        )
        try:
            fe = transformers.WhisperFeatureExtractor.from_pretrained(str(path))
        except OSError:  # a checkpoint without preprocessor_config.json: Omni's front end is Whisper-128
            fe = transformers.WhisperFeatureExtractor(feature_size=128, sampling_rate=16000)
        return Qwen25OmniLoadedModel(
            self,
            model,
            tok,
            fe,
            decoder=model.model,
            lm_head=model.lm_head,
            audio_token_id=model.config.audio_token_id,
        )


class Qwen25OmniLoadedModel(LoadedModel):
    def audio_token_count(self, num_samples: int) -> int:
        return whisper_token_count(
            num_samples, self.feature_extractor.hop_length, self.feature_extractor.nb_max_frames
        )

    def encode_audio(self, clips: list[np.ndarray], grad: bool = False):
        import torch

        feats = whisper_features(self.feature_extractor, clips, self.adapter.sample_rate)
        frame_mask = feats.attention_mask.to(self.device)
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            emb = self.module.get_audio_features(
                feats.input_features.to(self.device, self.dtype), feature_attention_mask=frame_mask
            ).last_hidden_state
        counts = [self.audio_token_count(len(c)) for c in clips]
        if sum(counts) != emb.shape[0]:
            raise RuntimeError(f"audio encoder returned {emb.shape[0]} frames, expected {sum(counts)}")
        return list(torch.split(emb.to(self.dtype), counts))
