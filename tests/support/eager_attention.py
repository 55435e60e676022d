"""The oracle the anchoring tests compare against: a Qwen2-Audio checkpoint's own eager forward (its own
audio merge, `output_attentions=True`), not the anchoring pass's hooks."""

from __future__ import annotations

import numpy as np


def last_layer_rows(
    model, feats, prompt_ids: list[int], completion_ids: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(the last layer's head-averaged attention of every completion row, the audio key mask) of
    `prompt_ids + completion_ids` with the processor's audio features `feats`."""
    import torch

    ids = list(prompt_ids) + list(completion_ids)
    with torch.no_grad():
        out = model(
            input_ids=torch.tensor([ids]),
            input_features=feats.input_features,
            feature_attention_mask=feats.attention_mask,
            output_attentions=True,
        )
    attn = out.attentions[-1][0].mean(0)[len(prompt_ids) :].numpy()
    return attn, np.array(ids) == model.config.audio_token_index
