"""Decoding, probing and generating clips: formats and subtypes, hostile headers, silence and noise as the filter's conditions."""

import io

import numpy as np
import pytest
import soundfile as sf

from adqa_data.audio.clips import AudioError, decode, load_audio, noise, probe_bytes, silence


def _wav(x, sr, fmt="WAV", subtype="PCM_16"):
    b = io.BytesIO()
    sf.write(b, x, sr, format=fmt, subtype=subtype)
    return b.getvalue()


def test_load_audio_downmixes_and_resamples(tmp_path):
    sr = 44100
    t = np.arange(sr) / sr
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([left, -left * 0 + left], axis=1).astype(np.float32)
    p = tmp_path / "a.flac"
    sf.write(str(p), stereo, sr)
    y = load_audio(p, 16000)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) * 16000 / len(y) - 440) < 2  # pitch survives resampling


def test_probe_reports_true_length_and_hash():
    x = np.zeros(8000, dtype=np.float32)
    data = _wav(x, 8000)
    p = probe_bytes(data)
    assert (p.num_frames, p.sample_rate, p.num_channels, p.duration_s) == (8000, 8000, 1, 1.0)
    import hashlib

    assert p.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    "cut,reason", [(0, "audio_empty"), (30, "audio_unreadable"), (None, "audio_truncated")]
)
def test_probe_refuses_bad_bytes(cut, reason):
    data = _wav(np.ones(16000, dtype=np.float32) * 0.1, 16000)
    bad = data[: len(data) // 2] if cut is None else (b"" if cut == 0 else b"not audio at all" * 2)
    with pytest.raises(AudioError) as e:
        probe_bytes(bad)
    assert e.value.reason == reason


def test_decode_unreadable_is_audio_error(tmp_path):
    p = tmp_path / "x.wav"
    p.write_bytes(b"garbage" * 10)
    with pytest.raises(AudioError, match="audio_unreadable"):
        decode(p)
    with pytest.raises(AudioError, match="audio_missing"):
        load_audio(tmp_path / "nope.wav", 16000)


def test_conditions():
    assert not silence(30, 16000).any() and len(silence(30, 16000)) == 480000
    w = noise(2, 16000, "white", -20, seed=1)
    assert np.isclose(20 * np.log10(np.sqrt(np.mean(w**2))), -20, atol=0.01)
    assert np.array_equal(w, noise(2, 16000, "white", -20, seed=1))
    pink = noise(4, 16000, "pink", -20, seed=1)
    spec = np.abs(np.fft.rfft(pink)) ** 2
    f = np.fft.rfftfreq(len(pink), 1 / 16000)
    low, high = spec[(f > 50) & (f < 200)].mean(), spec[(f > 3200) & (f < 6400)].mean()
    assert low > 10 * high  # 1/f: far more power at low frequencies
