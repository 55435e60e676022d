"""Tiny random-weight codecs, built offline from configs, for tests, benchmarks and smoke runs.

transformers initialises codebook buffers to zero, which makes every code 0 and would let a broken
pipeline pass its tests; these builders fill the codebooks with seeded Gaussian vectors so that codes
carry information (they vary with the input) and are reproducible from the seed.
"""

from __future__ import annotations

from pathlib import Path

TINY_FAMILIES = ("mimi", "encodec", "dac", "xcodec")


def build_tiny_codec(family: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Write a tiny random `family` codec with `save_pretrained` into `out_dir`; returns the directory."""
    import torch
    import transformers

    torch.manual_seed(seed)
    if family == "mimi":
        cfg = transformers.MimiConfig(
            hidden_size=32,
            num_filters=8,
            num_residual_layers=1,
            upsampling_ratios=[8, 6, 5, 4],
            codebook_size=64,
            codebook_dim=16,
            vector_quantization_hidden_dimension=16,
            num_quantizers=8,
            num_semantic_quantizers=1,
            upsample_groups=8,
            num_hidden_layers=2,
            intermediate_size=64,
            num_attention_heads=2,
            num_key_value_heads=2,
            sliding_window=250,
            max_position_embeddings=8000,
        )
        model = transformers.MimiModel(cfg)
    elif family == "encodec":
        cfg = transformers.EncodecConfig(
            target_bandwidths=[1.5, 3.0, 6.0],
            sampling_rate=24000,
            audio_channels=1,
            normalize=False,
            chunk_length_s=None,
            overlap=None,
            hidden_size=16,
            num_filters=4,
            num_residual_layers=1,
            upsampling_ratios=[8, 5, 4, 2],
            codebook_size=64,
            num_lstm_layers=1,
            use_causal_conv=True,
        )
        model = transformers.EncodecModel(cfg)
    elif family == "dac":
        cfg = transformers.DacConfig(
            encoder_hidden_size=4,
            downsampling_ratios=[2, 4, 5, 8],
            decoder_hidden_size=32,
            upsampling_ratios=[8, 5, 4, 2],
            n_codebooks=4,
            codebook_size=64,
            codebook_dim=4,
            hidden_size=16,
            sampling_rate=16000,
        )
        model = transformers.DacModel(cfg)
    elif family == "xcodec":
        cfg = transformers.XcodecConfig(
            target_bandwidths=[0.5, 1.0],
            sample_rate=16000,
            codebook_size=64,
            acoustic_model_config={
                "model_type": "dac",
                "encoder_hidden_size": 4,
                "downsampling_ratios": [8, 5, 4, 2],
                "decoder_hidden_size": 32,
                "upsampling_ratios": [8, 5, 4, 2],
                "hidden_size": 16,
            },
            semantic_model_config={
                "model_type": "hubert",
                "hidden_size": 16,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "intermediate_size": 32,
                "conv_dim": [8] * 7,
                "num_conv_pos_embeddings": 16,
                "num_conv_pos_embedding_groups": 2,
            },
        )
        model = transformers.XcodecModel(cfg)
    else:
        raise ValueError(f"no tiny builder for {family!r}; have {sorted(TINY_FAMILIES)}")
    model.eval()
    reinit_codebooks(model, seed)
    out = Path(out_dir)
    model.save_pretrained(out)
    return out


# Codebook scale per family, measured: the std of the tiny encoder's output on noise (EnCodec's is ~0.06;
# unit-variance codebooks would put every frame on the same few codes).
_SCALE = {"MimiEuclideanCodebook": 1.0, "EncodecEuclideanCodebook": 0.06, "XcodecEuclideanCodebook": 0.06}


def reinit_codebooks(model, seed: int = 0) -> None:
    """Give every codebook distinct seeded vectors (random init leaves them all zero).

    Later RVQ layers quantise smaller residuals, so their vectors shrink by 0.7 per layer.
    """
    import torch

    g = torch.Generator().manual_seed(seed + 1)
    depth: dict[int, int] = {}
    with torch.no_grad():
        for mod in model.modules():
            name = type(mod).__name__
            if name not in _SCALE and name != "DacVectorQuantize":
                continue
            k = depth.setdefault(id(type(mod)), 0)
            depth[id(type(mod))] = k + 1
            scale = _SCALE.get(name, 1.0) * 0.7**k
            if name == "MimiEuclideanCodebook":
                mod.embed_sum.copy_(torch.randn(mod.embed_sum.shape, generator=g) * scale)
                mod.cluster_usage.fill_(1.0)
                mod._embed = None
            elif name in ("EncodecEuclideanCodebook", "XcodecEuclideanCodebook"):
                mod.embed.copy_(torch.randn(mod.embed.shape, generator=g) * scale)
                mod.embed_avg.copy_(mod.embed)
                mod.cluster_size.fill_(1.0)
            elif name == "DacVectorQuantize":
                w = mod.codebook.weight
                w.copy_(torch.randn(w.shape, generator=g))
