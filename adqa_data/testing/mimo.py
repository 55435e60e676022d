"""A tiny random-weight MiMo-Audio checkpoint in the official layout, for tests and the offline demo.

The folder looks like a XiaomiMiMo/MiMo-Audio-7B download: config.json with the official key names
(model_type "qwen2", architectures ["MiMoAudioModel"], the speech keys), model.safetensors with the
official tensor names *including* the speech-output transformer and heads (so strict loading with
`text_only` is exercised), and a tokenizer: the repo's trained BPE tokenizer plus the tokens MiMo's
prompts use (`<|sosp|>`, `<|eosp|>`, `<|empty|>`, ...). Speech vocabularies are the real ones (8 layers:
1025, 1025, 129 x 6); widths are small (~2M parameters, heads 64 wide).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Small widths; the key set (2 backbone layers, 2 input-local layers, 1 speech-output layer) matches the
# parity fixture under tests/fixtures/mimo_audio.
TINY_SIZES: dict[str, Any] = {
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 64,
    "local_dim": 64,
    "local_layers": 1,
    "local_attn_heads": 1,
    "local_ffn_dim": 128,
    "input_local_layers": 2,
    "input_local_dim": 64,
}


def tiny_mimo_config(
    vocab_size: int, *, eos_token_id: int | None = None, pad_token_id: int | None = None
) -> dict[str, Any]:
    """config.json of a tiny MiMo-Audio, in the official key names (MiMo-Audio-7B's values where they are
    not sizes: rope_theta 640000, group_size 4, 8 audio channels, full attention in the input local
    transformer)."""
    return {
        "architectures": ["MiMoAudioModel"],
        "model_type": "qwen2",
        "vocab_size": vocab_size,
        **{k: TINY_SIZES[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers")},
        **{k: TINY_SIZES[k] for k in ("num_attention_heads", "num_key_value_heads", "head_dim")},
        "hidden_act": "silu",
        "max_position_embeddings": 8192,
        "rope_theta": 640000.0,
        "rms_norm_eps": 1e-6,
        "attention_bias": True,
        "attention_dropout": 0.0,
        "use_cache": True,
        "use_sliding_window": False,
        "tie_word_embeddings": False,
        "bos_token_id": pad_token_id,
        "eos_token_id": eos_token_id,
        "pad_token_id": pad_token_id,
        "group_size": 4,
        "audio_channels": 8,
        "delay_pattern": "0-1-2-3-4-5-6-7",
        "speech_vocab_size": "1025-1025-129-129-129-129-129-129",
        "speech_zeroemb_idx": "1024-1024-128-128-128-128-128-128",
        **{k: TINY_SIZES[k] for k in ("local_dim", "local_layers", "local_attn_heads", "local_ffn_dim")},
        "local_attn_dropout": 0.1,
        **{k: TINY_SIZES[k] for k in ("input_local_layers", "input_local_dim")},
        "input_full_attention": True,
        "torch_dtype": "float32",
    }


def mimo_tokenizer(tokenizer: Any = None) -> Any:
    """The repo's tiny BPE tokenizer (or `tokenizer`, modified in place) with MiMo's prompt tokens added."""
    from ..inference.mimo.prompt import SPECIAL_TOKENS
    from .tokenizer import train_bpe_tokenizer

    tok = tokenizer if tokenizer is not None else train_bpe_tokenizer()
    vocab = tok.get_vocab()
    tok.add_tokens([t for t in SPECIAL_TOKENS if t not in vocab], special_tokens=True)
    return tok


def build_tiny_mimo_audio(out_dir: str | Path, seed: int = 0, tokenizer: Any = None) -> Path:
    """Write a random-weight MiMo-Audio checkpoint folder (config.json, model.safetensors, tokenizer) to
    `out_dir` and return it. Biases and norm weights are random too (not 0 and 1), so a test notices a
    bias or norm that is dropped. Pass `tokenizer` to reuse one (training takes ~1 s)."""
    import torch
    from safetensors.torch import save_file

    from ..inference.mimo.model import MiMoAudioConfig, MiMoAudioLM, MiMoSpecialTokens

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = mimo_tokenizer(tokenizer)
    cfg = tiny_mimo_config(
        len(tok),
        eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
    )
    torch.manual_seed(seed)
    model = MiMoAudioLM(
        MiMoAudioConfig.from_dict(cfg), MiMoSpecialTokens.from_tokenizer(tok), text_only=False
    )
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn_like(p))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    tok.save_pretrained(str(out))
    return out
