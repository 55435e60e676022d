"""Offline, random-weight models for tests, benchmarks and the offline demo.

There is no model hub here (and a user's first run may have none either), so everything a test or a
benchmark loads is built from configs and saved with `save_pretrained`; `from_pretrained(out_dir)` then
works exactly as it does for a real checkpoint, through transformers and through vLLM. The tokenizer
they share is trained in `testing.tokenizer`, on the synthetic text of `testing.text`; both are
re-exported here, where the tests import them from.

Sizes: "tiny" (~2M parameters, a forward in milliseconds) for tests; "bench" (≥20M parameters, so model
compute rather than Python overhead dominates) for benchmarks. Every attention head is 64 wide because
vLLM's CPU kernels support only some head sizes (docs/models.md#vllm).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .text import synthetic_items as synthetic_items
from .tokenizer import CHAT_TEMPLATE, SPECIAL_TOKENS, TAG_TOKENS, train_bpe_tokenizer

__all__ = [
    "CHAT_TEMPLATE",
    "SPECIAL_TOKENS",
    "TAG_TOKENS",
    "build_demo_models",
    "build_tiny_audio_flamingo3",
    "build_tiny_qwen2_audio",
    "build_tiny_qwen2_text",
    "build_tiny_qwen25_omni_thinker",
    "count_parameters",
    "hub_layout",
    "synthetic_items",
    "train_bpe_tokenizer",
]


def _feature_extractor(window_s: int = 30):
    """Qwen2-Audio's and Qwen2.5-Omni's audio front end: Whisper log-mel, 128 bins, 16 kHz, 30 s window."""
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(
        feature_size=128,
        sampling_rate=16000,
        hop_length=160,
        chunk_length=window_s,
        n_fft=400,
        padding_value=0.0,
    )


# The two sizes. Every attention head is 64 wide (vLLM CPU kernels); "bench" is ≥20M parameters.
_SIZES = {
    "tiny": {
        "hidden": 128,
        "layers": 2,
        "heads": 2,
        "kv_heads": 1,
        "ffn": 384,
        "a_dim": 128,
        "a_layers": 2,
        "a_heads": 2,
        "a_ffn": 256,
    },
    "bench": {
        "hidden": 512,
        "layers": 6,
        "heads": 8,
        "kv_heads": 2,
        "ffn": 1536,
        "a_dim": 256,
        "a_layers": 4,
        "a_heads": 4,
        "a_ffn": 1024,
    },
}


def _size(size: str) -> dict:
    try:
        return _SIZES[size]
    except KeyError:
        raise ValueError(f"size must be one of {sorted(_SIZES)}, not {size!r}") from None


def _generation_config(tokenizer):
    from transformers import GenerationConfig

    eos = [tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    return GenerationConfig(eos_token_id=eos, pad_token_id=eos[1], do_sample=False)


def _start(out_dir: str | Path, size: str, tokenizer: Any) -> tuple[dict, Path, Any]:
    """What every builder starts from: the size's dimensions, the output folder (created), and the
    tokenizer (trained when none is given)."""
    s = _size(size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return s, out, tokenizer if tokenizer is not None else train_bpe_tokenizer()


def _random_model(model_cls: Any, config: Any, seed: int, tokenizer: Any) -> Any:
    """`model_cls(config)` with weights drawn from `seed`, in eval mode, stopping at Qwen's end tokens."""
    import torch

    torch.manual_seed(seed)
    model = model_cls(config).eval()
    model.generation_config = _generation_config(tokenizer)
    return model


def _whisper_encoder(s: dict, **extra: Any) -> dict:
    """The Whisper-style audio encoder config Qwen2-Audio and Qwen2.5-Omni share (128 mel bins);
    `extra` adds the family's own keys."""
    return {
        "num_mel_bins": 128,
        "encoder_layers": s["a_layers"],
        "encoder_attention_heads": s["a_heads"],
        "encoder_ffn_dim": s["a_ffn"],
        "d_model": s["a_dim"],
        **extra,
    }


def hub_layout(path: Path) -> Path:
    """Rewrite a from-scratch Qwen2-Audio checkpoint into the key layout real checkpoints have.

    transformers 5.19 saves a model built from a config as `language_model.model.model.*` (it reverses
    two renaming rules); real Qwen2-Audio checkpoints, and vLLM, use `language_model.model.*`.
    transformers loads either, so the builder writes the real layout and every engine can load it.
    """
    from safetensors.torch import load_file, save_file

    f = Path(path) / "model.safetensors"
    state = load_file(str(f))
    if any(k.startswith("language_model.model.model.") for k in state):
        state = {
            k.replace("language_model.model.model.", "language_model.model.", 1): v for k, v in state.items()
        }
        save_file(state, str(f), metadata={"format": "pt"})
    return Path(path)


