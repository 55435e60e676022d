"""The offline builders: a trained BPE tokenizer with Qwen's special tokens, and random Qwen2-Audio /
Qwen2.5-Omni thinker checkpoints that reload with `from_pretrained` and run a forward."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from adqa_data.testing import models as tm  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return tm.train_bpe_tokenizer(tmp_path_factory.mktemp("tok"), vocab_size=4096)


def test_tokenizer_is_bpe_with_qwen_specials(tok, tmp_path):
    from transformers import AutoTokenizer

    assert len(tok) == 4096 + len(tm.SPECIAL_TOKENS)
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    for t in tm.SPECIAL_TOKENS:  # each special is one token, ids in Qwen's order after the learned vocab
        assert again.convert_tokens_to_ids(t) == 4096 + tm.SPECIAL_TOKENS.index(t)
        assert again(t).input_ids == [again.convert_tokens_to_ids(t)]
    assert again.eos_token == "<|im_end|>" and again.pad_token == "<|endoftext|>"
    q, _choices, _ = tm.synthetic_items(1, seed=3)[0]
    ids = again(q).input_ids
    assert again.decode(ids) == q
    # a real BPE: far fewer tokens than bytes, about a Qwen tokenizer's rate on English (~1.3 / word)
    assert len(ids) < 2 * len(q.split()) and len(ids) < len(q.encode()) / 3
    text = again.apply_chat_template(
        [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": "Q?"}]}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert text.endswith("<|im_start|>assistant\n")
    assert "Audio 1: <|audio_bos|><|AUDIO|><|audio_eos|>\nQ?<|im_end|>" in text


def test_tag_tokens_make_each_reply_tag_one_token_that_decoding_keeps(tmp_path):
    """The story demo's tokenizer: each think/answer tag one added token after the specials (a tiny
    policy then writes the template in 5 tokens plus the letter, not ~12 with split tags), kept in the
    decoded text and in the completion text the parser reads; a model built with it has a row per tag."""
    from transformers import AutoTokenizer

    from adqa_data.mcq.completion_text import completion_text, control_ids

    plain = tm.train_bpe_tokenizer()
    tagged = tm.train_bpe_tokenizer(tag_tokens=True)
    reply = "<think></think><answer>B</answer>"
    assert len(plain(reply).input_ids) >= 10  # split into "<", "think", ">" ... without them
    ids = tagged(reply + "<|im_end|>").input_ids
    tags = tagged.convert_tokens_to_ids(tm.TAG_TOKENS)
    assert ids[:3] == tags[:3] and ids[4:] == [tags[3], tagged.eos_token_id]
    assert tags == list(range(len(plain), len(plain) + 4))  # after every special: old ids unchanged
    assert tagged.decode(ids, skip_special_tokens=True) == reply
    assert completion_text(tagged, ids, control_ids(tagged, [tagged.eos_token_id])) == reply
    tagged.save_pretrained(tmp_path / "tok")
    assert AutoTokenizer.from_pretrained(tmp_path / "tok")(reply).input_ids == ids[:-1]
    out = tm.build_tiny_qwen2_audio(tmp_path / "q2a", tokenizer=tagged, audio_window_s=2)
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(out).text_config.vocab_size == len(tagged) == len(plain) + 4


def test_synthetic_items_have_realistic_lengths():
    for q, choices, ans in tm.synthetic_items(50, seed=1):
        assert 25 <= len(q.split()) <= 40
        assert len(choices) == 4 and len(set(choices)) == 4 and 0 <= ans < 4
        assert all(2 <= len(c.split()) <= 6 for c in choices)


def test_qwen2_audio_builds_reloads_and_runs(tok, tmp_path):
    from transformers import AutoProcessor, Qwen2AudioForConditionalGeneration

    out = tm.build_tiny_qwen2_audio(tmp_path / "q2a", size="tiny", tokenizer=tok)
    model = Qwen2AudioForConditionalGeneration.from_pretrained(out).eval()
    proc = AutoProcessor.from_pretrained(out)
    assert model.config.audio_token_index == proc.tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    assert model.config.text_config.hidden_size // model.config.text_config.num_attention_heads == 64
    assert tm.count_parameters(out) == tm.count_parameters(model) < 5_000_000
    text = proc.apply_chat_template(
        [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": "What is it?"}]}],
        tokenize=False,
        add_generation_prompt=True,
    )
    inputs = proc(
        text=text, audio=[np.zeros(16000 * 2, np.float32)], sampling_rate=16000, return_tensors="pt"
    )
    assert int((inputs.input_ids == model.config.audio_token_index).sum()) == 50  # 25 per second
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape == (1, inputs.input_ids.shape[1], len(tok))
    assert torch.isfinite(logits).all()


def test_qwen25_omni_thinker_builds_reloads_and_runs(tok, tmp_path):
    from transformers import AutoFeatureExtractor, AutoTokenizer, Qwen2_5OmniThinkerForConditionalGeneration

    out = tm.build_tiny_qwen25_omni_thinker(tmp_path / "omni", size="tiny", tokenizer=tok)
    model = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(out).eval()
    fe = AutoFeatureExtractor.from_pretrained(out)
    t = AutoTokenizer.from_pretrained(out)
    feats = fe(
        [np.zeros(16000 * 2, np.float32)],
        sampling_rate=16000,
        return_attention_mask=True,
        padding="max_length",
        return_tensors="pt",
    )
    n_audio = 50
    text = f"<|im_start|>user\n<|audio_bos|>{'<|AUDIO|>' * n_audio}<|audio_eos|>Q?<|im_end|>\n<|im_start|>assistant\n"
    ids = t(text, return_tensors="pt")
    assert int((ids.input_ids == model.config.audio_token_index).sum()) == n_audio
    with torch.no_grad():
        logits = model(
            input_ids=ids.input_ids,
            attention_mask=ids.attention_mask,
            input_features=feats.input_features,
            feature_attention_mask=feats.attention_mask,
        ).logits
    assert logits.shape == (1, ids.input_ids.shape[1], len(tok)) and torch.isfinite(logits).all()


def test_bench_size_is_at_least_20m(tok, tmp_path):
    out = tm.build_tiny_qwen2_audio(tmp_path / "bench", size="bench", tokenizer=tok)
    assert tm.count_parameters(out) >= 20_000_000
