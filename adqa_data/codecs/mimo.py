"""The MiMo-Audio tokenizer (XiaomiMiMo/MiMo-Audio) behind the `Codec` interface.

This adapter reproduces upstream's `MimoAudio.preprocess_input` (src/mimo_audio/mimo_audio.py at
691ce54) exactly, calling upstream's own model code for the network. Every front-end number comes from
the tokenizer's `config.json` (`mimo_facts`), as upstream reads it; the released XiaomiMiMo/
MiMo-Audio-Tokenizer config gives the values below. (Upstream's `MiMoAudioTokenizerConfig` class
defaults — nfft 1024, window 1024, 80 mels, 12 quantizers, avg_pooler 1 — are not the released model's.)

1. mono float32 at 24 kHz, resampled as upstream does, with `torchaudio.functional.resample`'s
   windowed sinc (`Codec.resampler` is `audio.TORCHAUDIO_SINC`; the kernel is reimplemented in
   `sinc_resample.py`, since torchaudio cannot be installed next to a CPU torch, and checked against
   real torchaudio's output);
2. log-mel: torchaudio `MelSpectrogram(sample_rate=24000, n_fft=960, hop_length=240, win_length=960,
   f_min=0, f_max=None, n_mels=128, power=1.0, center=True)` (Hann window, reflect padding, HTK mel
   scale, no filter normalisation), then `log(clip(mel, 1e-7))` — reimplemented here in plain torch and
   tested against real torchaudio's output and an independent numpy reference;
3. the mel frames cut into segments of 6000 (60 s), packed, and passed to
   `tokenizer.encoder.encode(input_features, input_lens, return_codes_only=True)`;
4. codes `[n_q, frames]` at 25 Hz (hop 240, conv stride 2, average pooling 2); the released tokenizer
   has 20 RVQ layers (codebooks 1024, 1024, then 128 x 18); the first N are kept (the LM reads 8:
   1024, 1024, 128 x 6, so `encode` keeps 8 by default);
5. frames padded to a multiple of 4 (the LM's group size) by repeating the last frame.

Exact batching. Upstream's encoder unpacks segments into a zero-padded batch for its convolutions and
its 2x pooling, so a segment's last frame depends on whether it is the longest in its call. Upstream
encodes one file per call; to reproduce that, only clips with the same number of mel frames share a
call here (`batch_key`), which gives every segment the same neighbours-in-length as alone. Clips over
256,000 mel frames (42 min; upstream regroups those) are encoded alone with upstream's grouping.

Upstream code and weights: the model code needs `flash-attn` (CUDA). It is loaded from an importable
`mimo_audio_tokenizer` package, or from a checkout named by `ADQA_MIMO_AUDIO_SRC`.
"""

from __future__ import annotations

import importlib
import math
import os
import sys
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.clips import TORCHAUDIO_SINC
from ..core.errors import UserError, require
from .base import Codec, CodecSpec, check_loading_info, weights_dir

SEGMENT_FRAMES = 6000  # upstream preprocess_input: segment_size
MAX_PACKED_FRAMES = 256_000  # upstream encode_batch: max_length
GROUP_SIZE = 4  # MiMo-Audio LM config group_size: frames per LM step
LM_CODEBOOKS = 8  # MiMo-Audio LM config audio_channels
LOG_FLOOR = 1e-7

INSTALL_HELP = (
    "git clone https://github.com/XiaomiMiMo/MiMo-Audio && pip install -r MiMo-Audio/requirements.txt "
    "flash-attn==2.7.4.post1 (needs a CUDA GPU), then export ADQA_MIMO_AUDIO_SRC=$PWD/MiMo-Audio; "
    "weights: hf download XiaomiMiMo/MiMo-Audio-Tokenizer --local-dir models/MiMo-Audio-Tokenizer and "
    "--codec mimo:models/MiMo-Audio-Tokenizer"
)