def _text_config(tok, s: dict, **extra) -> dict:
    """The Qwen2 language-model config every tiny LALM shares; `extra` adds or overrides keys."""
    return {
        "vocab_size": len(tok),
        "hidden_size": s["hidden"],
        "intermediate_size": s["ffn"],
        "num_hidden_layers": s["layers"],
        "num_attention_heads": s["heads"],
        "num_key_value_heads": s["kv_heads"],
        "max_position_embeddings": 8192,
        "tie_word_embeddings": False,
        "eos_token_id": tok.convert_tokens_to_ids("<|im_end|>"),
        "pad_token_id": tok.convert_tokens_to_ids("<|endoftext|>"),
        **extra,
    }


def build_tiny_qwen2_audio(
    out_dir: str | Path, size: str = "tiny", seed: int = 0, tokenizer=None, audio_window_s: int = 30
) -> Path:
    """A random-weight `Qwen2AudioForConditionalGeneration` + `Qwen2AudioProcessor` saved to `out_dir`.

    `from_pretrained(out_dir)` works for the model (transformers and vLLM), `AutoProcessor` and
    `AutoTokenizer`. The config's `audio_token_index` is the tokenizer's `<|AUDIO|>` id. Pass a
    `tokenizer` to reuse one (training takes ~1 s). `audio_window_s`: the encoder's input window
    (Qwen2-Audio's is 30 s: every clip is padded to 3,000 mel frames); a shorter one makes a model for
    short clips far cheaper per clip (the trainer benchmark's 1 s tones use 2 s). Returns `out_dir`.
    """
    from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor

    s, out, tok = _start(out_dir, size, tokenizer)
    audio_id = tok.convert_tokens_to_ids("<|AUDIO|>")
    config = Qwen2AudioConfig(
        # the encoder expects exactly max_source_positions x 2 mel frames
        audio_config=_whisper_encoder(s, max_source_positions=50 * audio_window_s),
        text_config=_text_config(
            tok, s, model_type="qwen2", bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>")
        ),
        audio_token_index=audio_id,
        ignore_index=-100,  # read by transformers' single-<|AUDIO|> expansion path (ms-swift's) with labels
    )
    model = _random_model(Qwen2AudioForConditionalGeneration, config, seed, tok)
    model.save_pretrained(str(out))
    hub_layout(out)
    processor = Qwen2AudioProcessor(
        feature_extractor=_feature_extractor(audio_window_s), tokenizer=tok, chat_template=CHAT_TEMPLATE
    )
    processor.save_pretrained(str(out))
    processor.feature_extractor.save_pretrained(str(out))  # preprocessor_config.json, for older loaders
    return out


