"""A trained Qwen2-style BPE tokenizer for the offline tiny models, with Qwen's special tokens and a
Qwen-like chat template.

Why a *trained* BPE tokenizer rather than a byte-level one: the filter benchmark compares costs that
scale with token counts (a 750-token silent clip against a question suffix), so the suffix must be
tokenized the way a real Qwen tokenizer would (~1.3 tokens per English word, not ~5 bytes). The
tokenizer uses Qwen2's pre-tokenizer regex and byte-level alphabet, and Qwen's special tokens appended
after the learned vocabulary (the order Qwen uses, ids shifted down), so boundary effects such as a
`>` merging with a following letter (docs/models.md#tokenizer-boundary) reproduce here.
"""

from __future__ import annotations

import json
from pathlib import Path

from .text import tokenizer_corpus

# Qwen's special tokens, in Qwen's id order (151643...), appended after the learned vocabulary; then
# Audio Flamingo 3's placeholder, so one tokenizer serves every tiny model.
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|AUDIO|>",
    "<|audio_bos|>",
    "<|audio_eos|>",
    "<|vision_bos|>",
    "<|vision_eos|>",
    "<|IMAGE|>",
    "<|VIDEO|>",
    "<sound>",  # Audio Flamingo 3's audio placeholder
]

# A Qwen2-Audio-Instruct-like chat template: string or list content; an audio part renders as
# "Audio N: <|audio_bos|><|AUDIO|><|audio_eos|>\n" (the single placeholder is expanded to one token per
# audio frame by whoever tokenizes: our adapters, or vLLM's processor).
CHAT_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n"
    "{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'audio' or 'audio' in content or 'audio_url' in content %}"
    "{% set audio_count.value = audio_count.value + 1 %}"
    "Audio {{ audio_count.value }}: <|audio_bos|><|AUDIO|><|audio_eos|>\n"
    "{% elif 'text' in content %}"
    "{{ content['text'] }}"
    "{% endif %}"
    "{% endfor %}"
    "<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}"
    "<|im_start|>assistant\n"
    "{% endif %}"
)


# The reply template's tags, one token each when asked: as reasoning models register them (Qwen3's
# `<think>` is an added, not special, token, so decoding keeps it in the text).
TAG_TOKENS = ["<think>", "</think>", "<answer>", "</answer>"]


def train_bpe_tokenizer(
    out_dir: str | Path | None = None,
    vocab_size: int = 4096,
    corpus: list[str] | None = None,
    tag_tokens: bool = False,
):
    """Train a Qwen2-style byte-level BPE on realistic question text and wrap it as a transformers fast
    tokenizer (`Qwen2Tokenizer`) with Qwen's special tokens and a Qwen-like chat template.

    `vocab_size` counts the learned vocabulary; the special tokens come after it (len(tok) is
    vocab_size + len(SPECIAL_TOKENS)). Saved with `save_pretrained` when `out_dir` is given. Returns the
    tokenizer. Deterministic for a given corpus and size. `tag_tokens`: the think/answer tags become one
    added token each (after the special tokens), as in reasoning models' tokenizers: a tiny policy then
    writes the reply template in 5 tokens instead of ~12, where each split tag was a place to drift.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus if corpus is not None else tokenizer_corpus(), trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    vocab: dict[str, int] = model["vocab"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    n = len(vocab)
    for i, t in enumerate(SPECIAL_TOKENS):  # Qwen order, after the learned vocabulary
        vocab[t] = n + i

    hf = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens={
            "audio_token": "<|AUDIO|>",
            "audio_bos_token": "<|audio_bos|>",
            "audio_eos_token": "<|audio_eos|>",
        },
        model_max_length=32768,
    )
    hf.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS})
    hf.chat_template = CHAT_TEMPLATE
    if tag_tokens:
        hf.add_tokens(TAG_TOKENS)
    for t in SPECIAL_TOKENS:
        assert hf.convert_tokens_to_ids(t) == vocab[t], t
    if out_dir is not None:
        hf.save_pretrained(str(out_dir))
    return hf
