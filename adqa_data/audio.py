"""The one audio loader of the toolkit: probe, decode, downmix, resample; and the test conditions.

Every stage that touches samples goes through `load_audio` (soundfile decode of wav/flac/ogg/mp3,
mono downmix, soxr resampling, float32). `probe_audio` reads a file's bytes once and learns everything
download records about it: content hash, true decoded length, rate, channels. It decodes the whole
stream because headers lie: libsndfile clamps a truncated WAV to what is there and an MP3's header
keeps its full frame count when the tail is cut.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .schema import QuarantineReason as R


class AudioError(Exception):
    """An audio file that cannot be used; `reason` is a quarantine reason code."""

    def __init__(self, reason: str, detail: str):
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True)
class AudioProbe:
    sha256: str
    duration_s: float
    sample_rate: int
    num_channels: int
    num_frames: int
    format: str


_BLOCK_FRAMES = 1 << 14
_BYTESIO_NAME = re.compile(r"<_io\.BytesIO object at 0x[0-9a-f]+>:?\s*")


def _clean(e: Exception) -> str:
    """libsndfile's message without the in-memory buffer's repr."""
    return _BYTESIO_NAME.sub("", str(e)).strip()


def _riff_truncation(data: bytes) -> str | None:
    """For RIFF/WAVE bytes: a message when the data chunk claims more bytes than the file holds."""
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX") or data[8:12] != b"WAVE":
        return None
    fmt = "<I" if data[:4] == b"RIFF" else ">I"
    pos = 12
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack(fmt, data[pos + 4 : pos + 8])
        if chunk_id == b"data":
            available = len(data) - pos - 8
            # 0xFFFFFFFF / 0 are "unknown length" markers written by streaming encoders
            if size not in (0, 0xFFFFFFFF) and size > available:
                return f"data chunk declares {size} bytes, file holds {available}"
            return None
        pos += 8 + size + (size & 1)
    return None


def probe_bytes(data: bytes) -> AudioProbe:
    """Probe audio held in memory. Raises AudioError with a quarantine reason."""
    import soundfile as sf

    if not data:
        raise AudioError(R.AUDIO_EMPTY, "file has zero bytes")
    sha = hashlib.sha256(data).hexdigest()
    truncated = _riff_truncation(data)
    if truncated:
        raise AudioError(R.AUDIO_TRUNCATED, truncated)
    decoded = 0
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            declared, rate, channels, fmt = f.frames, f.samplerate, f.channels, f.format
            while True:
                block = f.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)
                if len(block) == 0:
                    break
                decoded += len(block)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as e:
        # the header opened and some audio decoded before the stream broke: the file was cut short
        reason = R.AUDIO_TRUNCATED if decoded > 0 else R.AUDIO_UNREADABLE
        raise AudioError(reason, _clean(e)) from None
    if decoded == 0:
        raise AudioError(R.AUDIO_EMPTY, "no audio frames")
    # compressed formats may legitimately be off by a codec frame; a real cut loses far more
    if declared > 0 and decoded < declared * 0.98 and declared - decoded > 2048:
        raise AudioError(R.AUDIO_TRUNCATED, f"header declares {declared} frames, decoded {decoded}")
    return AudioProbe(sha, decoded / rate, int(rate), int(channels), int(decoded), str(fmt))


def probe_audio(path: str | Path) -> AudioProbe:
    """Read a file once and probe it (hash, decoded length, rate, channels)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise AudioError(R.AUDIO_MISSING, f"no such file: {path}") from None
    except IsADirectoryError:
        raise AudioError(R.AUDIO_UNREADABLE, f"is a directory: {path}") from None
    except OSError as e:
        raise AudioError(R.AUDIO_UNREADABLE, f"{path}: {e.strerror or e}") from None
    return probe_bytes(data)


def to_mono(x: np.ndarray) -> np.ndarray:
    """[frames, channels] or [frames] -> [frames], averaging channels."""
    return x if x.ndim == 1 else x.mean(axis=1, dtype=np.float32)


def resample(x: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    if orig_sr == target_sr:
        return np.ascontiguousarray(x, dtype=np.float32)
    import soxr

    return soxr.resample(x, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def decode(data: bytes | str | Path, sample_rate: int | None = None, mono: bool = True) -> tuple[np.ndarray, int]:
    """Decode bytes or a path to float32 samples at `sample_rate` (native when None)."""
    import soundfile as sf

    src = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else str(data)
    if isinstance(src, str) and not Path(src).is_file():
        raise AudioError(R.AUDIO_MISSING, f"no such file: {src}")
    try:
        x, sr = sf.read(src, dtype="float32", always_2d=False)
    except FileNotFoundError:
        raise AudioError(R.AUDIO_MISSING, f"no such file: {data}") from None
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as e:
        raise AudioError(R.AUDIO_UNREADABLE, _clean(e)) from None
    if x.size == 0:
        raise AudioError(R.AUDIO_EMPTY, "no audio frames")
    if mono:
        x = to_mono(x)
    if sample_rate is not None and sample_rate != sr:
        x, sr = resample(x, sr, sample_rate), sample_rate
    return np.ascontiguousarray(x, dtype=np.float32), int(sr)


def load_audio(path: str | Path, sample_rate: int, mono: bool = True) -> np.ndarray:
    """The loader every consumer uses: float32, mono by default, at the rate the consumer asks for."""
    return decode(Path(path), sample_rate=sample_rate, mono=mono)[0]


# ------------------------------------------------------------------------------ test-time conditions
def silence(seconds: float, sample_rate: int) -> np.ndarray:
    """Digital silence: the AudioMCQ paper's 'audio replaced' condition (30 s there)."""
    return np.zeros(int(round(seconds * sample_rate)), dtype=np.float32)


def noise(
    seconds: float, sample_rate: int, color: str = "white", level_dbfs: float = -30.0, seed: int = 0
) -> np.ndarray:
    """White or pink noise at an RMS level in dBFS, reproducible from `seed`."""
    n = int(round(seconds * sample_rate))
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(n)
    if color == "white":
        x = white
    elif color == "pink":
        # 1/f power: scale the spectrum by 1/sqrt(f)
        spec = np.fft.rfft(white)
        f = np.fft.rfftfreq(n, 1.0 / sample_rate)
        f[0] = f[1] if len(f) > 1 else 1.0
        x = np.fft.irfft(spec / np.sqrt(f), n)
    else:
        raise ValueError(f"noise color must be 'white' or 'pink', not {color!r}")
    rms = float(np.sqrt(np.mean(x**2))) or 1.0
    return (x * (10 ** (level_dbfs / 20) / rms)).astype(np.float32)
