"""Name a codec, get a `CodecSpec`; load it once per process.

A codec is named as:

* an alias: `mimo-audio` (the pipeline's codec, docs/models.md#mimo-audio-tokenizer), `mimi`, `encodec`,
  `dac`, `xcodec`;
* `<family>:<hub id or directory>[@revision]`, e.g. `mimi:kyutai/mimi`, `encodec:/models/tiny-encodec`;
* a bare hub id or directory: the family is read from `config.json` (`model_type`).

Resolution reads only `config.json` (and hashes local weight files), never imports torch: the stage
decides "up to date" and "already cached" from the spec alone. Facts are derived from the config with the
same formulas transformers uses (the tests check them against the loaded models).
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from pathlib import Path
from typing import Any

from ..core.errors import UserError
from .base import FAMILIES, Codec, CodecSpec, weights_dir  # noqa: F401  (re-exported)

ALIASES: dict[str, tuple[str, str]] = {
    "mimo-audio": ("mimo", "XiaomiMiMo/MiMo-Audio-Tokenizer"),
    "mimi": ("mimi", "kyutai/mimi"),
    "encodec": ("encodec", "facebook/encodec_24khz"),
    "dac": ("dac", "descript/dac_16khz"),
    "xcodec": ("xcodec", "hf-audio/xcodec-hubert-librispeech"),
}
MODEL_TYPES = {
    "mimi": "mimi",
    "encodec": "encodec",
    "dac": "dac",
    "xcodec": "xcodec",
    "mimo_audio_tokenizer": "mimo",
}
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
DTYPES = ("float32", "float16", "bfloat16")


# ------------------------------------------------------------------------------------------ parsing
def parse_codec_name(name: str) -> tuple[str | None, str, str | None]:
    """'family:source@rev' | alias | source -> (family or None, source, revision or None)."""
    name = name.strip()
    if name in ALIASES:
        fam, src = ALIASES[name]
        return fam, src, None
    family = None
    head, sep, tail = name.partition(":")
    if sep and head in FAMILIES:
        family, name = head, tail
    if family and not name:
        name = next(src for fam, src in ALIASES.values() if fam == family)
    revision = None
    if "@" in name and not Path(name).expanduser().exists():
        name, revision = name.rsplit("@", 1)
    return family, name, revision


def resolve_dtype(dtype: str, device: str) -> str:
    if dtype == "auto":
        # half precision on GPUs (bf16: the range of fp32, what MiMo-Audio upstream runs in); fp32 on CPUs
        return "bfloat16" if device.startswith("cuda") else "float32"
    if dtype not in DTYPES:
        raise UserError(f"unknown dtype {dtype!r}", fix=f"use auto or one of: {', '.join(DTYPES)}")
    return dtype


# ------------------------------------------------------------------------------------------ locating
def _locate(source: str, revision: str | None) -> tuple[Path, str]:
    """Local directory with config.json, and the weights identity (hub commit or content hash)."""
    local = Path(source).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise UserError(
                f"codec directory {local} has no config.json", fix="point at a save_pretrained folder"
            )
        return local.absolute(), f"sha256:{weights_sha256(local.absolute())}"
    if local.exists() or source.startswith(("/", ".", "~")):
        raise UserError(f"codec path {source} is not a directory")
    from ..inference.trust import hub_offline

    if hub_offline():
        # offline, only the local hub cache can answer: ask it directly (the download client would retry)
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(source, "config.json", revision=revision)
        if not isinstance(cached, str):
            raise UserError(
                f"codec {source!r}{'@' + revision if revision else ''} is not in the local Hugging Face hub cache "
                "and HF_HUB_OFFLINE is set",
                fix="check the name, go online once to cache it (unset HF_HUB_OFFLINE), or pass a local directory",
            )
        return Path(cached).parent, f"hub:{source}@{Path(cached).parent.name}"
    try:
        from huggingface_hub import hf_hub_download

        cfg = Path(hf_hub_download(source, "config.json", revision=revision))
    except Exception as e:  # noqa: BLE001 - offline without a cached copy, unknown repo, no network
        raise UserError(
            f"cannot resolve codec {source!r}{'@' + revision if revision else ''} on the Hugging Face hub: "
            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
            fix="check the name, go online once to cache it (unset HF_HUB_OFFLINE), or pass a local directory",
        ) from None
    commit = cfg.parent.name  # .../snapshots/<commit>/config.json
    return cfg.parent, f"hub:{source}@{commit}"


_sha_lock = threading.Lock()
_sha_memo: dict[tuple[str, int, int], str] = {}


def weights_sha256(directory: Path) -> str:
    """Content hash of config.json and every weight file (memoised per file by size and mtime)."""
    files = sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and (p.name == "config.json" or p.suffix in WEIGHT_SUFFIXES)
    )
    h = hashlib.sha256()
    for p in files:
        st = p.stat()
        key = (str(p), st.st_size, st.st_mtime_ns)
        with _sha_lock:
            digest = _sha_memo.get(key)
        if digest is None:
            from ..core.workspace import file_sha256

            digest = file_sha256(p)
            with _sha_lock:
                _sha_memo[key] = digest
        h.update(f"{p.name}\0{digest}\n".encode())
    return h.hexdigest()[:32]


# ------------------------------------------------------------------------------------------ config facts
def _prod(xs: list[int]) -> int:
    return int(math.prod(xs))


def _facts(family: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """sample_rate, frame_rate, hop_length, codebook_sizes, settings — transformers' formulas, no torch."""
    if family == "mimi":
        sr = int(cfg.get("sampling_rate", 24000))
        # encoder strides, then the 2x downsample
        hop = _prod(cfg.get("upsampling_ratios") or [8, 6, 5, 4]) * 2
        rate = cfg.get("frame_rate") or cfg.get("_frame_rate") or sr / hop
        sizes = [int(cfg.get("codebook_size", 2048))] * int(cfg.get("num_quantizers", 32))
        settings = {"causal": bool(cfg.get("use_causal_conv", True))}
        return {
            "sample_rate": sr,
            "frame_rate": float(rate),
            "hop_length": hop,
            "codebook_sizes": sizes,
            "settings": settings,
        }
    if family in ("encodec", "xcodec"):
        if family == "encodec":
            sr = int(cfg.get("sampling_rate", 24000))
            hop = _prod(cfg.get("upsampling_ratios") or [8, 5, 4, 2])
            bandwidths = cfg.get("target_bandwidths") or [1.5, 3.0, 6.0, 12.0, 24.0]
            if cfg.get("chunk_length_s") is not None:
                raise UserError(
                    "this EnCodec encodes overlapping chunks with one loudness scale each (the 48 kHz model): "
                    "its codes are not one [codebooks, frames] sequence per clip",
                    fix="use a model without chunk_length_s, e.g. facebook/encodec_24khz",
                )
            settings = {
                "causal": bool(cfg.get("use_causal_conv", True)) and not cfg.get("normalize", False),
                "audio_channels": int(cfg.get("audio_channels", 1)),
            }
        else:
            sr = int(cfg.get("sample_rate", 16000))
            acoustic = cfg.get("acoustic_model_config") or {}
            hop = _prod(acoustic.get("downsampling_ratios") or [8, 5, 4, 2])
            bandwidths = cfg.get("target_bandwidths") or [0.5, 1, 1.5, 2, 4]
            settings = {"causal": False}
        size = int(cfg.get("codebook_size", 1024))
        frame_rate = math.ceil(sr / hop)
        nbits = math.ceil(math.log2(size))
        n_q = int(1000 * bandwidths[-1] // (frame_rate * nbits))
        settings["bandwidths"] = [float(b) for b in bandwidths]
        return {
            "sample_rate": sr,
            "frame_rate": float(frame_rate),
            "hop_length": hop,
            "codebook_sizes": [size] * n_q,
            "settings": settings,
        }
    if family == "dac":
        sr = int(cfg.get("sampling_rate", 16000))
        hop = _prod(cfg.get("downsampling_ratios") or [2, 4, 8, 8])
        sizes = [int(cfg.get("codebook_size", 1024))] * int(cfg.get("n_codebooks", 9))
        return {
            "sample_rate": sr,
            "frame_rate": float(math.ceil(sr / hop)),
            "hop_length": hop,
            "codebook_sizes": sizes,
            "settings": {"causal": False},
        }
    if family == "mimo":
        from .mimo import mimo_facts

        return mimo_facts(cfg)
    raise UserError(f"unknown codec family {family!r}", fix=f"use one of: {', '.join(FAMILIES)}")


# ------------------------------------------------------------------------------------------ public
def resolve_codec(name: str, dtype: str = "auto", device: str = "cpu") -> CodecSpec:
    """Resolve a codec name to exact weights and facts (reads config.json; no model load, no torch)."""
    family, source, revision = parse_codec_name(name)
    path, weights_id = _locate(source, revision)
    try:
        cfg = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {path / 'config.json'}: {e}") from None
    if not isinstance(cfg, dict):
        raise UserError(
            f"{path / 'config.json'} is not a JSON object", fix="point --codec at a codec's folder"
        )
    model_type = cfg.get("model_type")
    detected = MODEL_TYPES.get(str(model_type or ""))
    if family is not None and model_type and detected != family:
        # a config of another model (a LALM, another codec) would load with its weights randomly initialised
        raise UserError(
            f"{path} holds a {model_type!r} model, not {family}"
            + (f" (it is a {detected} codec)" if detected else ""),
            fix=f"use {detected}:{source}" if detected else "point --codec at a folder saved from that codec",
        )
    if family is None:
        if detected is None:
            raise UserError(
                f"cannot tell which codec {source} is (config.json model_type={cfg.get('model_type')!r})",
                fix=f"name the family: <family>:{source}, family one of {', '.join(FAMILIES)}",
            )
        family = detected
    facts = _facts(family, cfg)
    return CodecSpec(
        family=family,
        source=source,
        path=str(path),
        weights_id=weights_id,
        sample_rate=facts["sample_rate"],
        frame_rate=facts["frame_rate"],
        hop_length=facts["hop_length"],
        codebook_sizes=tuple(int(s) for s in facts["codebook_sizes"]),
        dtype=resolve_dtype(dtype, device),
        settings=facts["settings"],
    )


_loaded: dict[tuple, Codec] = {}
_load_lock = threading.Lock()


def load_codec(spec: CodecSpec, num_codebooks: int | None = None, device: str = "cpu") -> Codec:
    """The loaded codec for a spec; one instance per (weights, precision, N, device) and process.

    Engine workers call this per shard; the model is loaded once per worker process.
    """
    n = spec.check_num_codebooks(num_codebooks)
    key = (spec.fingerprint, spec.path, n, device)
    with _load_lock:
        codec = _loaded.get(key)
        if codec is None:
            if device.startswith("cuda"):
                import torch

                if not torch.cuda.is_available():
                    raise UserError(
                        "--device cuda was asked for, but torch sees no CUDA device",
                        fix="use --device cpu, or install a CUDA build of torch",
                    )
            if spec.family == "mimo":
                from .mimo import MiMoAudioCodec

                codec = MiMoAudioCodec(spec, n, device)
            else:
                from .hf import TransformersCodec

                codec = TransformersCodec(spec, n, device)
            _loaded[key] = codec
    return codec


def clear_loaded() -> None:
    """Forget loaded codecs (tests; freeing GPU memory between runs)."""
    with _load_lock:
        _loaded.clear()
