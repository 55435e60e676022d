"""The one interface every RVQ codec implements, and what the cache keys on.

Two layers, so that deciding what to do never costs a model load:

* `CodecSpec` — what a codec *is*: family, weights identity, input rate, frame rate, codebook sizes,
  precision. Built from `config.json` alone (no torch import), so `encode` can tell that a dataset is
  up to date, or which clips are already cached, in well under a second.
* `Codec` — a loaded model with a batched `encode(waveforms) -> [n_q, frames] per clip`.

The contract that makes the cache sound: **a clip's codes do not depend on what it was batched with,
up to float near-ties.** Each adapter either proves it (causal models under right zero-padding, checked
in the tests) or keeps it by construction: `batch_key(num_samples)` names the clips that may share one
model call, and `encode` splits a mixed batch into such groups itself, so a caller cannot break the rule
by accident.

"Up to float near-ties", precisely: in a batch, a clip goes through the same function as alone, but not
through the same floating-point operations. Kernels order their sums by batch shape and thread count
(EnCodec's LSTM gives a clip other last bits at batch 6 than at batch 1, on one CPU thread already), so
the vectors a clip feeds its RVQ agree with the ones it feeds it alone only to float rounding (up to
1.6e-6 of their scale on the tiny test codecs in float32 on CPU; more in half precision or on a GPU).
A code then differs only at a frame whose vector lies within that rounding of the boundary between two
codewords, where either code is a nearest one to the precision the model computes in. This is rare (on
the tiny test codecs a few frames in 10^4 for EnCodec and Mimi, none seen for DAC and X-Codec) and is the
same kind of difference a clip shows between thread counts, devices or library versions when encoded
alone, none of which the cache keys on. What is guaranteed, and what a batching bug would break: padding
and batch neighbours never move a clip's RVQ input by more than rounding, and never change a code other
than at such a tie (tests/codecs/test_codecs.py checks both, on 1 and 2 torch threads).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..audio.clips import SOXR_HQ
from ..core.errors import UserError
from ..core.fingerprints import stable_hash
from ..core.strict_loading import check_loading_info  # noqa: F401  (re-exported for the codec families)

# Bump when an adapter changes how codes are computed (padding, segmenting, precision handling):
# the version is part of every fingerprint, so old cache entries stop matching instead of mixing in.
ADAPTER_VERSION = 1

FAMILIES = ("mimi", "encodec", "dac", "xcodec", "mimo")


@dataclass(frozen=True)
class CodecSpec:
    """A codec resolved to exact weights and settings, without loading it."""

    family: str  # one of FAMILIES
    source: str  # what the user named: a hub id or a local directory
    path: str  # local directory holding config.json and the weights
    weights_id: str  # "hub:<repo>@<commit>" or "sha256:<hash of config + weight files>"
    sample_rate: int  # the rate the model takes; clips are resampled to it
    frame_rate: float  # code frames per second
    hop_length: int  # input samples per code frame
    codebook_sizes: tuple[int, ...]  # every codebook of the model, in RVQ order
    dtype: str = "float32"  # precision the encoder runs in (the nearest-code search stays float32)
    settings: dict[str, Any] = field(default_factory=dict)  # family-specific, part of the fingerprint

    @property
    def fingerprint(self) -> str:
        """Identity of the code-producing function: weights, family, adapter version, precision."""
        return stable_hash(
            {
                "family": self.family,
                "weights": self.weights_id,
                "dtype": self.dtype,
                "adapter": ADAPTER_VERSION,
                "settings": self.settings,
            },
            n=24,
        )

    def check_num_codebooks(self, n: int | None) -> int:
        from ..core.errors import UserError

        total = len(self.codebook_sizes)
        if n is None:
            return total
        if not 1 <= n <= total:
            raise UserError(
                f"--num-codebooks {n} is out of range: {self.family} ({self.source}) has {total} codebooks",
                fix=f"choose 1..{total}",
            )
        return n

    def codec_key(self, num_codebooks: int) -> str:
        """The cache key of (codec fingerprint, N, rate); readable prefix, hashed tail."""
        h = stable_hash({"fp": self.fingerprint, "n": num_codebooks, "rate": self.sample_rate}, n=16)
        return f"{self.family}-n{num_codebooks}-{self.sample_rate}-{h}"

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["codebook_sizes"] = list(self.codebook_sizes)
        d["fingerprint"] = self.fingerprint
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CodecSpec:
        d = {k: v for k, v in d.items() if k != "fingerprint"}
        d["codebook_sizes"] = tuple(d["codebook_sizes"])
        return cls(**d)


class Codec(ABC):
    """A loaded codec. Subclasses implement `_encode_group` for clips that may share one model call."""

    def __init__(self, spec: CodecSpec, num_codebooks: int, device: str = "cpu"):
        self.spec = spec
        self.num_codebooks = spec.check_num_codebooks(num_codebooks)
        self.device = device

    # -- facts
    @property
    def name(self) -> str:
        return self.spec.family

    @property
    def sample_rate(self) -> int:
        return self.spec.sample_rate

    @property
    def frame_rate(self) -> float:
        return self.spec.frame_rate

    @property
    def codebook_sizes(self) -> tuple[int, ...]:
        """Sizes of the codebooks kept (the first `num_codebooks`)."""
        return self.spec.codebook_sizes[: self.num_codebooks]

    @property
    def resampler(self) -> str:
        """How clips are brought to `sample_rate` (`audio.RESAMPLERS`): soxr unless the family's settings
        name its upstream's resampler (part of the fingerprint, so a change re-keys the cache)."""
        return str(self.spec.settings.get("resampler", SOXR_HQ))

    @property
    def fingerprint(self) -> str:
        return self.spec.fingerprint

    @property
    def codec_key(self) -> str:
        return self.spec.codec_key(self.num_codebooks)

    # -- batching rule
    def batch_key(self, num_samples: int) -> Hashable | None:
        """None: this clip may share a call with any clip. Otherwise only with clips of the same key."""
        return None

    def padded_length(self, num_samples: int) -> int:
        """Samples the clip occupies in a model call (before batch padding)."""
        return num_samples

    # -- encoding
    def encode(self, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Float32 mono clips at `sample_rate` -> int64 codes `[num_codebooks, frames]` per clip.

        Mixed batches are split by `batch_key`, so the result equals encoding one clip at a time, up to
        float near-ties (module docstring).
        """
        out: list[np.ndarray | None] = [None] * len(waveforms)
        groups: dict[Hashable, list[int]] = {}
        for i, w in enumerate(waveforms):
            if w.ndim != 1 or len(w) == 0:
                raise ValueError(f"clip {i}: expected a non-empty mono float array, got shape {w.shape}")
            groups.setdefault(("key", self.batch_key(len(w))), []).append(i)
        for idxs in groups.values():
            for i, codes in zip(idxs, self._encode_group([waveforms[i] for i in idxs])):
                out[i] = codes
        return out  # type: ignore[return-value]

    @abstractmethod
    def _encode_group(self, waveforms: list[np.ndarray]) -> list[np.ndarray]:
        """One model call over clips that share a batch key."""


def pad_to_multiple(x: np.ndarray, multiple: int) -> np.ndarray:
    """Zero-pad at the end to a whole number of `multiple` samples (a clip's canonical length)."""
    n = -(-len(x) // multiple) * multiple
    return x if n == len(x) else np.pad(x, (0, n - len(x)))


def stack_right_padded(clips: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """[B, L] zero-padded batch and its [B, L] validity mask."""
    length = max(len(c) for c in clips)
    batch = np.zeros((len(clips), length), dtype=np.float32)
    mask = np.zeros((len(clips), length), dtype=bool)
    for i, c in enumerate(clips):
        batch[i, : len(c)] = c
        mask[i, : len(c)] = True
    return batch, mask


def weights_dir(spec: CodecSpec) -> str:
    """The local folder holding the weights: a hub codec's full snapshot is fetched (or found in the
    HF cache) at the pinned commit here, on whichever machine loads it; resolution only read config.json."""
    if not spec.weights_id.startswith("hub:"):
        return spec.path
    repo, _, commit = spec.weights_id[len("hub:") :].rpartition("@")
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(repo, revision=commit)
    except Exception as e:  # noqa: BLE001 - offline without the weights cached, no network
        raise UserError(
            f"cannot fetch the weights of {repo}@{commit}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
            fix="go online once (unset HF_HUB_OFFLINE) or pass a local directory",
        ) from None
