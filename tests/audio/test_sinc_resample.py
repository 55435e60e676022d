"""The MiMo-Audio codec resamples as upstream does (torchaudio's windowed sinc), checked against outputs
of real torchaudio (tests/fixtures/torchaudio, made in a side environment): the kernel itself, the loader
using it for the MiMo codec only, the codes of a 16 kHz and a 44.1 kHz clip through the encode stage
equal to the codes of torchaudio's resampled waveform, and a cache key that changes with the resampler."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from adqa_data.audio.clips import (  # noqa: E402
    SOXR_HQ,
    TORCHAUDIO_SINC,
    AudioError,
    read_item_audio,
    resample,
)
from adqa_data.audio.sinc_resample import MAX_KERNEL_WEIGHTS, kernel_weights, sinc_resample  # noqa: E402
from adqa_data.codecs import clear_loaded, load_codec, resolve_codec  # noqa: E402

FIXTURE = Path(__file__).parents[1] / "fixtures" / "torchaudio" / "torchaudio.npz"
RATES = (16000, 44100, 22050, 48000, 8000)
TARGET = 24000


@pytest.fixture(scope="module")
def ref():
    z = np.load(FIXTURE)
    assert json.loads(str(z["versions"]))["torchaudio"].startswith("2.")
    return {r: (z[f"{r}/input"], z[f"{r}/output"]) for r in RATES}


@pytest.mark.parametrize("rate", RATES)
def test_kernel_equals_real_torchaudio(ref, rate):
    x, want = ref[rate]
    got = sinc_resample(x, rate, TARGET)
    assert got.dtype == np.float32 and got.shape == want.shape  # ceil(24000 * n / rate) samples
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(resample(x, rate, TARGET, TORCHAUDIO_SINC), got)


@pytest.mark.parametrize("rate", (16000, 44100))
def test_soxr_is_measurably_another_resampler(ref, rate):
    """Why the codec needs this: soxr's output differs from torchaudio's far beyond float rounding."""
    x, want = ref[rate]
    other = resample(x, rate, TARGET, SOXR_HQ)
    n = min(len(other), len(want))
    assert np.abs(other[:n] - want[:n]).max() > 1e-3


def test_same_rate_is_untouched_and_unknown_names_are_refused(ref):
    x = ref[16000][0]
    np.testing.assert_array_equal(sinc_resample(x, 16000, 16000), x)
    with pytest.raises(ValueError, match="unknown resampler"):
        resample(x, 16000, TARGET, "linear")


def test_a_rate_whose_kernel_would_not_fit_is_a_bad_clip():
    assert kernel_weights(44101, TARGET) > MAX_KERNEL_WEIGHTS > kernel_weights(11025, TARGET)
    with pytest.raises(AudioError) as err:
        resample(np.zeros(1000, np.float32), 44101, TARGET, TORCHAUDIO_SINC)
    assert err.value.reason == "audio_unreadable" and "44101" in err.value.detail


# ------------------------------------------------------------------------------------------ the codec
@pytest.fixture()
def mimo(mimo_standin, monkeypatch):
    src, weights = mimo_standin
    monkeypatch.setenv("ADQA_MIMO_AUDIO_SRC", str(src))
    sys.modules.pop("mimo_audio_tokenizer", None)
    clear_loaded()
    yield load_codec(resolve_codec(f"mimo:{weights}"), 8)
    sys.modules.pop("mimo_audio_tokenizer", None)
    clear_loaded()


def test_only_the_mimo_codec_uses_the_sinc_and_it_is_in_the_cache_key(mimo, tmp_path):
    from adqa_data.testing.codecs import build_tiny_codec

    assert mimo.resampler == TORCHAUDIO_SINC
    assert load_codec(resolve_codec(str(build_tiny_codec("mimi", tmp_path / "mimi")))).resampler == SOXR_HQ
    spec = mimo.spec
    with_soxr = dataclasses.replace(spec, settings={**spec.settings, "resampler": SOXR_HQ})
    assert with_soxr.fingerprint != spec.fingerprint and with_soxr.codec_key(8) != spec.codec_key(8)


def test_mimo_codes_of_16k_and_44k_clips_are_those_of_torchaudios_waveform(
    ref, mimo, clean_demo_roots, tmp_path
):
    """The encode stage end to end: two demo clips replaced by the fixture's 16 kHz and 44.1 kHz inputs
    (float WAV, so the decoded samples are the fixture's exactly); their cached codes equal the codes of
    torchaudio's 24 kHz output, and differ from the codes of soxr's."""
    import soundfile as sf

    from adqa_data.codecs.cache import open_codes
    from adqa_data.core.workspace import Workspace
    from adqa_data.stages import encode as enc
    from adqa_data.stages.download import download

    root = tmp_path / "data"
    shutil.copytree(clean_demo_roots["audiomcq"], root)
    replaced = {"AudioCaps/clip_000.wav": 16000, "AudioCaps/clip_008.wav": 44100}
    for rel, rate in replaced.items():
        sf.write(root / rel, ref[rate][0], rate, subtype="FLOAT")
    ws = Workspace(tmp_path / "w")
    download(ws, from_dir=root)
    res = enc.encode(ws, codec=f"mimo:{Path(mimo.spec.path)}")
    assert res.codec_key == mimo.codec_key
    items = ws.items("audiomcq").to_pylist()
    reader = open_codes(ws, "audiomcq")
    for rel, rate in replaced.items():
        item = next(it for it in items if it["audio_path"] == rel)
        cached = reader.load_codes([item["item_id"]])[0]
        want = mimo.encode([ref[rate][1]])[0]
        np.testing.assert_array_equal(cached, want)
        soxr_wave = read_item_audio(root, rel, item["audio_sha256"], TARGET)  # the loader's default
        soxr_codes = mimo.encode([soxr_wave])[0]
        assert soxr_codes.shape != want.shape or (soxr_codes != want).any()
