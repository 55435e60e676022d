"""The one audio loader of the toolkit: probe, decode, downmix, resample; and the test conditions.

Every stage that touches samples goes through `decode` (soundfile decode of wav/flac/ogg/mp3, mono
downmix, resampling, float32). Resampling is soxr's HQ filter (`SOXR_HQ`) for every consumer except a
codec whose upstream trained on another resampler's output and names it in its settings: the
MiMo-Audio tokenizer reads `torchaudio.functional.resample`'s windowed sinc (`TORCHAUDIO_SINC`,
`sinc_resample.py`), so its clips are resampled exactly that way (docs/data.md#resampling).

`probe_audio` streams a file once, block by block, and learns everything download records about it:
content hash, true decoded length, rate, channels. It decodes the whole stream because headers lie:
libsndfile clamps a truncated WAV to what is there and an MP3's header keeps its full frame count when
the tail is cut. Only regular files are opened (a FIFO would block a
reader forever), and audio longer than a limit is refused from its header before it is read.

Stages after download read an item's clip with `read_item_audio`: the same path confinement as download,
and the bytes must still hash to what download recorded, else the item is quarantined with the reason.
Samples that are inf, NaN or absurdly large are refused (`audio_nonfinite`) by the probe, block by block, and by every
decode, so a clip that slipped in before the check (or through `decode` directly) is refused where read.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..core.errors import UserError
from ..core.schema import QuarantineReason as R

SOXR_HQ = "soxr_hq"  # soxr.resample(..., quality="HQ"): the default for every consumer
TORCHAUDIO_SINC = "torchaudio_sinc"  # torchaudio.functional.resample's defaults (sinc_resample.py)
RESAMPLERS = (SOXR_HQ, TORCHAUDIO_SINC)


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
_HASH_BLOCK = 1 << 20
_UNKNOWN_FRAMES = 1 << 62  # libsndfile reports about SF_COUNT_MAX frames when a stream's length is unknown
# an object's default repr: libsndfile names the file object it read ("Error opening <... at 0x7f...>")
_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")
_ADDRESS = re.compile(r"\s+at 0x[0-9a-fA-F]+")


def stable_detail(text: str) -> str:
    """A message as a quarantine `detail`: the same on every run, so object reprs and memory addresses
    are taken out ("Error opening <_HashingReader object at 0x7f...>" -> "Error opening the file")."""
    return _ADDRESS.sub("", _OBJECT_REPR.sub("the file", text)).strip()


def _clean(e: Exception) -> str:
    """libsndfile's message without the repr of the file object it read."""
    return stable_detail(str(e))


def _riff_truncation(read_at: Callable[[int, int], bytes], size: int) -> str | None:
    """For RIFF/WAVE data: a message when the data chunk claims more bytes than the file holds.
    Reads only the chunk headers (`read_at(offset, n)`), never the audio."""
    head = read_at(0, 12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
        return None
    fmt = "<I" if head[:4] == b"RIFF" else ">I"
    pos = 12
    while pos + 8 <= size:
        chunk = read_at(pos, 8)
        if len(chunk) < 8:
            return None
        chunk_id = chunk[:4]
        (chunk_size,) = struct.unpack(fmt, chunk[4:8])
        if chunk_id == b"data":
            available = size - pos - 8
            # 0xFFFFFFFF / 0 are "unknown length" markers written by streaming encoders
            if chunk_size not in (0, 0xFFFFFFFF) and chunk_size > available:
                return f"data chunk declares {chunk_size} bytes, file holds {available}"
            return None
        pos += 8 + chunk_size + (chunk_size & 1)
    return None


class _HashingReader(io.RawIOBase):
    """A seekable read-only view of a file that hashes its bytes as the decoder reads them.

    Decoders read mostly front to back; bytes they skip or never reach are hashed by `hexdigest`, so the
    hash is always the whole file's while the file is read about once and held one block at a time."""

    def __init__(self, f: BinaryIO, size: int):
        super().__init__()
        self._f, self._size, self._pos, self._hashed = f, size, 0, 0
        self._h = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buf) -> int:  # type: ignore[override]
        self._f.seek(self._pos)
        n = self._f.readinto(buf) or 0
        end = self._pos + n
        if self._pos <= self._hashed < end:
            self._h.update(memoryview(buf)[self._hashed - self._pos : n])
            self._hashed = end
        self._pos = end
        return n

    def read_at(self, offset: int, n: int) -> bytes:
        """Bytes at `offset` without hashing them (header peeks)."""
        self._f.seek(offset)
        return self._f.read(n)

    def hexdigest(self) -> str:
        self._f.seek(self._hashed)
        while block := self._f.read(_HASH_BLOCK):
            self._h.update(block)
            self._hashed += len(block)
        return self._h.hexdigest()


