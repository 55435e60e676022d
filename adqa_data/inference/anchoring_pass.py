"""The anchoring pass: prompt + completion through transformers, response→audio attention, one score each.

The attention-anchoring reward (CON / AR / ENT, as in the DCASE 2026 Task 5 MiMo-Audio report) needs
the policy's deep-layer attention from the completion tokens onto the audio tokens. Sampling may have
run on vLLM, which returns no attention, so this is a second, teacher-forced forward over
`prompt_token_ids + completion_token_ids` exactly as the sampler saw them (audio placeholders already
expanded). It is built on the model adapter's
`LoadedModel` view — token embeddings with the clip's audio embeddings written at the placeholder
positions, then the text decoder — so it serves every family with a transformers implementation, and on
`attention.capture_response_attention`, which hooks only the chosen deep layers and keeps one
`[response, keys]` map per sequence (never `output_attentions=True`).

The query rows are the completion's reasoning (`config.rows = "reasoning"`, the default: the content of
its `<think>` blocks, else the text before its answer block, else the whole text;
`rewards/reasoning_rows.py`), found by decoding the completion with the model's tokenizer; the attention
map is captured over every completion row and the score taken over the reasoning rows only. A completion
with no reasoning scores 0 without a forward pass (`rows` = 0 in its components). `config.rows = "all"`
scores every completion token, the answer tags and the end token included.

Cost control is the caller's: the reward is gated on correctness, so the rollout stage passes only the
correct completions of a group, and none at all when the anchoring weight is 0. The clip is encoded once
per group, and the completions of a group go through in batches of `batch_size`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..rewards.anchoring import AnchoringConfig, anchoring_score, attention_profile
from ..rewards.reasoning_rows import reasoning_rows
from .types import AnchoringScorer, Query

if TYPE_CHECKING:  # pragma: no cover
    from .adapters.base import LoadedModel

# a completion without reasoning: nothing to measure, and its answer tokens earn nothing in its place
NO_REASONING: dict[str, float] = {
    "con": 0.0,
    "ar": 0.0,
    "ent": 0.0,
    "entropy": 0.0,
    "score": 0.0,
    "rows": 0.0,
}


class AnchoringPass(AnchoringScorer):
    """Scores completions of one query by how much their reasoning attends to the audio.

    `model`: a `LoadedModel` (the transformers backend's own, or one loaded for this pass with
    `load`). `layers`: which decoder layers' attention is averaged (see `attention.resolve_layers`;
    "deep" = the last quarter). Implements `types.AnchoringScorer`.
    """

    def __init__(
        self,
        model: LoadedModel,
        layers: Any = "deep",
        config: AnchoringConfig | None = None,
        batch_size: int = 4,
        owns_model: bool = False,
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.model, self.layers, self.batch_size = model, layers, batch_size
        self.config = config or AnchoringConfig()
        self._owns = owns_model

    @classmethod
    def load(
        cls, model: str, family: str | None = None, device: str = "cpu", dtype: str = "float32", **kwargs: Any
    ) -> AnchoringPass:
        """Load the checkpoint's transformers view for this pass alone (e.g. next to a vLLM sampler)."""
        from .adapters import adapter_for_checkpoint, get_adapter

        adapter = get_adapter(family, model) if family else adapter_for_checkpoint(model)
        return cls(adapter.load_transformers(model, device=device, dtype=dtype), owns_model=True, **kwargs)

    def components(
        self, query: Query, prompt_token_ids: Sequence[int], completions: Sequence[Sequence[int]]
    ) -> list[dict[str, Any]]:
        """Per completion: con, ar, ent, entropy and score (see `rewards.anchoring.anchoring_score`),
        rows, how many query rows were scored (0: no reasoning, every term and the score 0), and profile,
        where along the clip those rows looked (`rewards.anchoring.attention_profile`; None at 0 rows)."""
        if not completions:
            return []
        if self.model.clip(query) is None:
            raise ValueError(f"query {query.key}: the anchoring reward needs audio")
        if any(len(c) == 0 for c in completions):
            raise ValueError(f"query {query.key}: an empty completion has no response rows to score")
        masks = [self.rows(c) for c in completions]
        scored = [i for i, m in enumerate(masks) if m.any()]
        got = self._scored(
            query, prompt_token_ids, [completions[i] for i in scored], [masks[i] for i in scored]
        )
        out: list[dict[str, Any]] = [{**NO_REASONING, "profile": None} for _ in completions]
        for i, d in zip(scored, got):
            out[i] = d
        return out

    def rows(self, completion: Sequence[int]) -> np.ndarray:
        """The completion's query rows as a bool mask over its tokens (`config.rows`)."""
        if self.config.rows == "all":
            return np.ones(len(completion), dtype=bool)
        return reasoning_rows(completion, self.model.tokenizer)

    def _scored(
        self,
        query: Query,
        prompt_token_ids: Sequence[int],
        completions: Sequence[Sequence[int]],
        masks: Sequence[np.ndarray],
    ) -> list[dict[str, Any]]:
        """The anchoring pass proper over completions that each have at least one query row."""
        if not completions:
            return []
        clip = self.model.clip(query)
        import torch

        from .attention import capture_response_attention, right_pad

        model = self.model
        prompt = list(prompt_token_ids)
        audio_pos = [i for i, t in enumerate(prompt) if t == model.audio_token_id]
        if not audio_pos:
            raise ValueError(
                f"query {query.key}: the prompt holds no audio token (id {model.audio_token_id})"
            )
        audio = model.encode_audio([clip])[0]
        if audio.shape[0] != len(audio_pos):
            raise ValueError(
                f"query {query.key}: the prompt has {len(audio_pos)} audio tokens but the clip encodes to "
                f"{audio.shape[0]}: prompt_token_ids were not made from this clip by this model's processor"
            )
        positions = torch.tensor(audio_pos, device=model.device)
        pad = model.tokenizer.pad_token_id
        pad = int(pad if pad is not None else (model.eos_token_ids or [0])[0])
        out: list[dict[str, Any]] = []
        for start in range(0, len(completions), self.batch_size):
            chunk = [list(c) for c in completions[start : start + self.batch_size]]
            rows = masks[start : start + self.batch_size]
            layout = right_pad([prompt] * len(chunk), chunk, pad)
            ids, mask = layout.input_ids.to(model.device), layout.attention_mask.to(model.device)
            with torch.inference_mode():
                embeds = model.embed(ids).clone()
                embeds[:, positions] = audio.to(embeds.dtype)
            maps = capture_response_attention(
                model.decoder, None, mask, layout.response_start, layers=self.layers, inputs_embeds=embeds
            )
            for attn, completion, scored in zip(maps, chunk, rows):
                # audio keys: the prompt's placeholder positions only (a generated <|AUDIO|> id is no audio)
                is_audio = np.zeros(len(prompt) + len(completion), dtype=bool)
                is_audio[audio_pos] = True
                score = anchoring_score(attn[scored], is_audio, self.config)
                profile = attention_profile(attn[scored], is_audio)
                out.append({**score, "rows": float(scored.sum()), "profile": profile})
        return out

    def close(self) -> None:
        if self._owns:
            self.model.close()
