"""The text-only path (family qwen2_text, what the comparison with TRL trains): a `Qwen2ForCausalLM`
checkpoint is detected, its prompts have no audio block, a query with audio is refused, and the
trainer's group layout gives the log-probs of the checkpoint's own forward."""

from __future__ import annotations

import numpy as np
import pytest

from adqa_data.core.errors import UserError


@pytest.mark.slow
def test_text_only_policy_scores_as_its_own_forward(tmp_path):
    pytest.importorskip("transformers")
    import torch

    from adqa_data.inference.adapters import adapter_for_checkpoint
    from adqa_data.inference.types import Query
    from adqa_data.testing.models import build_tiny_qwen2_text
    from adqa_data.train.collate import Collator
    from adqa_data.train.groups import Completion, Group
    from adqa_data.train.policy import batch_inputs, load_policy

    path = build_tiny_qwen2_text(tmp_path / "text")
    assert adapter_for_checkpoint(path).family == "qwen2_text"
    policy = load_policy(path)
    m = policy.model
    comps = [[5, 6, 7, m.eos_token_ids[0]], [8, 9]]
    group = Group(
        group_id="g",
        item_id="i",
        question="Which is larger?",
        choices=["two", "three"],
        prompt_style="think",
        completions=[Completion(text="", token_ids=c) for c in comps],
    )
    collate = Collator(m)
    batch = collate([group])
    with torch.no_grad():
        logp, audio = policy.module(batch_inputs(batch))
    assert audio is None and not batch.clips
    prompt, _ = collate.prompt(group)
    assert "<|AUDIO|>" not in m.tokenizer.decode(prompt) and m.tokenizer.decode(prompt).endswith(
        "assistant\n"
    )
    for n, ids in enumerate(comps):
        with torch.no_grad():
            lp = m.module(input_ids=torch.tensor([prompt + ids])).logits[0].log_softmax(-1)
        alone = lp[len(prompt) - 1 : -1].gather(1, torch.tensor(ids)[:, None]).squeeze(1)
        torch.testing.assert_close(logp[n, : len(ids)], alone, atol=2e-5, rtol=0)
    with pytest.raises(UserError, match="text-only"):
        m.prompt_token_ids(Query("q", "Which?", ["a", "b"], np.zeros(16000, np.float32), "x", "think"))