def build_tiny_qwen2_text(out_dir: str | Path, size: str = "tiny", seed: int = 0, tokenizer=None) -> Path:
    """A random-weight text-only `Qwen2ForCausalLM` (the language model the tiny Qwen2-Audio uses) and
    its tokenizer, saved to `out_dir`: what the trainer's comparison with TRL trains (TRL has no audio
    path). Returns `out_dir`."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    s, out, tok = _start(out_dir, size, tokenizer)
    config = Qwen2Config(**_text_config(tok, s, bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>")))
    model = _random_model(Qwen2ForCausalLM, config, seed, tok)
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return out


def build_tiny_qwen25_omni_thinker(
    out_dir: str | Path, size: str = "tiny", seed: int = 0, tokenizer=None
) -> Path:
    """A random-weight `Qwen2_5OmniThinkerForConditionalGeneration` saved to `out_dir` with the tokenizer
    and a `WhisperFeatureExtractor` (no `Qwen2_5OmniProcessor`: it needs torchvision, which cannot be
    installed next to the CPU torch; our adapter computes features and expands `<|AUDIO|>` itself).

    The vision tower is the smallest the config allows (it is never used for audio questions). Returns
    `out_dir`.
    """
    from transformers import Qwen2_5OmniThinkerConfig, Qwen2_5OmniThinkerForConditionalGeneration

    s, out, tok = _start(out_dir, size, tokenizer)
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    head_dim = s["hidden"] // s["heads"]
    section = [head_dim // 8, (head_dim // 2 - head_dim // 8) // 2]
    section.append(
        head_dim // 2 - sum(section)
    )  # [t, h, w] halves summing to head_dim / 2, as Qwen's 16/24/24
    config = Qwen2_5OmniThinkerConfig(
        audio_config=_whisper_encoder(s, max_source_positions=1500, n_window=100, output_dim=s["hidden"]),
        vision_config={
            "depth": 1,
            "hidden_size": 64,
            "intermediate_size": 64,
            "num_heads": 1,
            "out_hidden_size": s["hidden"],
            "fullatt_block_indexes": [0],
        },
        text_config=_text_config(
            tok,
            s,
            bos_token_id=ids["<|endoftext|>"],
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": section},
        ),
        audio_token_index=ids["<|AUDIO|>"],
        image_token_index=ids["<|IMAGE|>"],
        video_token_index=ids["<|VIDEO|>"],
        audio_start_token_id=ids["<|audio_bos|>"],
        audio_end_token_id=ids["<|audio_eos|>"],
        vision_start_token_id=ids["<|vision_bos|>"],
        vision_end_token_id=ids["<|vision_eos|>"],
        user_token_id=tok.convert_tokens_to_ids("user") if "user" in tok.get_vocab() else ids["<|im_start|>"],
    )
    model = _random_model(Qwen2_5OmniThinkerForConditionalGeneration, config, seed, tok)
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    _feature_extractor().save_pretrained(str(out))
    return out


def build_tiny_audio_flamingo3(
    out_dir: str | Path, size: str = "tiny", seed: int = 0, tokenizer=None
) -> Path:
    """A random-weight `AudioFlamingo3ForConditionalGeneration` + `AudioFlamingo3Processor` saved to
    `out_dir` (`<sound>` is the audio placeholder; 30 s windows of Whisper-128 features). Returns `out_dir`."""
    from transformers import (
        AudioFlamingo3Config,
        AudioFlamingo3ForConditionalGeneration,
        AudioFlamingo3Processor,
    )

    s, out, tok = _start(out_dir, size, tokenizer)
    config = AudioFlamingo3Config(
        audio_config={
            "num_mel_bins": 128,
            "num_hidden_layers": s["a_layers"],
            "num_attention_heads": s["a_heads"],
            "intermediate_size": s["a_ffn"],
            "hidden_size": s["a_dim"],
            "max_source_positions": 1500,
        },
        text_config=_text_config(tok, s, model_type="qwen2"),
        audio_token_id=tok.convert_tokens_to_ids("<sound>"),
    )
    model = _random_model(AudioFlamingo3ForConditionalGeneration, config, seed, tok)
    model.save_pretrained(str(out))
    processor = AudioFlamingo3Processor(
        feature_extractor=_feature_extractor(), tokenizer=tok, chat_template=CHAT_TEMPLATE
    )
    processor.save_pretrained(str(out))
    processor.feature_extractor.save_pretrained(str(out))
    return out


def count_parameters(path_or_model) -> int:
    """Parameter count of a model object or of the safetensors saved under a directory."""
    if hasattr(path_or_model, "parameters"):
        return sum(p.numel() for p in path_or_model.parameters())
    from safetensors import safe_open

    total = 0
    for f in Path(path_or_model).glob("*.safetensors"):
        with safe_open(str(f), "pt") as st:
            total += sum(math.prod(st.get_slice(k).get_shape()) for k in st.keys())  # noqa: SIM118 (safe_open is not iterable)
    return total


def build_demo_models(out_dir: str | Path, size: str = "tiny") -> dict[str, Path]:
    """The offline demo panel's models (`pipelines/panels/tiny.yaml`): two Qwen2-Audio with different
    seeds and one Qwen2.5-Omni thinker, sharing one tokenizer. Returns name -> path."""
    out = Path(out_dir)
    tok = train_bpe_tokenizer()
    return {
        "qwen2-audio-s0": build_tiny_qwen2_audio(out / "qwen2-audio-s0", size=size, seed=0, tokenizer=tok),
        "qwen2-audio-s1": build_tiny_qwen2_audio(out / "qwen2-audio-s1", size=size, seed=1, tokenizer=tok),
        "qwen25-omni-thinker-s0": build_tiny_qwen25_omni_thinker(
            out / "qwen25-omni-thinker-s0", size=size, seed=0, tokenizer=tok
        ),
    }
