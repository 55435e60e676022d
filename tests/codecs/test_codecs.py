"""Codec registry and adapters: facts from config.json, determinism, batch invariance, codebook selection,
and the MiMo-Audio adapter's preprocessing against a stand-in of the upstream package."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from adqa_data.codecs import clear_loaded, load_codec, parse_codec_name, resolve_codec  # noqa: E402
from adqa_data.codecs.mimo import (  # noqa: E402
    LogMel,
    encoder_frames,
    mel_frames,
    mimo_facts,
    pad_to_group,
    segment_lengths,
)
from adqa_data.core.errors import UserError  # noqa: E402
from adqa_data.testing.codecs import TINY_FAMILIES, build_tiny_codec  # noqa: E402


@contextmanager
def torch_threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Pin the thread count per test: a module-level set_num_threads runs at collection, and in a full
    run (every test module imported by each xdist worker) the last module imported sets it for all."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def tiny_codecs(tmp_path_factory):
    root = tmp_path_factory.mktemp("codecs")
    return {fam: build_tiny_codec(fam, root / fam, seed=0) for fam in TINY_FAMILIES}


@pytest.fixture()
def mimo_env(mimo_standin, monkeypatch):
    src, weights = mimo_standin
    monkeypatch.setenv("ADQA_MIMO_AUDIO_SRC", str(src))
    sys.modules.pop("mimo_audio_tokenizer", None)
    clear_loaded()
    yield weights
    sys.modules.pop("mimo_audio_tokenizer", None)
    clear_loaded()


def _clips(sr: int, seconds: list[float], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for s in seconds:
        n = round(s * sr)
        t = np.arange(n) / sr
        out.append(
            (0.2 * np.sin(2 * np.pi * (200 + 300 * rng.random()) * t) + 0.05 * rng.standard_normal(n)).astype(
                np.float32
            )
        )
    return out


# ------------------------------------------------------------------------------------------ registry
def test_parse_codec_names():
    assert parse_codec_name("mimo-audio") == ("mimo", "XiaomiMiMo/MiMo-Audio-Tokenizer", None)
    assert parse_codec_name("mimi") == ("mimi", "kyutai/mimi", None)
    assert parse_codec_name("encodec:facebook/encodec_24khz@abc123") == (
        "encodec",
        "facebook/encodec_24khz",
        "abc123",
    )
    assert parse_codec_name("some/repo") == (None, "some/repo", None)
    assert parse_codec_name("dac:") == ("dac", "descript/dac_16khz", None)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_spec_facts_match_the_loaded_model(tiny_codecs, family):
    spec = resolve_codec(str(tiny_codecs[family]))
    assert spec.family == family  # detected from config.json
    cfg = load_codec(spec).model.config
    assert spec.sample_rate == getattr(cfg, "sampling_rate", getattr(cfg, "sample_rate", None))
    if family == "mimi":
        assert spec.hop_length == cfg.frame_size and spec.frame_rate == cfg.frame_rate
        assert spec.codebook_sizes == (cfg.codebook_size,) * cfg.num_quantizers
    elif family == "encodec":
        assert spec.hop_length == cfg.hop_length and spec.frame_rate == cfg.frame_rate
        assert len(spec.codebook_sizes) == cfg.num_quantizers
    elif family == "dac":
        assert spec.hop_length == cfg.hop_length and spec.frame_rate == cfg.frame_rate
        assert len(spec.codebook_sizes) == cfg.n_codebooks
    else:
        assert spec.sample_rate == cfg.sample_rate
        assert spec.hop_length == cfg.hop_length and spec.frame_rate == cfg.frame_rate
        assert len(spec.codebook_sizes) == cfg.num_quantizers


def test_resolution_imports_no_torch_free_errors(tiny_codecs, tmp_path):
    with pytest.raises(UserError, match="not encodec"):
        resolve_codec(f"encodec:{tiny_codecs['mimi']}")
    with pytest.raises(UserError, match="no config.json"):
        resolve_codec(str(tmp_path))
    with pytest.raises(UserError, match="hub"):
        resolve_codec("mimi:nobody/no-such-codec-offline")
    with pytest.raises(UserError, match="out of range"):
        resolve_codec(str(tiny_codecs["dac"])).check_num_codebooks(99)


def test_chunked_encodec_is_refused(tmp_path):
    import json

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "encodec", "chunk_length_s": 1.0}))
    with pytest.raises(UserError, match="overlapping chunks"):
        resolve_codec(str(tmp_path))


def test_fingerprint_tracks_weights_precision_and_settings(tiny_codecs, tmp_path):
    a = resolve_codec(str(tiny_codecs["mimi"]))
    assert a.fingerprint == resolve_codec(str(tiny_codecs["mimi"])).fingerprint
    assert a.fingerprint != resolve_codec(str(tiny_codecs["mimi"]), dtype="bfloat16").fingerprint
    other = build_tiny_codec("mimi", tmp_path / "other", seed=1)
    assert a.fingerprint != resolve_codec(str(other)).fingerprint
    assert a.codec_key(4) != a.codec_key(8) and a.codec_key(8).startswith("mimi-n8-24000-")


# ------------------------------------------------------------------------------------------ encoding
# Batch invariance holds up to float near-ties (see adqa_data.codecs.base): a clip's RVQ input in a batch
# equals its RVQ input alone to float rounding (measured <= 1.6e-6 of its scale on CPU, 1 or 2 threads),
# and a code may differ only where that rounding crosses a codeword boundary (measured <= 6e-7 of the
# scale from it). Padding that leaks into a clip moves its RVQ input by 1e-2..0.6 of the scale and flips
# codes 3e-2..0.5 from any boundary (DAC / X-Codec forced to batch mixed lengths), far outside TIE_TOL.
TIE_TOL = 3e-5


class SearchRecorder:
    """Records, per model call, the clips it got and every nearest-code search the model ran in it:
    the search's input vectors [clips, frames, dim] and its codebook [codes, dim] (float64, in the space
    where the search compares them: after Mimi's and DAC's projections, DAC's L2 normalisation)."""

    def __init__(self, codec, monkeypatch):
        self.calls: list[dict] = []
        group = codec._encode_group

        def encode_group(waveforms):
            self.calls.append({"clips": [id(w) for w in waveforms], "searches": []})
            return group(waveforms)

        monkeypatch.setattr(codec, "_encode_group", encode_group)
        for mod in codec.model.modules():
            if type(mod).__name__.endswith("EuclideanCodebook"):  # Mimi, EnCodec, X-Codec: rows [B*T, D]
                monkeypatch.setattr(mod, "quantize", self._euclidean(mod, mod.quantize))
            elif type(mod).__name__ == "DacVectorQuantize":  # [B, D, T], compared L2-normalised
                monkeypatch.setattr(mod, "decode_latents", self._dac(mod, mod.decode_latents))

    def _add(self, rows, codebook):
        batch = len(self.calls[-1]["clips"])
        self.calls[-1]["searches"].append(
            (rows.double().reshape(batch, -1, rows.shape[-1]), codebook.double())
        )

    def _euclidean(self, mod, quantize):
        def wrapped(hidden_states):
            self._add(hidden_states, mod.embed)
            return quantize(hidden_states)

        return wrapped

    def _dac(self, mod, decode_latents):
        def wrapped(hidden_states):
            b, d, t = hidden_states.shape
            normalize = torch.nn.functional.normalize
            self._add(
                normalize(hidden_states.permute(0, 2, 1).reshape(b * t, d)), normalize(mod.codebook.weight)
            )
            return decode_latents(hidden_states)

        return wrapped

    def take(self) -> list[dict]:
        """The calls recorded since the last take."""
        calls, self.calls = self.calls, []
        return calls


