"""RVQ codecs behind one interface: a registry, the transformers codecs, the MiMo-Audio tokenizer.

    spec = resolve_codec("mimi:kyutai/mimi")          # config.json only: no torch, no model load
    codec = load_codec(spec, num_codebooks=8)          # the model, once per process
    codes = codec.encode([wave_24k_a, wave_24k_b])     # [8, frames] int64 per clip, batch-invariant

See `base.py` for the contract (a clip's codes never depend on its batch-mates) and each adapter's
docstring for how it keeps it.
"""

from .base import ADAPTER_VERSION, FAMILIES, Codec, CodecSpec
from .registry import ALIASES, clear_loaded, load_codec, parse_codec_name, resolve_codec

__all__ = [
    "ADAPTER_VERSION",
    "ALIASES",
    "FAMILIES",
    "Codec",
    "CodecSpec",
    "clear_loaded",
    "load_codec",
    "parse_codec_name",
    "resolve_codec",
]
