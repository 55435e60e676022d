"""transformers codecs (Mimi, EnCodec, DAC, X-Codec) behind the `Codec` interface.

How batching is kept exact, per model (exact as mathematics; in floating point up to near-ties, see
`base`: kernels round differently by batch shape and thread count, so a frame sitting on a codeword
boundary to within rounding may get the other, equally near, code):

* Every clip is first zero-padded to a whole number of code frames (its *canonical length*). Encoding
  that one clip alone is the reference; a batch must reproduce it.
* **Causal** models (Mimi; EnCodec 24 kHz: causal convolutions, a unidirectional LSTM, causal attention)
  never look ahead, so right zero-padding after the canonical length changes nothing before it: clips of
  any lengths share a call and each keeps its first `canonical / hop` frames. `padding_mask` is passed
  where the model takes one (transformers' Mimi ignores it today; causality is what makes this hold).
* **Non-causal** models (DAC, X-Codec, EnCodec with `normalize` or non-causal convolutions) see the
  padding near a clip's end, and EnCodec's loudness scale averages over it, so only clips of equal
  canonical length share a call (`batch_key`). Datasets full of equal-length clips (10 s AudioCaps,
  30 s MusicCaps) still batch well; otherwise these run near one clip per call.

Half precision: the encoder runs in the requested dtype, the nearest-codebook search in float32 (as
MiMo-Audio upstream does), so a half-precision run differs from fp32 only through the encoder.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np

from ..core.errors import require
from .base import Codec, CodecSpec, check_loading_info, pad_to_multiple, stack_right_padded, weights_dir

_CLASSES = {"mimi": "MimiModel", "encodec": "EncodecModel", "dac": "DacModel", "xcodec": "XcodecModel"}


class TransformersCodec(Codec):
    def __init__(self, spec: CodecSpec, num_codebooks: int, device: str = "cpu"):
        super().__init__(spec, num_codebooks, device)
        torch = require("torch", "models", "encoding audio with a transformers codec")
        transformers = require("transformers", "models", "encoding audio with a transformers codec")
        self._torch = torch
        self._dtype = getattr(torch, spec.dtype)
        cls = getattr(transformers, _CLASSES[spec.family])
        path = weights_dir(spec)
        model, info = cls.from_pretrained(path, dtype=torch.float32, output_loading_info=True)
        check_loading_info(info, path, f"{spec.family} codec")
        model.eval().requires_grad_(False)
        _fix_mimi_codebook_cache(model)
        model.to(device)
        if self._dtype != torch.float32:
            model.to(self._dtype)
            _quantizer_in_float32(model.quantizer)
        self.model = model
        self.causal = bool(spec.settings.get("causal", False))
        self.hop = spec.hop_length
        self.channels = int(spec.settings.get("audio_channels", 1))
        self._bandwidth = self._pick_bandwidth()

    def _pick_bandwidth(self) -> float | None:
        """EnCodec / X-Codec choose codebooks by bandwidth: the smallest that yields >= N codebooks."""
        bandwidths = self.spec.settings.get("bandwidths")
        if not bandwidths:
            return None
        per_q = self.spec.frame_rate * np.ceil(np.log2(self.spec.codebook_sizes[0]))
        for bw in sorted(bandwidths):
            if int(max(1, np.floor(bw * 1000 / per_q))) >= self.num_codebooks:
                return bw
        return max(bandwidths)

    # -- batching rule
    def padded_length(self, num_samples: int) -> int:
        return -(-num_samples // self.hop) * self.hop

    def batch_key(self, num_samples: int) -> Hashable | None:
        return None if self.causal else self.padded_length(num_samples)

    # -- one model call
    def _encode_group(self, waveforms: list[np.ndarray]) -> list[np.ndarray]:
        torch = self._torch
        clips = [pad_to_multiple(w.astype(np.float32, copy=False), self.hop) for w in waveforms]
        batch, mask = stack_right_padded(clips)
        x = torch.from_numpy(batch)[:, None, :].to(self.device, self._dtype)
        m = torch.from_numpy(mask)[:, None, :].to(self.device)
        if self.channels == 2:  # a stereo model gets the mono clip on both channels
            x, m = x.expand(-1, 2, -1), m.expand(-1, 2, -1)
        n = self.num_codebooks
        with torch.inference_mode():
            fam = self.spec.family
            if fam == "mimi":
                codes = self.model.encode(x, padding_mask=m, num_quantizers=n, return_dict=True).audio_codes
            elif fam == "encodec":
                out = self.model.encode(x, padding_mask=m, bandwidth=self._bandwidth, return_dict=True)
                codes = out.audio_codes[0]  # one chunk: [B, n_q, frames]
            elif fam == "dac":
                codes = self.model.encode(x, n_quantizers=n, return_dict=True).audio_codes
            else:  # xcodec
                codes = self.model.encode(x, bandwidth=self._bandwidth, return_dict=True).audio_codes
            codes = codes[:, :n].to("cpu", torch.int64).numpy()
        out = []
        for i, c in enumerate(clips):
            frames = len(c) // self.hop if self.causal else codes.shape[-1]
            out.append(np.ascontiguousarray(codes[i, :, :frames]))
        return out


def _fix_mimi_codebook_cache(model) -> None:
    """Mimi caches `embed_sum / cluster_usage` on first use; drop any cache from before loading/moving."""
    for mod in model.modules():
        if hasattr(mod, "_embed") and hasattr(mod, "embed_sum"):
            mod._embed = None


def _quantizer_in_float32(quantizer) -> None:
    """Keep the RVQ in float32 and feed it float32 embeddings, whatever precision the encoder runs in."""
    quantizer.float()
    _fix_mimi_codebook_cache(quantizer)
    for method in ("encode", "forward"):
        orig = getattr(quantizer, method, None)
        if orig is None:
            continue

        def cast(embeddings, *args, _orig=orig, **kwargs):
            return _orig(embeddings.float(), *args, **kwargs)

        setattr(quantizer, method, cast)