# ------------------------------------------------------------------------------------------ config
def mimo_facts(cfg: dict[str, Any]) -> dict[str, Any]:
    """Rate, frame rate, codebooks and front end from the tokenizer's config.json; a key it lacks takes
    upstream's `MiMoAudioTokenizerConfig` default, as upstream's loader does. The resampler is
    upstream's (torchaudio's sinc), recorded in the settings so that it is part of the fingerprint."""
    sr = int(cfg.get("sampling_rate", 24000))
    hop = int(cfg.get("hop_length", 240))
    stride = int(cfg.get("stride_size", 2))
    pool = int(cfg.get("avg_pooler", 1))
    n_q = int(cfg.get("num_quantizers", 12))
    sizes = cfg.get("codebook_size") or [1024]
    sizes = [int(s) for s in (sizes if isinstance(sizes, list) else [sizes])]
    if len(sizes) < n_q:  # upstream's quantizer repeats a short list's last size
        sizes = sizes + [sizes[-1]] * (n_q - len(sizes))
    mel = {
        "sample_rate": sr,
        "n_fft": int(cfg.get("nfft", 1024)),
        "hop_length": hop,
        "win_length": int(cfg.get("window_size", 1024)),
        "n_mels": int(cfg.get("n_mels", 80)),
        "f_min": float(cfg.get("fmin", 0) or 0),
        "f_max": None if cfg.get("fmax") is None else float(cfg["fmax"]),
    }
    settings = {
        "resampler": TORCHAUDIO_SINC,
        "mel": mel,
        "segment_frames": SEGMENT_FRAMES,
        "max_packed_frames": MAX_PACKED_FRAMES,
        "group_size": GROUP_SIZE,
        "kernel_size": int(cfg.get("kernel_size", 3)),
        "stride_size": stride,
        "avg_pooler": pool,
    }
    frame_hop = hop * stride * pool
    return {
        "sample_rate": sr,
        "frame_rate": sr / frame_hop,
        "hop_length": frame_hop,
        "codebook_sizes": sizes[:n_q],
        "settings": settings,
    }


# ------------------------------------------------------------------------------------------ front end
def mel_frames(num_samples: int, hop_length: int = 240) -> int:
    """Frames of a centred STFT: one per hop, plus one."""
    return num_samples // hop_length + 1


