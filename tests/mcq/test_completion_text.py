"""A completion's text keeps its think/answer tags when the tokenizer registers them as special tokens,
and drops only control tokens (end of turn, padding, MiMo-Audio's `<|empty|>`): the rule itself, the
parser and the format reward reading its text, the reasoning rows agreeing with it, and the
transformers backend's `generate` returning it."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from adqa_data.mcq.answers import parse_answer
from adqa_data.mcq.completion_text import completion_text, control_ids
from adqa_data.rewards.format import structure
from adqa_data.rewards.reasoning_rows import reasoning_rows

TAGS = ["<think>", "</think>", "<answer>", "</answer>"]
CHOICES = ["Footsteps", "Siren", "Thunder", "Applause"]
REPLY = "<think>A siren rises and falls.</think><answer>B</answer>"


@pytest.fixture(scope="module")
def tok():
    """The demo BPE with the four tags registered as special tokens, and `<|empty|>` added the way
    MiMo-Audio upstream adds its markers (`add_tokens(..., special_tokens=True)`: flagged special,
    not among the registered special tokens)."""
    from adqa_data.testing.models import train_bpe_tokenizer

    t = copy.deepcopy(train_bpe_tokenizer())
    t.add_special_tokens({"additional_special_tokens": TAGS}, replace_extra_special_tokens=False)
    t.add_tokens(["<|empty|>"], special_tokens=True)
    return t


def _ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False).input_ids


def test_the_tokenizer_really_drops_the_tags_when_skipping_special_tokens(tok):
    """The premise: each tag is one special token, and the old decoding loses all four."""
    ids = _ids(tok, REPLY + "<|im_end|>")
    assert all(t in tok.all_special_ids for t in tok.convert_tokens_to_ids(TAGS))
    assert tok.convert_tokens_to_ids("<|empty|>") not in tok.all_special_ids
    old = tok.decode(ids, skip_special_tokens=True)
    assert not any(tag in old for tag in TAGS)
    assert structure(old, CHOICES) < 1.0


def test_tags_survive_and_only_control_tokens_go(tok):
    empty, eot, pad = tok.convert_tokens_to_ids(["<|empty|>", "<|im_end|>", "<|endoftext|>"])
    control = control_ids(tok, [eot])
    assert {empty, eot, pad} <= control
    assert not control & set(tok.convert_tokens_to_ids(TAGS))
    ids = [empty, *_ids(tok, REPLY), empty, eot, pad]
    text = completion_text(tok, ids, control)
    assert text == REPLY
    assert parse_answer(text, CHOICES).index == 1
    assert structure(text, CHOICES) == 1.0


def test_model_end_of_turn_ids_outside_the_tokenizer_specials_are_dropped(tok):
    """A model may end turns on a token its tokenizer does not flag special (a generation config's eos)."""
    plain = _ids(tok, "zz")[-1]
    assert plain not in control_ids(tok)
    ids = [*_ids(tok, REPLY), plain]
    assert completion_text(tok, ids, control_ids(tok, [plain])) == REPLY


def test_reasoning_rows_agree_with_the_text(tok):
    """The rows are the reasoning's tokens whatever the tags are made of; the text they are read in is
    the completion's text with control tokens blanked."""
    ids = [*_ids(tok, REPLY), tok.convert_tokens_to_ids("<|im_end|>")]
    rows = reasoning_rows(ids, tok)
    picked = "".join(tok.decode([t]) for t, r in zip(ids, rows) if r)
    assert picked == "A siren rises and falls."
    empty = tok.convert_tokens_to_ids("<|empty|>")
    assert not reasoning_rows([empty, *ids], tok)[0]  # a control token is never a row


# ----------------------------------------------------------------------------- the backend's generate
@pytest.fixture(scope="module")
def backend(tmp_path_factory, tok):
    pytest.importorskip("torch")
    from adqa_data.inference.transformers_backend import TransformersBackend
    from adqa_data.testing.models import build_tiny_qwen2_audio

    path = build_tiny_qwen2_audio(tmp_path_factory.mktemp("tags") / "q2a", tokenizer=tok)
    b = TransformersBackend(path)
    yield b
    b.close()


def test_generate_keeps_tags_a_model_samples_as_special_tokens(backend, tok, monkeypatch):
    """The backend's own sampling loop, with its sampler scripted to emit the reply's tokens (a random
    tiny model would not write tags): token ids as sampled, text with the tags and without `<|im_end|>`."""
    import torch

    from adqa_data.inference.transformers_backend import TransformersBackend
    from adqa_data.inference.types import Query, Sampling

    script = [*_ids(tok, REPLY), tok.convert_tokens_to_ids("<|im_end|>")]
    step = iter(range(len(script)))

    def scripted(logits, sampling, gens):
        nxt = torch.full((logits.shape[0],), script[next(step)], dtype=torch.long)
        return nxt, torch.zeros(logits.shape[0])

    monkeypatch.setattr(TransformersBackend, "_sample", staticmethod(scripted))
    q = Query("q0", "What is heard?", CHOICES, np.zeros(16000, np.float32), "clip0", "think")
    c = backend.generate([q], Sampling(n=1, temperature=0.0, max_new_tokens=40))[0].completions[0]
    assert c.token_ids == script and c.finish_reason == "stop"
    assert c.text == REPLY


def test_vllm_completions_are_decoded_by_the_same_rule(tok, tmp_path):
    """The vLLM backends decode the token ids themselves: vLLM's own `text` drops every special token
    (shown here as the text vLLM would return). Needs no vLLM: a `CompletionOutput` is plain data."""
    from types import SimpleNamespace

    from adqa_data.inference.vllm_backend import _completion, eos_ids

    eot = tok.convert_tokens_to_ids("<|im_end|>")
    (tmp_path / "generation_config.json").write_text(json.dumps({"eos_token_id": [eot, 7]}))
    assert sorted(set(eos_ids(tmp_path, tok))) == sorted({eot, 7, tok.eos_token_id})
    ids = [*_ids(tok, REPLY), eot]
    out = SimpleNamespace(
        token_ids=ids,
        text=tok.decode(ids, skip_special_tokens=True),
        logprobs=[{t: SimpleNamespace(logprob=-0.5)} for t in ids],
        finish_reason="stop",
    )
    c = _completion(out, True, tok, control_ids(tok, eos_ids(tmp_path, tok)))
    assert c.text == REPLY and c.token_ids == ids and c.logprobs == [-0.5] * len(ids)