def _searches(calls: list[dict], clip: np.ndarray, frames: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(inputs [frames, dim], codebook) per search, in RVQ order, for `clip` in the call that had it."""
    for call in calls:
        for j, w in enumerate(call["clips"]):
            if w == id(clip):
                assert call["searches"], "no nearest-code search recorded: did transformers rename them?"
                return [(x[j, :frames], book) for x, book in call["searches"]]
    raise AssertionError("clip not in these calls")


def assert_same_codes_up_to_ties(alone, other, codes_alone, codes_other, clip, what: str) -> int:
    """One clip's codes from two calls (`alone`, `other`: their recorded calls). Its RVQ input must agree
    to float rounding, and its codes exactly, except at frames where it sits on a boundary between two
    codewords to within float rounding (either code is then a nearest one). Returns those frames' count."""
    assert codes_alone.shape == codes_other.shape, (
        f"{what}: shapes {codes_alone.shape} != {codes_other.shape}"
    )
    a_searches = _searches(alone, clip, codes_alone.shape[1])
    x_a, x_o = a_searches[0][0], _searches(other, clip, codes_other.shape[1])[0][0]
    np.testing.assert_allclose(
        x_o.numpy(),
        x_a.numpy(),
        rtol=0,
        atol=TIE_TOL * x_a.abs().max().item(),
        err_msg=f"{what}: the RVQ input differs by more than float rounding",
    )
    differing = np.nonzero((codes_alone != codes_other).any(0))[0]
    for t in differing:
        k = int(np.nonzero(codes_alone[:, t] != codes_other[:, t])[0][0])  # first differing codebook
        x, book = a_searches[k][0][t], a_searches[k][1]
        a, b = book[int(codes_alone[k, t])], book[int(codes_other[k, t])]
        from_boundary = abs((((x - b) ** 2).sum() - ((x - a) ** 2).sum()) / (2 * (a - b).norm())).item()
        assert from_boundary <= TIE_TOL * a_searches[k][0].abs().max().item(), (
            f"{what}: frame {t}, codebook {k}: code {codes_other[k, t]} instead of {codes_alone[k, t]}, "
            f"{from_boundary:.3g} from their boundary: not a float near-tie"
        )
    return len(differing)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_codes_are_deterministic_informative_and_batch_invariant(tiny_codecs, family, monkeypatch):
    spec = resolve_codec(str(tiny_codecs[family]))
    # mixed lengths, two of them equal (so the non-causal DAC batches them together)
    clips = _clips(spec.sample_rate, [1.3, 2.0, 0.45, 2.0, 3.07, 1.0001])
    for threads in (1, 2):  # encode_shard gives the codec the cores the audio decoders leave free
        with torch_threads(threads), monkeypatch.context() as mp:
            clear_loaded()
            codec = load_codec(spec)
            recorder = SearchRecorder(codec, mp)
            solo = [codec.encode([c])[0] for c in clips]
            alone = recorder.take()
            batched = codec.encode(clips)
            batch = recorder.take()
            shuffled = codec.encode(clips[::-1])[::-1]
            reverse = recorder.take()
            ties = 0
            for i, (s, b, r) in enumerate(zip(solo, batched, shuffled)):
                assert s.dtype == np.int64 and s.shape[0] == len(spec.codebook_sizes)
                ties += assert_same_codes_up_to_ties(
                    alone, batch, s, b, clips[i], f"clip {i}: batched != alone"
                )
                ties += assert_same_codes_up_to_ties(
                    alone, reverse, s, r, clips[i], f"clip {i}: order changed its codes"
                )
                assert len(np.unique(s)) > 5, "codes carry no information (zero codebooks?)"
                assert s.max() < max(spec.codebook_sizes)
                expected = int(np.ceil(len(clips[i]) / spec.hop_length))
                assert abs(s.shape[1] - expected) <= 1
            compared = 2 * sum(s.shape[1] for s in solo)
            assert ties <= 2 + compared // 100, f"{ties} of {compared} frames differ at near-ties: not rare"
        clear_loaded()  # the same call on a freshly loaded model: the same codes, bit for bit
        with torch_threads(threads):
            again = load_codec(resolve_codec(str(tiny_codecs[family]))).encode(clips)
        for b, a in zip(batched, again):
            np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize("family,n", [("mimi", 3), ("encodec", 2), ("dac", 2), ("xcodec", 2)])
def test_num_codebooks_keeps_the_first_n(tiny_codecs, family, n):
    spec = resolve_codec(str(tiny_codecs[family]))
    clips = _clips(spec.sample_rate, [1.1, 0.7])
    full = load_codec(spec).encode(clips)
    few = load_codec(spec, num_codebooks=n).encode(clips)
    for f, k in zip(full, few):
        assert k.shape[0] == n
        np.testing.assert_array_equal(f[:n], k)


def test_half_precision_keeps_the_quantizer_in_float32(tiny_codecs):
    spec = resolve_codec(str(tiny_codecs["mimi"]), dtype="bfloat16")
    codec = load_codec(spec)
    assert next(codec.model.encoder.parameters()).dtype == torch.bfloat16
    assert all(b.dtype == torch.float32 for b in codec.model.quantizer.buffers())
    clips = _clips(24000, [1.0, 0.6])
    codes = codec.encode(clips)
    assert [c.shape[0] for c in codes] == [8, 8]
    np.testing.assert_array_equal(codes[1], codec.encode([clips[1]])[0])


def test_empty_or_stereo_input_is_rejected(tiny_codecs):
    codec = load_codec(resolve_codec(str(tiny_codecs["mimi"])))
    with pytest.raises(ValueError, match="mono"):
        codec.encode([np.zeros((100, 2), np.float32)])
    with pytest.raises(ValueError, match="non-empty"):
        codec.encode([np.zeros(0, np.float32)])


# ------------------------------------------------------------------------------------------ MiMo-Audio
def test_mimo_facts_from_the_tokenizer_config(mimo_standin):
    """The stand-in's config.json is laid out like the released tokenizer's: its front end and RVQ are
    what the loader reads (960-point STFT and window, 128 mels, 20 quantizers of which the LM reads 8)."""
    f = mimo_facts(json.loads((mimo_standin[1] / "config.json").read_text()))
    assert f["sample_rate"] == 24000 and f["frame_rate"] == 25.0 and f["hop_length"] == 960
    assert f["codebook_sizes"] == [1024, 1024] + [128] * 18
    mel = f["settings"]["mel"]
    assert (mel["n_fft"], mel["hop_length"], mel["win_length"], mel["n_mels"]) == (960, 240, 960, 128)
    assert (mel["f_min"], mel["f_max"]) == (0.0, None)
    spec = resolve_codec(f"mimo:{mimo_standin[1]}")
    assert spec.codebook_sizes == tuple(f["codebook_sizes"]) and spec.check_num_codebooks(None) == 20
    assert spec.codec_key(8).startswith("mimo-n8-24000-")


def test_mimo_facts_fall_back_to_upstreams_class_defaults():
    """A key the config lacks takes upstream's MiMoAudioTokenizerConfig default, as upstream's loader does."""
    f = mimo_facts({})
    mel = f["settings"]["mel"]
    assert (mel["n_fft"], mel["win_length"], mel["n_mels"]) == (1024, 1024, 80)
    assert len(f["codebook_sizes"]) == 12 and f["frame_rate"] == 50.0  # avg_pooler 1


def test_log_mel_matches_an_independent_reference():
    from transformers.audio_utils import mel_filter_bank, spectrogram, window_function

    wav = _clips(24000, [1.37], seed=3)[0]
    ours = LogMel()(wav).numpy()
    ref = spectrogram(
        wav.astype(np.float64),
        window_function(960, "hann"),
        frame_length=960,
        hop_length=240,
        fft_length=960,
        power=1.0,
        center=True,
        pad_mode="reflect",
        mel_filters=mel_filter_bank(
            num_frequency_bins=481,
            num_mel_filters=128,
            min_frequency=0.0,
            max_frequency=12000.0,
            sampling_rate=24000,
            norm=None,
            mel_scale="htk",
        ),
        mel_floor=1e-7,
        dtype=np.float64,
    )
    ref = np.log(ref).T
    assert ours.shape == ref.shape == (mel_frames(len(wav)), 128)
    np.testing.assert_allclose(ours, ref, atol=2e-3, rtol=1e-4)


def test_log_mel_equals_real_torchaudio():
    """Upstream's `wav2mel` with the released front end, computed by real torchaudio in a side
    environment (tests/fixtures/torchaudio/README.md), against ours on the same 24 kHz clip."""
    from pathlib import Path

    z = np.load(Path(__file__).parents[1] / "fixtures" / "torchaudio" / "torchaudio.npz")
    want = z["mel/log_mel"]
    got = LogMel()(z["44100/output"]).numpy()
    assert got.shape == want.shape == (mel_frames(len(z["44100/output"])), 128)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_mimo_segmenting_and_group_padding_rules():
    assert segment_lengths(6000) == [6000]
    assert segment_lengths(7001) == [6000, 1001]
    assert segment_lengths(12000) == [6000, 6000]
    assert [encoder_frames(n) for n in (1, 2, 3, 4, 5, 1001, 6000)] == [1, 1, 1, 1, 2, 251, 1500]
    codes = np.arange(2 * 6).reshape(2, 6)
    padded = pad_to_group(codes)
    assert padded.shape == (2, 8)
    np.testing.assert_array_equal(padded[:, 6:], codes[:, [5, 5]])
    assert pad_to_group(padded) is padded


def test_mimo_without_upstream_says_how_to_install(mimo_standin, monkeypatch):
    _, weights = mimo_standin
    monkeypatch.delenv("ADQA_MIMO_AUDIO_SRC", raising=False)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if "mimo" not in p.lower()])
    sys.modules.pop("mimo_audio_tokenizer", None)
    clear_loaded()
    spec = resolve_codec(f"mimo:{weights}")
    with pytest.raises(UserError) as err:
        load_codec(spec, 8)
    assert "MiMo-Audio" in str(err.value) and "ADQA_MIMO_AUDIO_SRC" in str(err.value)


