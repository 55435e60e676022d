"""Audio Flamingo 3 (nvidia/audio-flamingo-3-hf, the transformers port): transformers and vLLM.

Chat format (Qwen2.5 template with AF3's `<sound>` placeholder; vLLM's example `run_audioflamingo3`):
    <|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n<sound>{text}<|im_end|>\n<|im_start|>assistant\n
Audio front end (`AudioFlamingo3Processor`): the clip (at most 600 s) is cut into 30 s windows, each a
Whisper log-mel (128 bins) padded to 30 s; each window gives up to 750 tokens (25 per second), all
concatenated at the one `<sound>` placeholder.

The AudioMCQ paper's panel used Audio Flamingo 2, which has neither a transformers nor a vLLM
implementation; AF3 is the runnable member of that family.
"""

from __future__ import annotations

import numpy as np

from .base import LoadedModel, ModelAdapter, PromptParts


class AudioFlamingo3Adapter(ModelAdapter):
    family = "audio_flamingo3"
    audio_placeholder = "<sound>"
    default_system = "You are a helpful assistant."
    hub_ids = ("nvidia/audio-flamingo-3-hf",)

    transformers_class = "AudioFlamingo3ForConditionalGeneration"
    audio_token_attr = "audio_token_id"

    def _wrap(self, system: str | None, user_text: str, has_audio: bool) -> PromptParts:
        head = f"<|im_start|>system\n{system}<|im_end|>\n" if system else ""
        audio = self.audio_placeholder if has_audio else ""
        return PromptParts(
            prefix=f"{head}<|im_start|>user\n{audio}",
            suffix=f"{user_text}<|im_end|>\n<|im_start|>assistant\n",
        )

    def load_transformers(self, path, device="cpu", dtype="float32", trust_remote_code=False) -> LoadedModel:
        return self._load_audio_lm(AudioFlamingo3LoadedModel, path, device, dtype, trust_remote_code)


MAX_AUDIO_SECONDS = 600  # AudioFlamingo3Processor's max_audio_len: longer clips are cut


class AudioFlamingo3LoadedModel(LoadedModel):
    def _window(self) -> int:
        return int(self.adapter.sample_rate * self.feature_extractor.chunk_length)

    def _windows(self, clip: np.ndarray) -> list[np.ndarray]:
        w = self._window()
        clip = clip[: self.adapter.sample_rate * MAX_AUDIO_SECONDS]
        return [clip[i : i + w] for i in range(0, max(len(clip), 1), w)]

    def audio_token_count(self, num_samples: int) -> int:
        w, hop = self._window(), self.feature_extractor.hop_length
        num_samples = min(int(num_samples), self.adapter.sample_rate * MAX_AUDIO_SECONDS)
        total = 0
        for start in range(0, max(num_samples, 1), w):
            frames = -(-min(w, num_samples - start) // hop)
            total += ((frames - 1) // 2 + 1 - 2) // 2 + 1
        return total

    def encode_audio(self, clips: list[np.ndarray], grad: bool = False):
        import torch

        windows, per_clip = [], []
        for c in clips:
            ws = self._windows(np.asarray(c, dtype=np.float32))
            windows += ws
            per_clip.append(len(ws))
        feats = self.feature_extractor(
            windows,
            sampling_rate=self.adapter.sample_rate,
            return_attention_mask=True,
            padding="max_length",
            return_tensors="pt",
        )
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            out = self.module.model.get_audio_features(
                feats.input_features.to(self.device, self.dtype), feats.attention_mask.to(self.device)
            ).pooler_output
        counts = [self.audio_token_count(len(c)) for c in clips]
        if sum(counts) != out.shape[0]:
            raise RuntimeError(f"audio encoder returned {out.shape[0]} frames, expected {sum(counts)}")
        return list(torch.split(out, counts))
