"""Qwen2-Audio (Qwen/Qwen2-Audio-7B-Instruct) and its fine-tunes, R1-AQA (mispeech/r1-aqa) among them.

Chat format (Qwen2-Audio-Instruct's template and vLLM's example):
    <|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n
    Audio 1: <|audio_bos|><|AUDIO|><|audio_eos|>\n{text}<|im_end|>\n<|im_start|>assistant\n
Audio front end: Whisper log-mel (128 bins, 16 kHz) padded to 30 s; `<|AUDIO|>` becomes 25 tokens per
second of audio (750 for 30 s). The prompt is split right after `<|audio_eos|>`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .base import (
    LoadedModel,
    ModelAdapter,
    PromptParts,
    whisper_features,
    whisper_token_count,
)


class Qwen2AudioAdapter(ModelAdapter):
    family = "qwen2_audio"
    audio_placeholder = "<|AUDIO|>"
    default_system = "You are a helpful assistant."
    hub_ids = ("Qwen/Qwen2-Audio-7B-Instruct", "mispeech/r1-aqa")
    # R1-AQA's GRPO format reward credits only a reply that is exactly `<answer>...</answer>`
    # (xiaomi-research/r1-aqa, src/utils/rewards.py), so its replies open with the answer tag
    checkpoint_openings: ClassVar[dict[str, str]] = {"mispeech/r1-aqa": "answer_tag"}

    transformers_class = "Qwen2AudioForConditionalGeneration"
    audio_token_attr = "audio_token_index"

    def _wrap(self, system: str | None, user_text: str, has_audio: bool) -> PromptParts:
        head = f"<|im_start|>system\n{system}<|im_end|>\n" if system else ""
        if has_audio:
            return PromptParts(
                prefix=f"{head}<|im_start|>user\nAudio 1: <|audio_bos|>{self.audio_placeholder}<|audio_eos|>",
                suffix=f"\n{user_text}<|im_end|>\n<|im_start|>assistant\n",
            )
        return PromptParts(
            prefix=f"{head}<|im_start|>user\n", suffix=f"{user_text}<|im_end|>\n<|im_start|>assistant\n"
        )

    def load_transformers(self, path, device="cpu", dtype="float32", trust_remote_code=False) -> LoadedModel:
        return self._load_audio_lm(Qwen2AudioLoadedModel, path, device, dtype, trust_remote_code)


class Qwen2AudioLoadedModel(LoadedModel):
    def audio_token_count(self, num_samples: int) -> int:
        return whisper_token_count(
            num_samples, self.feature_extractor.hop_length, self.feature_extractor.nb_max_frames
        )

    def encode_audio(self, clips: list[np.ndarray], grad: bool = False):
        """The audio path of `Qwen2AudioModel.forward`, on its own: encoder with the frame mask, projector,
        then each clip's valid frames."""
        import torch
        from transformers.masking_utils import create_bidirectional_mask

        feats = whisper_features(self.feature_extractor, clips, self.adapter.sample_rate)
        tower = self.module.model.audio_tower
        x = feats.input_features.to(self.device, self.dtype)
        frame_mask = feats.attention_mask.to(self.device)
        conv_lens, out_lens = tower._get_feat_extract_output_lengths(frame_mask.sum(-1))
        n_pos = (x.shape[-1] - 2) // 2 + 1
        mask_2d = (torch.arange(n_pos, device=self.device)[None, :] < conv_lens[:, None]).long()
        attn = create_bidirectional_mask(
            config=tower.config,
            inputs_embeds=torch.zeros(x.shape[0], n_pos, 1, dtype=self.dtype, device=self.device),
            attention_mask=mask_2d,
        )
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            hidden = tower(x, attention_mask=attn).last_hidden_state
            emb = self.module.model.multi_modal_projector(hidden)
        return [emb[i, : int(n)] for i, n in enumerate(out_lens.tolist())]