def test_mimo_preprocessing_against_the_stand_in_encoder(mimo_env):
    spec = resolve_codec(f"mimo:{mimo_env}")
    codec = load_codec(spec, 8)
    up = sys.modules["mimo_audio_tokenizer"]
    from mimo_audio_tokenizer import standin_codes  # the stand-in's own code function

    assert codec.sample_rate == 24000 and codec.frame_rate == 25.0
    assert codec.codebook_sizes == (1024, 1024, 128, 128, 128, 128, 128, 128)
    # 70.01 s: two segments (6000 + 1002 mel frames); two different 1.23 s clips (124 mel frames each)
    clips = _clips(24000, [70.01, 1.23, 1.23], seed=5)
    up.CALLS.clear()
    codes = codec.encode(clips)
    lens_by_call = [c["lens"] for c in up.CALLS]
    assert lens_by_call == [[6000, 1002], [124, 124]]  # equal mel lengths share a call, the long clip alone
    assert all(c["n_q"] == 8 and c["dtype"] == "torch.float32" for c in up.CALLS)
    for call, clip_ids, per_clip_lens in zip(up.CALLS, ([0], [1, 2]), ([[6000, 1002]], [[124], [124]])):
        start = 0
        for cid, lens in zip(clip_ids, per_clip_lens):
            total = sum(lens)
            feats = call["features"][start : start + total]
            start += total
            # the features are upstream's log-mel of the 24 kHz clip, segments packed in order
            np.testing.assert_array_equal(feats.numpy(), LogMel()(clips[cid]).numpy())
            expected = np.concatenate(
                [
                    standin_codes(feats[o : o + n], 8, list(spec.codebook_sizes), 4).numpy()
                    for o, n in zip(np.cumsum([0] + lens[:-1]), lens)
                ],
                axis=1,
            )
            expected = pad_to_group(expected)
            np.testing.assert_array_equal(codes[cid], expected)
            assert codes[cid].shape[1] % 4 == 0
    assert codes[0].shape == (8, 1752)  # ceil(6000/4) + ceil(1002/4) = 1500 + 251 -> padded to 1752
    np.testing.assert_array_equal(codes[0][:, -1], codes[0][:, -2])  # padded by repeating the last frame
    # one at a time gives the same codes
    for c, k in zip(clips, codes):
        np.testing.assert_array_equal(codec.encode([c])[0], k)


def test_hub_codec_resolves_to_a_pinned_commit_offline(tiny_codecs, tmp_path, monkeypatch):
    """A hub id resolves through the HF cache to repo@commit; the weights load from that snapshot."""
    import shutil

    from huggingface_hub import constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = tmp_path / "hub" / "models--tiny--mimi"
    snap = repo_dir / "snapshots" / commit
    shutil.copytree(tiny_codecs["mimi"], snap)
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    spec = resolve_codec("mimi:tiny/mimi")
    assert spec.weights_id == f"hub:tiny/mimi@{commit}" and spec.family == "mimi"
    assert spec.fingerprint == resolve_codec(f"tiny/mimi@{commit}").fingerprint
    local = resolve_codec(str(tiny_codecs["mimi"]))
    assert spec.fingerprint != local.fingerprint  # identity by hub commit vs by content hash
    clips = _clips(24000, [0.9])
    np.testing.assert_array_equal(load_codec(spec).encode(clips)[0], load_codec(local).encode(clips)[0])
