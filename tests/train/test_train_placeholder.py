"""A sampled completion may contain the audio placeholder token (a random or weak policy at temperature 1
does emit it); the sampler embedded it as a plain token, so the trainer must too: only the prompt's
placeholders take the clip's audio embeddings. Checked on a tiny random Qwen2-Audio against a separate
forward of [prompt with audio + completion as plain tokens].
"""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.slow
def test_a_placeholder_token_in_a_completion_is_a_plain_token(tmp_path):
    pytest.importorskip("transformers")
    import torch

    from adqa_data.testing.models import build_tiny_qwen2_audio
    from adqa_data.train.collate import Collator
    from adqa_data.train.groups import Completion, Group
    from adqa_data.train.policy import batch_inputs, load_policy

    policy = load_policy(build_tiny_qwen2_audio(tmp_path / "m"))
    m = policy.model
    clip = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)
    audio_id, eos = m.audio_token_id, m.eos_token_ids[0]
    comps = [[11, audio_id, 12, eos], [audio_id, audio_id, 7]]
    group = Group(
        group_id="g",
        item_id="i",
        question="Which tone is played?",
        choices=["low", "high"],
        prompt_style="think",
        completions=[Completion(text="", token_ids=ids) for ids in comps],
        audio=clip,
    )
    collate = Collator(m, check_prompts=False)
    batch = collate([group])
    with torch.no_grad():
        logp, _ = policy.module(batch_inputs(batch))
    prompt, audio = collate.prompt(group)
    for n, ids in enumerate(comps):
        full = torch.tensor([prompt + ids])
        where = torch.zeros_like(full, dtype=torch.bool)
        where[0, : len(prompt)] = full[0, : len(prompt)] == audio_id
        with torch.no_grad():
            emb = m.embed_with_audio(full, [audio], where=where)
            h = m.decoder(inputs_embeds=emb, use_cache=False).last_hidden_state[0]
            lp = m.lm_head(h[len(prompt) - 1 : -1]).float().log_softmax(-1)
        alone = lp.gather(1, torch.tensor(ids)[:, None]).squeeze(1)
        torch.testing.assert_close(logp[n, : len(ids)], alone, atol=2e-5, rtol=0)
    assert int(batch.audio_positions.sum()) == prompt.count(audio_id)  # the prompt's placeholders only