def segment_lengths(frames: int, segment: int = SEGMENT_FRAMES) -> list[int]:
    """Upstream's cut of a clip's mel frames: full segments, then the remainder."""
    out = [segment] * (frames // segment)
    if frames % segment:
        out.append(frames % segment)
    return out


def encoder_frames(mel_len: int, kernel_size: int = 3, stride: int = 2, pool: int = 2) -> int:
    """Code frames the encoder emits for one segment (upstream get_output_length, then the pooler)."""
    n = mel_len + 3 - kernel_size
    n = (n + 2 - kernel_size) // stride + 1
    return -(-n // pool) if pool > 1 else n


def pad_to_group(codes: np.ndarray, group: int = GROUP_SIZE) -> np.ndarray:
    """[n_q, frames] -> frames padded to a multiple of `group` by repeating the last frame."""
    frames = codes.shape[1]
    if frames % group == 0:
        return codes
    extra = group - frames % group
    return np.concatenate([codes, np.repeat(codes[:, -1:], extra, axis=1)], axis=1)


def _hz_to_mel(f: float) -> float:
    return 2595.0 * math.log10(1.0 + f / 700.0)


def mel_filterbank(n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: int):
    """torchaudio.functional.melscale_fbanks(..., norm=None, mel_scale='htk'): [n_freqs, n_mels]."""
    import torch

    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)
    m_pts = torch.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2)
    f_pts = 700.0 * (10.0 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return torch.max(torch.zeros(1), torch.min(down, up))


class LogMel:
    """Upstream's `wav2mel`: torchaudio MelSpectrogram(power=1, center=True) then log(clip(., 1e-7)).
    Defaults: the released tokenizer's front end (the codec passes its config's values)."""

    def __init__(
        self,
        sample_rate: int = 24000,
        n_fft: int = 960,
        hop_length: int = 240,
        win_length: int = 960,
        n_mels: int = 128,
        f_min: float = 0.0,
        f_max: float | None = None,
        device: str = "cpu",
    ):
        import torch

        self.torch = torch
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length
        f_max = float(sample_rate // 2) if f_max is None else f_max
        self.fb = mel_filterbank(n_fft // 2 + 1, f_min, f_max, n_mels, sample_rate).to(device)
        self.window = torch.hann_window(win_length).to(device)
        self.device = device

    def __call__(self, wav: np.ndarray):
        """[samples] float32 -> [frames, n_mels] float32 tensor on the device."""
        torch = self.torch
        x = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)).to(self.device)
        spec = torch.stft(
            x,
            self.n_fft,
            self.hop_length,
            self.win_length,
            self.window,
            center=True,
            pad_mode="reflect",
            normalized=False,
            onesided=True,
            return_complex=True,
        ).abs()
        mel = torch.matmul(spec.transpose(-1, -2), self.fb)  # [frames, n_mels]
        return torch.log(torch.clip(mel, min=LOG_FLOOR))


# ------------------------------------------------------------------------------------------ upstream
def import_upstream():
    """The upstream `mimo_audio_tokenizer` module, or a UserError saying how to install it."""
    src = os.environ.get("ADQA_MIMO_AUDIO_SRC")
    if src:
        root = Path(src).expanduser()
        for cand in (root / "src", root):
            if (cand / "mimo_audio_tokenizer").is_dir() and str(cand) not in sys.path:
                sys.path.insert(0, str(cand))
                break
    try:
        return importlib.import_module("mimo_audio_tokenizer")
    except ImportError as e:
        missing = getattr(e, "name", None) or str(e)
        why = (
            "the MiMo-Audio tokenizer code needs flash-attn (a CUDA GPU)"
            if missing and "flash_attn" in missing
            else f"the MiMo-Audio tokenizer code is not importable ({missing})"
        )
        raise UserError(why, fix=INSTALL_HELP) from None


class MiMoAudioCodec(Codec):
    def __init__(self, spec: CodecSpec, num_codebooks: int, device: str = "cpu"):
        super().__init__(spec, num_codebooks, device)
        torch = require("torch", "models", "encoding audio with the MiMo-Audio tokenizer")
        self._torch = torch
        upstream = import_upstream()
        path = weights_dir(spec)
        load = upstream.MiMoAudioTokenizer.from_pretrained
        if _takes_keyword(load, "output_loading_info"):  # upstream's is transformers' from_pretrained: strict
            model, info = load(path, output_loading_info=True)
            check_loading_info(info, path, "MiMo-Audio tokenizer")
        else:
            model = load(path)
        # upstream: .eval().bfloat16().to(device)
        model = model.eval().to(getattr(torch, spec.dtype)).to(device)
        self.model = model
        s = spec.settings
        self.mel = LogMel(**s["mel"], device=device)
        self.mel_hop = int(s["mel"]["hop_length"])
        self.segment = int(s["segment_frames"])
        self.max_packed = int(s["max_packed_frames"])
        self.group = int(s["group_size"])

    # -- batching rule: equal mel lengths only (see the module docstring)
    def batch_key(self, num_samples: int) -> Hashable:
        return mel_frames(num_samples, self.mel_hop)

    def padded_length(self, num_samples: int) -> int:
        return num_samples

    def _encode_group(self, waveforms: list[np.ndarray]) -> list[np.ndarray]:
        mels = [self.mel(w) for w in waveforms]
        if mels[0].shape[0] > self.max_packed:
            return [self._encode_long(m) for m in mels]
        return self._encode_call(mels)

    def _encode_call(self, mels: list) -> list[np.ndarray]:
        """One encoder call over the segments of several clips; codes split back per clip."""
        torch = self._torch
        lens: list[int] = []
        owners: list[int] = []
        for i, m in enumerate(mels):
            for n in segment_lengths(int(m.shape[0]), self.segment):
                lens.append(n)
                owners.append(i)
        codes, out_lens = self._encode_segments(torch.cat(mels, dim=0), lens)
        per_clip: list[list[np.ndarray]] = [[] for _ in mels]
        start = 0
        for owner, n in zip(owners, out_lens):
            per_clip[owner].append(codes[:, start : start + n])
            start += n
        if start != codes.shape[1]:
            raise RuntimeError(
                f"MiMo encoder returned {codes.shape[1]} frames, segment lengths sum to {start}"
            )
        return [pad_to_group(np.concatenate(parts, axis=1), self.group) for parts in per_clip]

    def _encode_long(self, mel) -> np.ndarray:
        """A clip over `max_packed` mel frames: upstream's encode_batch grouping, one call per group."""
        lens = segment_lengths(int(mel.shape[0]), self.segment)
        groups: list[list[int]] = [[]]
        total = 0
        for n in lens:
            if total + n > self.max_packed and total > 0:
                groups.append([])
                total = 0
            groups[-1].append(n)
            total += n
        parts, offset = [], 0
        for g in groups:
            size = sum(g)
            sub = mel[offset : offset + size]
            offset += size
            parts.append(self._encode_segments(sub, g)[0])
        return pad_to_group(np.concatenate(parts, axis=1), self.group)

    def _encode_segments(self, packed, lens: list[int]) -> tuple[np.ndarray, list[int]]:
        """One encoder call over packed mel segments of lengths `lens`: the codes `[num_codebooks,
        frames]` and the code frames each segment gave."""
        torch = self._torch
        with torch.no_grad():
            codes, out_lens = self.model.encoder.encode(
                input_features=packed.to(self.device),
                input_lens=torch.tensor(lens).to(self.device),
                return_codes_only=True,
                n_q=self.num_codebooks,
            )
        return codes[: self.num_codebooks].to("cpu", torch.int64).numpy(), [int(n) for n in out_lens.tolist()]


def _takes_keyword(fn, name: str) -> bool:
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
