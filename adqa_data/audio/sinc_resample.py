"""torchaudio's windowed-sinc resampler (`torchaudio.functional.resample`, its defaults) in plain torch.

Why: MiMo-Audio upstream (XiaomiMiMo/MiMo-Audio at 691ce54, `MimoAudio.resample_audio_if_needed`)
resamples every clip that is not at 24 kHz with `torchaudio.functional.resample(wav, sr, 24000)`:
a Hann-windowed sinc, `lowpass_filter_width=6`, `rolloff=0.99`, computed in the waveform's dtype
(float32: `torchaudio.load` returns float32). The tokenizer then saw those samples in training, so
codes made from another resampler's output (soxr's) differ from what the model was trained on. The
registry's torchaudio is CUDA-linked and cannot be installed beside a CPU torch, so the same kernel is
written here, operation for operation, in the same order and dtype; `tests/audio/test_sinc_resample.py`
checks it against outputs of real torchaudio (`tests/fixtures/torchaudio/`).

The kernel and its application follow torchaudio's `_get_sinc_resample_kernel` and
`_apply_sinc_resample_kernel` (torchaudio/functional/functional.py, pytorch/audio, BSD 2-Clause
licence, Copyright (c) 2017 Facebook Inc. (Soumith Chintala)), restricted to the defaults upstream uses.
One detail kept on purpose: the output length is `ceil(new * length / orig)` taken in float32, as
torchaudio computes it, so very long clips get exactly torchaudio's length.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

LOWPASS_FILTER_WIDTH = 6  # torchaudio.functional.resample defaults, the ones upstream calls it with
ROLLOFF = 0.99
# a kernel larger than this (rates with a tiny common divisor, e.g. 44,101 Hz -> 24 kHz: ~10^9 weights)
# is refused rather than allocated; every common rate needs under 10^5
MAX_KERNEL_WEIGHTS = 1 << 26


def reduced_rates(orig_sr: int, target_sr: int) -> tuple[int, int]:
    """The two rates divided by their greatest common divisor (the kernel's period in and out)."""
    g = math.gcd(int(orig_sr), int(target_sr))
    return int(orig_sr) // g, int(target_sr) // g


def kernel_weights(orig_sr: int, target_sr: int) -> int:
    """Weights of the kernel from `orig_sr` to `target_sr`: new * (2 * width + orig)."""
    orig, new = reduced_rates(orig_sr, target_sr)
    base = min(orig, new) * ROLLOFF
    width = math.ceil(LOWPASS_FILTER_WIDTH * orig / base)
    return new * (2 * width + orig)


@lru_cache(maxsize=16)
def sinc_kernel(orig: int, new: int) -> tuple[Any, int]:
    """torchaudio's `_get_sinc_resample_kernel` for reduced rates `orig` -> `new`, float32, Hann window:
    ([new, 1, 2 * width + orig] kernel, width). Cached: a dataset has a handful of rates."""
    import torch

    dtype = torch.float32
    w = LOWPASS_FILTER_WIDTH
    base_freq = min(orig, new) * ROLLOFF
    width = math.ceil(w * orig / base_freq)
    idx = torch.arange(-width, width + orig, dtype=dtype)[None, None] / orig
    t = torch.arange(0, -new, -1, dtype=dtype)[:, None, None] / new + idx
    t *= base_freq
    t = t.clamp_(-w, w)
    window = torch.cos(t * math.pi / w / 2) ** 2
    t *= math.pi
    scale = base_freq / orig
    kernels = torch.where(t == 0, torch.tensor(1.0).to(t), t.sin() / t)
    kernels *= window * scale
    return kernels, width


def sinc_resample(x: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Mono float32 samples at `orig_sr` -> float32 at `target_sr`, as `torchaudio.functional.resample`
    with its defaults returns them for a float32 waveform."""
    import torch

    wav = np.ascontiguousarray(x, dtype=np.float32)
    if orig_sr == target_sr:
        return wav
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    weights = kernel_weights(orig_sr, target_sr)
    if weights > MAX_KERNEL_WEIGHTS:
        raise ValueError(
            f"resampling {orig_sr} Hz to {target_sr} Hz needs a sinc kernel of {weights:,} weights "
            f"(the rates share a divisor of only {math.gcd(orig_sr, target_sr)})"
        )
    orig, new = reduced_rates(orig_sr, target_sr)
    kernel, width = sinc_kernel(orig, new)
    length = wav.shape[-1]
    with torch.no_grad():
        padded = torch.nn.functional.pad(torch.from_numpy(wav)[None], (width, width + orig))
        out = torch.nn.functional.conv1d(padded[:, None], kernel, stride=orig)
        out = out.transpose(1, 2).reshape(-1)
    target_length = int(np.ceil(np.float32(new * length / orig)))  # torchaudio: ceil of a float32 tensor
    return out[:target_length].numpy()
