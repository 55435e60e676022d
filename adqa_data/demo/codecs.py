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
            hidden_size=32, num_filters=8, num_residual_layers=1, upsampling_ratios=[8, 6, 5, 4],
            codebook_size=64, codebook_dim=16, vector_quantization_hidden_dimension=16, num_quantizers=8,
            num_semantic_quantizers=1, upsample_groups=8, num_hidden_layers=2, intermediate_size=64,
            num_attention_heads=2, num_key_value_heads=2, sliding_window=250, max_position_embeddings=8000,
        )
        model = transformers.MimiModel(cfg)
    elif family == "encodec":
        cfg = transformers.EncodecConfig(
            target_bandwidths=[1.5, 3.0, 6.0], sampling_rate=24000, audio_channels=1, normalize=False,
            chunk_length_s=None, overlap=None, hidden_size=16, num_filters=4, num_residual_layers=1,
            upsampling_ratios=[8, 5, 4, 2], codebook_size=64, num_lstm_layers=1, use_causal_conv=True,
        )
        model = transformers.EncodecModel(cfg)
    elif family == "dac":
        cfg = transformers.DacConfig(
            encoder_hidden_size=4, downsampling_ratios=[2, 4, 5, 8], decoder_hidden_size=32,
            upsampling_ratios=[8, 5, 4, 2], n_codebooks=4, codebook_size=64, codebook_dim=4, hidden_size=16,
            sampling_rate=16000,
        )
        model = transformers.DacModel(cfg)
    elif family == "xcodec":
        cfg = transformers.XcodecConfig(
            target_bandwidths=[0.5, 1.0], sample_rate=16000, codebook_size=64,
            acoustic_model_config={"model_type": "dac", "encoder_hidden_size": 4, "downsampling_ratios": [8, 5, 4, 2],
                                   "decoder_hidden_size": 32, "upsampling_ratios": [8, 5, 4, 2], "hidden_size": 16},
            semantic_model_config={"model_type": "hubert", "hidden_size": 16, "num_hidden_layers": 1,
                                   "num_attention_heads": 2, "intermediate_size": 32, "conv_dim": [8] * 7,
                                   "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2},
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


# ------------------------------------------------------------------------------------------ MiMo stand-in
MIMO_STANDIN_CONFIG = {
    # the shape of XiaomiMiMo/MiMo-Audio-Tokenizer's config.json, front-end and RVQ fields
    "model_type": "mimo_audio_tokenizer", "sampling_rate": 24000, "hop_length": 240, "nfft": 1024,
    "window_size": 1024, "n_mels": 80, "fmin": 0, "fmax": None, "kernel_size": 3, "stride_size": 2,
    "avg_pooler": 2, "num_quantizers": 12, "codebook_size": [1024, 1024] + [128] * 10,
}

_MIMO_STANDIN_SOURCE = '''"""Stand-in for XiaomiMiMo/MiMo-Audio's `mimo_audio_tokenizer` package, written by adqa-data.

Same entry points and calling convention as upstream (`MiMoAudioTokenizer.from_pretrained(path)`,
`.encoder.encode(input_features, input_lens, return_codes_only=True, n_q=...)` on packed segments), the
same output lengths, and codes that are a plain function of each segment's own mel frames: code frame j
of a segment summarises mel rows [4j, 4j + 4). It exists to test the adapter's preprocessing where the
real network (CUDA + flash-attn) cannot run. Its codes mean nothing.
"""
import json
import math
import os

import torch

CALLS = []  # one record per encoder call: what the adapter sent


class MiMoAudioTokenizerConfig:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def standin_codes(segment, n_q, sizes, step):
    """[L, n_mels] float -> [n_q, ceil(L / step)] int64."""
    L = segment.shape[0]
    n = -(-L // step)
    pad = n * step - L
    x = torch.cat([segment, torch.zeros(pad, segment.shape[1], dtype=segment.dtype)]) if pad else segment
    counts = torch.full((n, 1), float(step))
    counts[-1] = step - pad
    v = x.reshape(n, step, -1).sum(1) / counts  # mean of the rows each code frame covers
    q = torch.arange(n_q)
    codes = (v[:, q].abs() * 997.0 * (q + 1)).floor().to(torch.int64) % torch.tensor(sizes[:n_q])
    return codes.T.contiguous()


class _Encoder(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.weight = torch.nn.Parameter(torch.zeros(1))  # follows .to(dtype/device) like upstream's conv1

    def get_output_length(self, mel_len):
        k, s = self.config.kernel_size, self.config.stride_size
        n = mel_len + 3 - k
        return (n + 2 - k) // s + 1

    @torch.no_grad()
    def encode(self, input_features, input_lens=None, output_length=None, return_codes_only=False, n_q=None,
               use_quantizer=True):
        x = input_features.to(self.weight)  # upstream casts features to the encoder dtype
        CALLS.append({"shape": tuple(x.shape), "dtype": str(x.dtype), "lens": input_lens.tolist(), "n_q": n_q,
                      "features": x.float().cpu().clone()})
        n_q = n_q or self.config.num_quantizers
        pool = self.config.avg_pooler
        step = self.config.stride_size * pool
        parts, lens, start = [], [], 0
        for L in input_lens.tolist():
            seg = x[start:start + L].float().cpu()
            start += L
            n = self.get_output_length(L)
            n = n // pool + int(n % pool != 0)
            c = standin_codes(seg, n_q, self.config.codebook_size, step)
            assert c.shape[1] == n, (c.shape, n)
            parts.append(c)
            lens.append(n)
        return torch.cat(parts, dim=1), torch.tensor(lens)


class MiMoAudioTokenizer(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.encoder = _Encoder(config)

    @classmethod
    def from_pretrained(cls, path):
        with open(os.path.join(path, "config.json")) as f:
            return cls(MiMoAudioTokenizerConfig(**json.load(f)))
'''


def write_mimo_standin(out_dir: str | Path) -> tuple[Path, Path]:
    """Write a stand-in upstream package and a weights folder; returns (source root, weights dir).

    Point `ADQA_MIMO_AUDIO_SRC` at the source root and `--codec mimo:<weights dir>` at the other.
    """
    import json

    out = Path(out_dir)
    pkg = out / "src" / "mimo_audio_tokenizer"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text(_MIMO_STANDIN_SOURCE)
    weights = out / "MiMo-Audio-Tokenizer"
    weights.mkdir(parents=True, exist_ok=True)
    (weights / "config.json").write_text(json.dumps(MIMO_STANDIN_CONFIG, indent=2))
    (weights / "model.safetensors").write_bytes(b"stand-in weights")  # hashed into the fingerprint
    return out, weights