def _probe_stream(f: BinaryIO, size: int, max_seconds: float | None) -> AudioProbe:
    import soundfile as sf

    if size == 0:
        raise AudioError(R.AUDIO_EMPTY, "file has zero bytes")
    reader = _HashingReader(f, size)
    truncated = _riff_truncation(reader.read_at, size)
    if truncated:
        raise AudioError(R.AUDIO_TRUNCATED, truncated)
    decoded = 0
    try:
        with sf.SoundFile(reader) as snd:
            declared, rate, channels, fmt = snd.frames, snd.samplerate, snd.channels, snd.format
            limit = None if max_seconds is None else int(max_seconds * rate)
            if limit is not None and 0 < declared < _UNKNOWN_FRAMES and declared > limit:
                raise AudioError(
                    R.AUDIO_TOO_LONG,
                    f"header declares {declared / rate:.1f} s, the limit is "
                    f"{max_seconds:g} s (--max-audio-seconds)",
                )
            while True:
                block = snd.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)
                if len(block) == 0:
                    break
                decoded += len(block)
                _check_finite(block, decoded - len(block), rate)
                if limit is not None and decoded > limit:
                    raise AudioError(
                        R.AUDIO_TOO_LONG, f"longer than the limit of {max_seconds:g} s (--max-audio-seconds)"
                    )
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as e:
        # the header opened and some audio decoded before the stream broke: the file was cut short
        reason = R.AUDIO_TRUNCATED if decoded > 0 else R.AUDIO_UNREADABLE
        raise AudioError(reason, _clean(e)) from None
    if decoded == 0:
        raise AudioError(R.AUDIO_EMPTY, "no audio frames")
    # compressed formats may legitimately be off by a codec frame; a real cut loses far more
    if 0 < declared < _UNKNOWN_FRAMES and decoded < declared * 0.98 and declared - decoded > 2048:
        raise AudioError(R.AUDIO_TRUNCATED, f"header declares {declared} frames, decoded {decoded}")
    return AudioProbe(reader.hexdigest(), decoded / rate, int(rate), int(channels), int(decoded), str(fmt))


# Float audio is scaled to full scale 1; a float file may hold any value. Past this (60 dB over full scale)
# a sample is no recording but a poisoned or mis-scaled file: squared into a power spectrum it overflows
# float16/bfloat16 features (and float32 from 1e19), so it is refused with inf and NaN.
MAX_ABS_SAMPLE = 1000.0


def _check_finite(x: np.ndarray, offset: int, rate: int) -> None:
    """Refuse samples that are inf or NaN (float WAV/FLAC can hold them), or beyond `MAX_ABS_SAMPLE`:
    they pass every length check and turn a model's features, codes and gradients into inf or NaN.
    `offset`: the frame `x` starts at."""
    finite = np.isfinite(x) & (np.abs(x) <= MAX_ABS_SAMPLE)
    if not finite.all():
        first = int(np.argmin(finite.all(axis=1) if finite.ndim == 2 else finite))
        raise AudioError(
            R.AUDIO_NONFINITE,
            f"{int(finite.size - finite.sum())} sample(s) are "
            f"{'inf or NaN' if not np.isfinite(x).all() else f'beyond {MAX_ABS_SAMPLE:g} times full scale'}"
            ", the first at "
            f"{(offset + first) / rate:.3f} s",
        )


def probe_bytes(data: bytes, max_seconds: float | None = None) -> AudioProbe:
    """Probe audio held in memory. Raises AudioError with a quarantine reason."""
    return _probe_stream(io.BytesIO(data), len(data), max_seconds)


def open_regular_file(path: str | Path) -> BinaryIO:
    """Open a file for reading only if it is a regular file (after links): a FIFO, a device or a folder is
    refused without blocking (opened non-blocking, checked with fstat on the open descriptor)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise AudioError(R.AUDIO_MISSING, f"no such file: {path}") from None
    except ValueError as e:  # an embedded NUL byte
        raise AudioError(R.BAD_FIELD, f"{path!r}: {e}") from None
    except OSError as e:
        raise AudioError(R.AUDIO_UNREADABLE, f"{path}: {e.strerror or e}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = (
            "a folder"
            if stat.S_ISDIR(mode)
            else "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "not a regular file"
        )
        raise AudioError(R.AUDIO_NOT_A_FILE, f"{path} is {kind}, not a regular file")
    return os.fdopen(fd, "rb")


def probe_audio(path: str | Path, max_seconds: float | None = None) -> AudioProbe:
    """Probe a regular file (hash, decoded length, rate, channels), streaming it block by block: memory
    stays one block whatever the file's size; `max_seconds` refuses longer audio (declared or decoded)."""
    with open_regular_file(path) as f:
        try:
            return _probe_stream(f, os.fstat(f.fileno()).st_size, max_seconds)
        except OSError as e:
            raise AudioError(R.AUDIO_UNREADABLE, f"{path}: {e.strerror or e}") from None


