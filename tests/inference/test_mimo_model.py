"""Our MiMo-Audio language model (`adqa_data.inference.mimo`) against logits computed by upstream's own
modeling code (XiaomiMiMo/MiMo-Audio, transformers 4.49) on a tiny random model (tests/fixtures/mimo_audio,
README there), plus the strict loader, `pad_codes`, `build_prefix`, padding and the KV cache.

Tolerance: 1e-4 absolute on float32 logits of std ~1 (measured max difference 1.7e-6). Dropping
upstream's bfloat16 speech-embedding sum gives 1.6e-2, a causal input local transformer 1.7.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("safetensors")

from safetensors.torch import load_file, save_file  # noqa: E402

from adqa_data.core.errors import UserError  # noqa: E402
from adqa_data.inference.mimo import model as mm  # noqa: E402
from adqa_data.inference.mimo.loading import load_mimo_audio  # noqa: E402

FIXTURE = Path(__file__).parents[1] / "fixtures" / "mimo_audio"
TOL = 1e-4
META = json.loads((FIXTURE / "meta.json").read_text())
CASES = np.load(FIXTURE / "cases.npz")
SP = META["special_tokens"]
SPECIAL = mm.MiMoSpecialTokens(empty=SP["<|empty|>"], sosp=SP["<|sosp|>"], eosp=SP["<|eosp|>"])


def _load(path: Path = FIXTURE, **kw) -> mm.MiMoAudioLM:
    kw.setdefault("special_tokens", SPECIAL)
    return load_mimo_audio(path, device="cpu", dtype=kw.pop("dtype", torch.float32), **kw)


@pytest.fixture(scope="module")
def lm() -> mm.MiMoAudioLM:
    return _load()


def _copy_fixture(tmp_path: Path) -> Path:
    out = tmp_path / "ckpt"
    shutil.copytree(FIXTURE, out)
    return out


def _case(name: str, key: str) -> np.ndarray:
    return CASES[f"{name}/{key}"]


# ------------------------------------------------------------------------------------ parity with upstream
@pytest.mark.parametrize("case", ["text", "prompt_repeat_pad", "two_clips_empty_pad"])
@torch.no_grad()
def test_full_sequence_logits_match_upstream(lm, case):
    ids = torch.from_numpy(_case(case, "input_ids"))
    want = _case(case, "logits")
    got = lm(lm.embed_inputs(ids)).logits.numpy()
    assert got.shape == want.shape
    assert want.std() > 0.5  # the comparison is between non-trivial logits
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


@torch.no_grad()
def test_left_padded_batch_matches_upstream(lm):
    ids = torch.from_numpy(_case("batch_left_pad", "input_ids"))
    mask = torch.from_numpy(_case("batch_left_pad", "attention_mask"))
    assert (mask == 0).any()
    got = lm(lm.embed_inputs(ids), attention_mask=mask, logits_to_keep=1).logits[:, -1].numpy()
    np.testing.assert_allclose(got, _case("batch_left_pad", "logits"), rtol=0, atol=TOL)


@torch.no_grad()
def test_bfloat16_load_keeps_float32_rotary_and_stays_close(lm):
    bf = _load(dtype=torch.bfloat16)
    assert all(p.dtype == torch.bfloat16 for p in bf.parameters())
    assert all(b.dtype == torch.float32 for n, b in bf.named_buffers() if n.endswith("inv_freq"))
    ids = torch.from_numpy(_case("prompt_repeat_pad", "input_ids"))
    got = bf(bf.embed_inputs(ids)).logits.float().numpy()
    want = _case("prompt_repeat_pad", "logits")
    assert np.abs(got - want).max() < 0.25 * np.abs(want).max()


# ------------------------------------------------------------------------------------ the prefix path
@torch.no_grad()
def test_build_prefix_equals_embed_inputs(lm):
    ids = torch.from_numpy(_case("prompt_repeat_pad", "input_ids"))
    before, after = (
        _case("prompt_repeat_pad", "before").tolist(),
        _case("prompt_repeat_pad", "after").tolist(),
    )
    codes = _case("prompt_repeat_pad", "codes")  # [8, 10] unpadded: build_prefix pads by repeating
    extra_layers = np.random.default_rng(1).integers(0, 128, size=(12, codes.shape[1]))
    prefix = lm.build_prefix(before, np.concatenate([codes, extra_layers]), after)  # n_q = 20 -> first 8 used
    want = lm.embed_inputs(ids)[0]
    assert prefix.shape == (len(before) + 2 + 3 + len(after), lm.config.backbone.hidden_size) == want.shape
    torch.testing.assert_close(prefix, want, rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        lm(prefix[None]).logits[0].numpy(), _case("prompt_repeat_pad", "logits")[0], rtol=0, atol=TOL
    )


@torch.no_grad()
def test_speech_group_embeddings_with_empty_padding_match_embed_inputs(lm):
    ids = torch.from_numpy(_case("two_clips_empty_pad", "input_ids"))
    emb = lm.embed_inputs(ids)[0]
    is_speech = ids[0, 0, ::4] == SPECIAL.empty
    codes = [mm.pad_codes(_case("two_clips_empty_pad", k), fill="empty") for k in ("codes1", "codes2")]
    groups = torch.cat([lm.speech_group_embeddings(torch.from_numpy(c)[None])[0] for c in codes])
    assert groups.shape[0] == int(is_speech.sum()) == 4
    torch.testing.assert_close(emb[is_speech], groups, rtol=0, atol=1e-5)  # other batch shapes: float noise
    # text groups are plain token embeddings
    text = ids[0, 0, ::4][~is_speech]
    torch.testing.assert_close(emb[~is_speech], lm.text_embeddings(text), rtol=0, atol=0)


def _prefixes(lm) -> list[torch.Tensor]:
    rng = np.random.default_rng(5)
    out = []
    for frames, n_before, n_after in [(10, 3, 6), (25, 1, 2), (4, 2, 9)]:
        codes = np.stack([rng.integers(0, e, size=frames) for e in mm.OFFICIAL_EMPTY_IDS])
        out.append(
            lm.build_prefix(
                rng.integers(0, 300, n_before).tolist(), codes, rng.integers(0, 300, n_after).tolist()
            )
        )
    return out


@torch.no_grad()
def test_left_padded_batch_equals_rows(lm):
    rows = _prefixes(lm)
    n = max(len(r) for r in rows)
    batch = torch.zeros(len(rows), n, rows[0].shape[1])
    mask = torch.zeros(len(rows), n, dtype=torch.long)
    for i, r in enumerate(rows):
        batch[i, n - len(r) :] = r
        mask[i, n - len(r) :] = 1
    got = lm(batch, attention_mask=mask).logits
    for i, r in enumerate(rows):
        torch.testing.assert_close(got[i, n - len(r) :], lm(r[None]).logits[0], rtol=0, atol=1e-5)


@torch.no_grad()
def test_kv_cache_decoding_equals_full_forward(lm):
    prefix = _prefixes(lm)[0]
    new = torch.tensor([[7, 301, 42]])
    full = torch.cat([prefix[None], lm.text_embeddings(new)], dim=1)
    want = lm(full).logits[0, -4:]
    out = lm(prefix[None], use_cache=True, logits_to_keep=1)
    got = [out.logits[0, -1]]
    for j in range(new.shape[1]):
        out = lm(lm.text_embeddings(new[:, j : j + 1]), past_key_values=out.past_key_values, use_cache=True)
        got.append(out.logits[0, -1])
    torch.testing.assert_close(torch.stack(got), want, rtol=0, atol=1e-5)


@torch.no_grad()
def test_left_padded_batch_decoding_with_cache_equals_rows(lm):
    rows = _prefixes(lm)
    new = torch.tensor([[11, 12], [21, 22], [31, 32]])  # two generated tokens per row
    n = max(len(r) for r in rows)
    batch = torch.zeros(len(rows), n, rows[0].shape[1])
    mask = torch.zeros(len(rows), n, dtype=torch.long)
    for i, r in enumerate(rows):
        batch[i, n - len(r) :], mask[i, n - len(r) :] = r, 1
    out = lm(batch, attention_mask=mask, use_cache=True, logits_to_keep=1)
    got = [out.logits[:, -1]]
    for j in range(new.shape[1]):
        mask = torch.cat([mask, torch.ones(len(rows), 1, dtype=torch.long)], dim=1)
        out = lm(
            lm.text_embeddings(new[:, j : j + 1]),
            attention_mask=mask,
            past_key_values=out.past_key_values,
            use_cache=True,
        )
        got.append(out.logits[:, -1])
    got = torch.stack(got, dim=1)  # [rows, 3, vocab]
    for i, r in enumerate(rows):
        want = lm(torch.cat([r, lm.text_embeddings(new[i])])[None]).logits[0, -3:]
        torch.testing.assert_close(got[i], want, rtol=0, atol=1e-5)


def test_gradients_reach_every_text_side_parameter():
    lm = _load().train()
    ids = torch.from_numpy(_case("two_clips_empty_pad", "input_ids"))
    logits = lm(lm.embed_inputs(ids)).logits
    torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 0, 4::4]).backward()
    no_grad = [n for n, p in lm.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []


@torch.no_grad()
def test_speech_ids_of_text_groups_are_ignored(lm):
    ids = torch.from_numpy(_case("text", "input_ids")).clone()
    want = lm.embed_inputs(ids)
    ids[:, 1:3, :] = 7  # real codes under text groups: upstream zeroes their speech embedding
    torch.testing.assert_close(lm.embed_inputs(ids), want, rtol=0, atol=0)


def test_logits_to_keep_selects_positions(lm):
    with torch.no_grad():
        x = _prefixes(lm)[1][None]
        full = lm(x).logits
        torch.testing.assert_close(lm(x, logits_to_keep=3).logits, full[:, -3:], rtol=0, atol=1e-6)
        pos = torch.tensor([0, 5, 9])
        torch.testing.assert_close(lm(x, logits_to_keep=pos).logits, full[:, pos], rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------ pad_codes
def test_pad_codes_keeps_eight_layers_and_pads_to_groups():
    rng = np.random.default_rng(0)
    codes = np.concatenate(
        [np.stack([rng.integers(0, e, 10) for e in mm.OFFICIAL_EMPTY_IDS]), rng.integers(0, 128, (12, 10))]
    )
    empty = mm.pad_codes(codes, fill="empty")
    assert empty.shape == (8, 12) and empty.dtype == np.int64
    np.testing.assert_array_equal(empty[:, :10], codes[:8])
    np.testing.assert_array_equal(empty[:, 10:], np.array(mm.OFFICIAL_EMPTY_IDS)[:, None].repeat(2, axis=1))
    rep = mm.pad_codes(codes)  # upstream's preprocess_input: repeat the last frame
    np.testing.assert_array_equal(rep[:, 10:], codes[:8, 9:10].repeat(2, axis=1))
    np.testing.assert_array_equal(mm.pad_codes(codes[:, :8]), codes[:8, :8])  # a multiple of 4: unchanged
    assert mm.pad_codes(codes[:, :0], fill="empty").shape == (8, 0)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((7, 4), np.int64),
        np.zeros((8,), np.int64),
        np.zeros((8, 4), np.float32),
        np.full((8, 4), 1025),
    ],
)
def test_pad_codes_rejects_bad_codes(bad):
    with pytest.raises(ValueError):
        mm.pad_codes(bad)


# ------------------------------------------------------------------------------------ strict loading
def test_missing_key_is_an_error_naming_path_and_key(tmp_path):
    ck = _copy_fixture(tmp_path)
    state = load_file(ck / "model.safetensors")
    del state["model.layers.1.mlp.up_proj.weight"]
    save_file(state, ck / "model.safetensors")
    with pytest.raises(UserError, match=r"missing keys: model\.layers\.1\.mlp\.up_proj\.weight") as e:
        _load(ck)
    assert str(ck) in str(e.value)


def test_unexpected_key_is_an_error(tmp_path):
    ck = _copy_fixture(tmp_path)
    state = load_file(ck / "model.safetensors")
    state["model.layers.2.mlp.up_proj.weight"] = state["model.layers.1.mlp.up_proj.weight"].clone()
    save_file(state, ck / "model.safetensors")
    with pytest.raises(UserError, match=r"unexpected keys: model\.layers\.2\.mlp\.up_proj\.weight"):
        _load(ck)


def test_wrong_shape_is_an_error(tmp_path):
    ck = _copy_fixture(tmp_path)
    state = load_file(ck / "model.safetensors")
    state["speech_group_downcast.weight"] = state["speech_group_downcast.weight"][:, :-1].contiguous()
    save_file(state, ck / "model.safetensors")
    with pytest.raises(UserError, match="speech_group_downcast.weight has shape"):
        _load(ck)


@pytest.mark.parametrize(
    "change",
    [
        {"model_type": "qwen2_audio"},
        {"architectures": ["Qwen2ForCausalLM"]},
        {"speech_vocab_size": None},
        {"speech_zeroemb_idx": "1024-1024-128"},
    ],
)
def test_wrong_config_is_an_error(tmp_path, change):
    ck = _copy_fixture(tmp_path)
    cfg = json.loads((ck / "config.json").read_text())
    for k, v in change.items():
        if v is None:
            del cfg[k]
        else:
            cfg[k] = v
    (ck / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UserError):
        _load(ck)


def test_text_only_skips_exactly_the_speech_output_keys(tmp_path):
    file_keys = set(load_file(FIXTURE / "model.safetensors"))
    speech_out = {k for k in file_keys if k.startswith(mm.SPEECH_OUTPUT_PREFIXES)}
    assert {k.split(".")[0] for k in speech_out} == {
        "local_transformer",
        "local_transformer_lm_heads",
        "hidden_states_downcast",
    }
    text = _load()
    assert set(text.state_dict()) == file_keys - speech_out
    assert not hasattr(text, "local_transformer")
    full = _load(text_only=False)
    assert set(full.state_dict()) == file_keys
    state = load_file(FIXTURE / "model.safetensors")
    for k, v in full.state_dict().items():
        assert torch.equal(v, state[k]), k
    # a speech-output key missing: fine for text_only, an error otherwise
    ck = _copy_fixture(tmp_path)
    del state["local_transformer_lm_heads.3.weight"]
    save_file(state, ck / "model.safetensors")
    _load(ck)
    with pytest.raises(UserError, match=r"local_transformer_lm_heads\.3\.weight"):
        _load(ck, text_only=False)


@torch.no_grad()
def test_sharded_checkpoint_loads_the_same(tmp_path, lm):
    ck = tmp_path / "sharded"
    shutil.copytree(FIXTURE, ck)
    (ck / "model.safetensors").unlink()
    state = load_file(FIXTURE / "model.safetensors")
    keys = sorted(state)
    shards = {"model-00001-of-00002.safetensors": keys[::2], "model-00002-of-00002.safetensors": keys[1::2]}
    for name, ks in shards.items():
        save_file({k: state[k] for k in ks}, ck / name)
    weight_map = {k: name for name, ks in shards.items() for k in ks}
    (ck / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    again = _load(ck)
    x = _prefixes(lm)[2][None]
    torch.testing.assert_close(again(x).logits, lm(x).logits, rtol=0, atol=0)
    (ck / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(UserError, match="missing"):
        _load(ck)


def test_missing_tokenizer_is_an_error():
    with pytest.raises(UserError, match="tokenizer"):
        load_mimo_audio(FIXTURE, device="cpu", dtype=torch.float32)


# ------------------------------------------------------------------------------------ the tiny builder
@pytest.mark.slow
def test_tiny_builder_writes_the_official_layout(tmp_path):
    from transformers import AutoTokenizer

    from adqa_data.inference.mimo.prompt import USER_START, audio_understanding_prompt_ids, stop_token_ids
    from adqa_data.testing.mimo import build_tiny_mimo_audio
    from adqa_data.testing.models import count_parameters

    path = build_tiny_mimo_audio(tmp_path / "tiny")
    assert set(load_file(path / "model.safetensors")) == set(load_file(FIXTURE / "model.safetensors"))
    assert set(json.loads((path / "config.json").read_text())) == set(
        json.loads((FIXTURE / "config.json").read_text())
    )
    assert 3e5 < count_parameters(path) < 5e6
    lm = load_mimo_audio(path, device="cpu", dtype=torch.float32)  # special ids from the saved tokenizer
    tok = AutoTokenizer.from_pretrained(path)
    for name, token in mm.SPECIAL_TOKEN_NAMES.items():
        assert getattr(lm.special, name) == tok.convert_tokens_to_ids(token)
        assert tok(token, add_special_tokens=False)["input_ids"] == [getattr(lm.special, name)]
    before, after = audio_understanding_prompt_ids(tok, "Which sound comes first? A. a bell B. a dog")
    assert tok.decode(before) == USER_START
    assert tok.decode(after).endswith("<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n")
    assert stop_token_ids(tok) == [tok.convert_tokens_to_ids("<|im_end|>")]
    codes = np.random.default_rng(0).integers(0, 128, size=(20, 30))
    with torch.no_grad():
        prefix = lm.build_prefix(before, codes, after)
        assert prefix.shape[0] == len(before) + 2 + 8 + len(after)
        logits = lm(prefix[None]).logits
    assert logits.shape == (1, prefix.shape[0], len(tok)) and torch.isfinite(logits).all()