def _open_item_audio(root: str | Path, audio_path: str) -> BinaryIO:
    """Open an item's file with download's confinement: inside the root lexically and through links, and
    a regular file. Raises AudioError with the quarantine reason."""
    from ..sources.base import RowError, escapes_root, safe_relative_path

    try:
        rel = safe_relative_path(audio_path)
    except RowError as e:
        raise AudioError(e.reason, e.detail) from None
    path = Path(root) / rel
    if escapes_root(path, os.path.realpath(root)):
        raise AudioError(
            R.LINK_ESCAPES_ROOT, f"audio path {audio_path!r} is a link that resolves outside the root"
        )
    return open_regular_file(path)


def _check_hash(f: BinaryIO, sha256: str, audio_path: str) -> None:
    actual = _HashingReader(f, os.fstat(f.fileno()).st_size).hexdigest()
    if actual != sha256:
        raise AudioError(
            R.AUDIO_CHANGED,
            f"{audio_path}: sha256 is {actual[:16]}..., the item table has "
            f"{sha256[:16]}... (changed since download)",
        )


def verify_item_audio(root: str | Path, audio_path: str, sha256: str) -> None:
    """Check, without decoding, that an item's file is still the one download recorded: confined to the
    root, a regular file, same sha256 (streamed). Raises AudioError with the quarantine reason."""
    with _open_item_audio(root, audio_path) as f:
        _check_hash(f, sha256, audio_path)


def read_item_audio(
    root: str | Path,
    audio_path: str,
    sha256: str,
    sample_rate: int,
    mono: bool = True,
    resampler: str = SOXR_HQ,
) -> np.ndarray:
    """The clip of an item, exactly as download recorded it, for any later stage (encode, filter, rollout).

    The same checks as download, at the moment of reading: the path stays inside the dataset root
    (lexically and through links), it is a regular file, and its bytes still hash to `sha256` (hashed
    while streaming, before anything is decoded). Raises AudioError with the quarantine reason."""
    with _open_item_audio(root, audio_path) as f:
        _check_hash(f, sha256, audio_path)
        f.seek(0)
        return decode(f, sample_rate=sample_rate, mono=mono, resampler=resampler)[0]


def read_failure(e: AudioError, what: str, where: str) -> UserError:
    """The error that stops a run whose clip, checked before the run (hash, path), fails when it is read:
    changed during the run, or inf/NaN samples in an item table from before download refused them."""
    if e.reason == R.AUDIO_NONFINITE:
        return UserError(
            f"{what}: its clip cannot be used ({e.reason}: {e.detail})",
            where=where,
            fix="rerun 'adqa-data download --force': it quarantines such audio",
        )
    return UserError(
        f"{what}: its clip changed during the run ({e.reason}: {e.detail})",
        where=where,
        fix="rerun: the item will be quarantined with that reason",
    )


def to_mono(x: np.ndarray) -> np.ndarray:
    """[frames, channels] or [frames] -> [frames], averaging channels."""
    return x if x.ndim == 1 else x.mean(axis=1, dtype=np.float32)


def resample(x: np.ndarray, orig_sr: int, target_sr: int, resampler: str = SOXR_HQ) -> np.ndarray:
    """Float32 samples from `orig_sr` to `target_sr` with the named resampler (one of `RESAMPLERS`)."""
    if resampler not in RESAMPLERS:
        raise ValueError(f"unknown resampler {resampler!r}: one of {', '.join(RESAMPLERS)}")
    if orig_sr == target_sr:
        return np.ascontiguousarray(x, dtype=np.float32)
    if resampler == TORCHAUDIO_SINC:
        from .sinc_resample import sinc_resample

        try:
            return sinc_resample(x, orig_sr, target_sr)
        except ValueError as e:  # a rate whose kernel would not fit in memory: this clip cannot be used
            raise AudioError(R.AUDIO_UNREADABLE, str(e)) from None
    import soxr

    return soxr.resample(x, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def decode(
    data: bytes | str | Path | BinaryIO,
    sample_rate: int | None = None,
    mono: bool = True,
    resampler: str = SOXR_HQ,
) -> tuple[np.ndarray, int]:
    """Decode bytes, a path or an open binary file to float32 samples at `sample_rate` (native when None),
    resampled with `resampler`."""
    import soundfile as sf

    if isinstance(data, (bytes, bytearray, memoryview)):
        src: Any = io.BytesIO(data)
    elif isinstance(data, (str, Path)):
        src = str(data)
    else:
        src = data
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
    _check_finite(x, 0, int(sr))
    if mono:
        x = to_mono(x)
    if sample_rate is not None and sample_rate != sr:
        x, sr = resample(x, sr, sample_rate, resampler), sample_rate
    return np.ascontiguousarray(x, dtype=np.float32), int(sr)


def load_audio(path: str | Path, sample_rate: int, mono: bool = True, resampler: str = SOXR_HQ) -> np.ndarray:
    """The loader every consumer uses: float32, mono by default, at the rate the consumer asks for."""
    return decode(Path(path), sample_rate=sample_rate, mono=mono, resampler=resampler)[0]


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
