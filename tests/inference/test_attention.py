"""The hooked response attention equals eager `output_attentions` and keeps far less.

Every model here is a tiny random one built from a config. Its q/k projections are scaled up so that
attention is far from uniform: with the default init (std 0.02) every row would be close to 1/T and
almost any recomputation, right or wrong, would "match" eager attention to 1e-3.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from adqa_data.inference.attention import (  # noqa: E402
    DEEP_FRACTION,
    AttentionRecorder,
    audio_key_masks,
    audio_token_id_of,
    capture_response_attention,
    decoder_layers,
    resolve_layers,
    right_pad,
)

TOL = 2e-6  # same forward: float32 rounding only
SDPA_TOL = 1e-5  # SDPA forward vs a separate eager forward


def _sharpen(model: torch.nn.Module, factor: float) -> None:
    """Multiply every attention logit by about `factor` (q and k each scaled by its square root)."""
    with torch.no_grad():
        for layer in decoder_layers(model):
            attn = layer.self_attn
            if hasattr(attn, "q_norm"):  # Qwen3 normalises q and k per head: scale the norms instead
                attn.q_norm.weight.mul_(factor**0.5)
                attn.k_norm.weight.mul_(factor**0.5)
            else:  # logits ∝ |W_q||W_k|; init std 0.02 gives near-uniform rows
                attn.q_proj.weight.mul_(factor**0.5)
                attn.k_proj.weight.mul_(factor**0.5)


# the tiny text decoder every model here uses (the audio model's text_config too)
TINY_TEXT = {
    "vocab_size": 300,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
}


def _text_model(kind: str = "qwen2", **overrides):
    torch.manual_seed(0)
    common = {**TINY_TEXT, **overrides}
    if kind == "qwen3":
        from transformers import Qwen3Config, Qwen3ForCausalLM

        model = Qwen3ForCausalLM(Qwen3Config(head_dim=16, **common))
        sharpen = 4.0  # q/k are unit-RMS after the norms: logits are already O(1) before scaling
    else:
        from transformers import Qwen2Config, Qwen2ForCausalLM

        model = Qwen2ForCausalLM(Qwen2Config(**common))
        sharpen = 64.0
    model.set_attn_implementation("sdpa")
    _sharpen(model, sharpen)
    return model.eval()


def _batch(seed: int = 1, prompts=(30, 22, 40), completions=(10, 17, 5)):
    g = torch.Generator().manual_seed(seed)
    p = [torch.randint(1, 300, (n,), generator=g).tolist() for n in prompts]
    c = [torch.randint(1, 300, (n,), generator=g).tolist() for n in completions]
    return right_pad(p, c, pad_id=0)


def _eager_attentions(model, **inputs):
    """Reference: eager attention of every layer (what the module must avoid doing at scale)."""
    before = model.config._attn_implementation
    model.set_attn_implementation(
        {"": "eager", "text_config": "eager"} if hasattr(model.config, "text_config") else "eager"
    )
    try:
        with torch.no_grad():
            return model(**inputs, output_attentions=True).attentions
    finally:
        model.set_attn_implementation(
            {"": before, "text_config": before} if hasattr(model.config, "text_config") else before
        )


def _eager_rows(attentions, layers, b, start, mask_row):
    """Eager [n_layers, H, R, T] for row b, restricted to its valid keys and response queries."""
    valid = torch.nonzero(mask_row.bool()).flatten()
    q = valid[valid >= start]
    return torch.stack([attentions[i][b][:, q][:, :, valid] for i in layers]).numpy()


def test_resolve_layers():
    assert resolve_layers(28, "deep") == list(range(21, 28))
    assert resolve_layers(32, "deep") == list(range(24, 32))
    assert resolve_layers(2, "deep") == [1]
    assert len(resolve_layers(40, "deep")) == int(np.ceil(40 * DEEP_FRACTION))
    assert resolve_layers(10, 3) == [7, 8, 9]
    assert resolve_layers(10, [-1, 2, 2]) == [2, 9]
    with pytest.raises(ValueError):
        resolve_layers(4, [4])
    with pytest.raises(ValueError):
        resolve_layers(4, "shallow")


@pytest.mark.parametrize("kind", ["qwen2", "qwen3"])
def test_recomputation_equals_eager_attention_per_head(kind):
    """Hooks recording during an eager forward see exactly the inputs eager attention used: the numbers
    must agree to float32 rounding, head by head, on every padded row."""
    model = _text_model(kind)
    bl = _batch()
    layers = [1, 3]
    model.set_attn_implementation("eager")
    with torch.no_grad(), AttentionRecorder(model, layers=layers, reduce="heads") as rec:
        rec.arm(bl.attention_mask, bl.response_start)
        ref = model(
            input_ids=bl.input_ids, attention_mask=bl.attention_mask, output_attentions=True
        ).attentions
        got = rec.maps()
    for b in range(3):
        want = _eager_rows(ref, layers, b, bl.response_start[b], bl.attention_mask[b])
        assert got[b].shape == want.shape
        assert want.max() > 0.5, "attention should be far from uniform for this test to mean anything"
        np.testing.assert_allclose(got[b], want, atol=TOL, rtol=0)


@pytest.mark.parametrize("kind", ["qwen2", "qwen3"])
def test_sdpa_pass_matches_a_separate_eager_forward(kind):
    """The shipped path: SDPA forward + hooks against an eager `output_attentions` forward. Here the
    deeper layers' inputs already differ by SDPA-vs-eager rounding (~1e-7), which sharp attention
    amplifies a little, hence the looser tolerance (the benchmark's target is 1e-5)."""
    model = _text_model(kind)
    bl = _batch()
    layers = [1, 3]
    got = capture_response_attention(
        model, bl.input_ids, bl.attention_mask, bl.response_start, layers=layers, reduce="heads"
    )
    ref = _eager_attentions(model, input_ids=bl.input_ids, attention_mask=bl.attention_mask)
    for b in range(3):
        want = _eager_rows(ref, layers, b, bl.response_start[b], bl.attention_mask[b])
        np.testing.assert_allclose(got[b], want, atol=SDPA_TOL, rtol=0)


def test_mean_map_is_head_and_layer_average_and_rows_are_distributions():
    model = _text_model()
    bl = _batch()
    layers = resolve_layers(4, "deep")  # the default: [3]
    got = capture_response_attention(
        model, bl.input_ids, bl.attention_mask, bl.response_start, layers=[0, 2, 3]
    )
    per_layer = capture_response_attention(
        model, bl.input_ids, bl.attention_mask, bl.response_start, layers=[0, 2, 3], reduce="layers"
    )
    default = capture_response_attention(model, bl.input_ids, bl.attention_mask, bl.response_start)
    ref = _eager_attentions(model, input_ids=bl.input_ids, attention_mask=bl.attention_mask)
    for b in range(3):
        n = int(bl.attention_mask[b].sum())
        r = n - bl.response_start[b]
        assert got[b].shape == (r, n) and got[b].dtype == np.float32
        np.testing.assert_allclose(got[b].sum(-1), 1.0, atol=1e-5)
        want = _eager_rows(ref, [0, 2, 3], b, bl.response_start[b], bl.attention_mask[b]).mean(axis=(0, 1))
        np.testing.assert_allclose(got[b], want, atol=TOL, rtol=0)
        np.testing.assert_allclose(per_layer[b].mean(0), got[b], atol=1e-6)
        want_default = _eager_rows(ref, layers, b, bl.response_start[b], bl.attention_mask[b]).mean(
            axis=(0, 1)
        )
        np.testing.assert_allclose(default[b], want_default, atol=TOL, rtol=0)
        # causal: a response row never sees later tokens
        start = bl.response_start[b]
        for i in range(r):
            assert np.all(got[b][i, start + i + 1 :] == 0)


def test_left_padding_and_int_response_start():
    model = _text_model()
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(1, 300, (2, 36), generator=g)
    mask = torch.ones_like(ids)
    mask[1, :6] = 0  # row 1 left-padded by 6
    got = capture_response_attention(model, ids, mask, 28, layers=[2, 3], reduce="heads")
    ref = _eager_attentions(model, input_ids=ids, attention_mask=mask)
    assert got[0].shape[-2:] == (8, 36) and got[1].shape[-2:] == (8, 30)
    for b in range(2):
        np.testing.assert_allclose(got[b], _eager_rows(ref, [2, 3], b, 28, mask[b]), atol=TOL, rtol=0)


def test_sliding_window_layers():
    model = _text_model(use_sliding_window=True, sliding_window=8, max_window_layers=2)
    assert model.config.layer_types[3] == "sliding_attention"
    bl = _batch()
    got = capture_response_attention(
        model, bl.input_ids, bl.attention_mask, bl.response_start, layers=[1, 3], reduce="heads"
    )
    ref = _eager_attentions(model, input_ids=bl.input_ids, attention_mask=bl.attention_mask)
    for b in range(3):
        want = _eager_rows(ref, [1, 3], b, bl.response_start[b], bl.attention_mask[b])
        np.testing.assert_allclose(got[b], want, atol=TOL, rtol=0)
        assert (got[b][1, :, :, : bl.response_start[b] - 8] == 0).all()


def test_hooks_leave_the_sdpa_forward_unchanged():
    model = _text_model()
    bl = _batch()
    with torch.no_grad():
        plain = model(input_ids=bl.input_ids, attention_mask=bl.attention_mask).logits
        with AttentionRecorder(model, layers=[1, 3]) as rec:
            rec.arm(bl.attention_mask, bl.response_start)
            hooked = model(input_ids=bl.input_ids, attention_mask=bl.attention_mask).logits
            maps = rec.maps()
        after = model(input_ids=bl.input_ids, attention_mask=bl.attention_mask).logits
    assert torch.equal(plain, hooked)
    assert torch.equal(plain, after)  # hooks removed on exit
    assert all(len(layer.self_attn._forward_hooks) == 0 for layer in decoder_layers(model))
    assert len(maps) == 3


def test_recording_a_training_forward_leaves_gradients_unchanged():
    """The recorder can ride along a forward that is also trained on (e.g. a transformers-backend
    rollout): its own work runs under no_grad, so loss and gradients are those of an unhooked forward."""
    model = _text_model()
    bl = _batch()

    def grads(hooked: bool) -> list[torch.Tensor]:
        model.zero_grad()
        if hooked:
            with AttentionRecorder(model, layers=[1, 3]) as rec:
                rec.arm(bl.attention_mask, bl.response_start)
                out = model(input_ids=bl.input_ids, attention_mask=bl.attention_mask)
                assert len(rec.maps()) == 3
        else:
            out = model(input_ids=bl.input_ids, attention_mask=bl.attention_mask)
        out.logits.float().pow(2).mean().backward()
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    plain, hooked = grads(False), grads(True)
    assert len(plain) == len(hooked) and all(torch.equal(a, b) for a, b in zip(plain, hooked))


def test_a_second_forward_needs_a_new_arm():
    model = _text_model()
    bl = _batch()
    with torch.no_grad(), AttentionRecorder(model, layers=[3]) as rec:
        rec.arm(bl.attention_mask, bl.response_start)
        model(input_ids=bl.input_ids, attention_mask=bl.attention_mask)
        first = rec.maps()
        with pytest.raises(RuntimeError, match="arm"):
            model(input_ids=bl.input_ids, attention_mask=bl.attention_mask)
        rec.arm(bl.attention_mask, bl.response_start)
        model(input_ids=bl.input_ids, attention_mask=bl.attention_mask)
        again = rec.maps()
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


def test_empty_completion_gives_an_empty_map():
    model = _text_model()
    bl = _batch(prompts=(12, 9), completions=(4, 0))
    got = capture_response_attention(model, bl.input_ids, bl.attention_mask, bl.response_start, layers=[3])
    assert got[0].shape == (4, 16) and got[1].shape == (0, 9)


def test_stops_after_last_chosen_layer_and_keeps_little():
    model = _text_model()
    bl = _batch(prompts=(120, 100, 90), completions=(30, 40, 20))
    ran = []
    handles = [
        layer.register_forward_hook(lambda m, a, o, i=i: ran.append(i))
        for i, layer in enumerate(decoder_layers(model))
    ]
    try:
        got = capture_response_attention(
            model, bl.input_ids, bl.attention_mask, bl.response_start, layers=[1, 2]
        )
    finally:
        for h in handles:
            h.remove()
    assert ran == [0, 1]  # layer 2's attention ran (hooked), its MLP and layer 3 did not
    kept = sum(a.nbytes for a in got)
    ref = _eager_attentions(model, input_ids=bl.input_ids, attention_mask=bl.attention_mask)
    full = sum(t.numel() * t.element_size() for t in ref)
    assert kept / full < 0.02, (kept, full)


def test_audio_key_masks_columns_and_generated_placeholders():
    ids = torch.tensor([[5, 9, 9, 9, 6, 7, 9, 8, 0, 0], [9, 9, 4, 4, 4, 4, 4, 4, 4, 4]])
    mask = torch.tensor([[1] * 8 + [0] * 2, [1] * 10])
    every = audio_key_masks(ids, mask, 9)
    assert [m.tolist() for m in every] == [
        [False, True, True, True, False, False, True, False],
        [True, True] + [False] * 8,
    ]
    prompt_only = audio_key_masks(ids, mask, 9, response_start=[5, 3])  # row 0 "generated" a 9 at index 6
    assert prompt_only[0].tolist() == [False, True, True, True, False, False, False, False]
    assert prompt_only[1].tolist() == every[1].tolist()


def test_training_flag_restored_and_errors():
    model = _text_model().train()
    bl = _batch()
    capture_response_attention(model, bl.input_ids, bl.attention_mask, bl.response_start, layers=[3])
    assert model.training
    with AttentionRecorder(model, layers=[3]) as rec, pytest.raises(RuntimeError, match="arm"):
        rec.maps()
    with pytest.raises(ValueError):
        AttentionRecorder(model, layers=[3], reduce="sum")  # type: ignore[arg-type]


# --- audio model ---------------------------------------------------------------------------------

AUDIO_TOKEN = 290
FRAMES = 100  # mel frames per clip: max_source_positions 50 → 25 audio tokens


def _audio_model():
    from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration

    torch.manual_seed(0)
    cfg = Qwen2AudioConfig(
        audio_config={
            "d_model": 32,
            "encoder_layers": 1,
            "encoder_attention_heads": 2,
            "encoder_ffn_dim": 64,
            "num_mel_bins": 16,
            "max_source_positions": FRAMES // 2,
        },
        text_config={"model_type": "qwen2", **TINY_TEXT},
        audio_token_index=AUDIO_TOKEN,
    )
    model = Qwen2AudioForConditionalGeneration(cfg)
    model.set_attn_implementation("sdpa")
    _sharpen(model, 64.0)
    return model.eval()


def _audio_batch():
    n_audio = 25
    g = torch.Generator().manual_seed(5)
    prompts, completions = [], []
    for pre, post, comp in ((3, 6, 9), (4, 2, 14)):
        prompts.append(
            torch.randint(1, 280, (pre,), generator=g).tolist()
            + [AUDIO_TOKEN] * n_audio
            + torch.randint(1, 280, (post,), generator=g).tolist()
        )
        completions.append(torch.randint(1, 280, (comp,), generator=g).tolist())
    bl = right_pad(prompts, completions, pad_id=0)
    feats = torch.randn(2, 16, FRAMES, generator=g)
    feat_mask = torch.ones(2, FRAMES, dtype=torch.long)
    return bl, {"input_features": feats, "feature_attention_mask": feat_mask}


def test_audio_model_matches_eager_with_audio_mask():
    model = _audio_model()
    assert audio_token_id_of(model) == AUDIO_TOKEN
    assert decoder_layers(model) is model.model.language_model.layers
    bl, audio = _audio_batch()
    got = capture_response_attention(
        model, bl.input_ids, bl.attention_mask, bl.response_start, layers=[2, 3], reduce="heads", **audio
    )
    masks = audio_key_masks(bl.input_ids, bl.attention_mask, audio_token_id_of(model))
    ref = _eager_attentions(model, input_ids=bl.input_ids, attention_mask=bl.attention_mask, **audio)
    assert len(ref) == 4  # the text model's layers only, the audio encoder was not asked
    for b in range(2):
        want = _eager_rows(ref, [2, 3], b, bl.response_start[b], bl.attention_mask[b])
        assert want.max() > 0.5
        np.testing.assert_allclose(got[b], want, atol=TOL, rtol=0)
        assert masks[b].shape == (got[b].shape[-1],) and masks[b].sum() == 25
        assert masks[b][: bl.response_start[b]].sum() == 25  # the placeholders are in the prompt
        on_audio = got[b].mean((0, 1))[:, masks[b]].sum(-1)  # share of mass on audio keys, per response row
        assert np.all((on_audio > 0) & (on_audio < 1))
    # a bare text decoder fed with the merged embeddings (how backends/anchoring.py calls it) agrees
    with torch.inference_mode():
        embeds = model.model(
            input_ids=bl.input_ids, attention_mask=bl.attention_mask, output_hidden_states=True, **audio
        ).hidden_states[0]
    via_decoder = capture_response_attention(
        model.model.language_model,
        None,
        bl.attention_mask,
        bl.response_start,
        layers=[2, 3],
        reduce="heads",
        inputs_embeds=embeds,
    )
    for b in range(2):
        np.testing.assert_array_equal(via_decoder[b], got[b])
    # and the hooks do not disturb the multimodal SDPA forward
    with torch.no_grad():
        plain = model(input_ids=bl.input_ids, attention_mask=bl.attention_mask, **audio).logits
        with AttentionRecorder(model, layers="deep") as rec:
            rec.arm(bl.attention_mask, bl.response_start)
            hooked = model(input_ids=bl.input_ids, attention_mask=bl.attention_mask, **audio).logits
    assert torch.equal(plain, hooked)


def test_unexpanded_audio_placeholder_is_refused():
    model = _audio_model()
    g = torch.Generator().manual_seed(7)
    ids = torch.cat(
        [
            torch.randint(1, 280, (1, 4), generator=g),
            torch.tensor([[AUDIO_TOKEN]]),
            torch.randint(1, 280, (1, 10), generator=g),
        ],
        dim=1,
    )
    feats = {
        "input_features": torch.randn(1, 16, FRAMES, generator=g),
        "feature_attention_mask": torch.ones(1, FRAMES, dtype=torch.long),
    }
    with pytest.raises(RuntimeError, match="expanded"):
        capture_response_attention(model, ids, torch.ones_like(ids), 10, layers=[3], **feats)


# --- the project's offline checkpoints: real processor expansion, and the Omni thinker's M-RoPE ------


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    from adqa_data.testing import models as tm

    return tm.train_bpe_tokenizer(tmp_path_factory.mktemp("tok"), vocab_size=4096)


def _recorded_vs_eager(model, layers, inputs, response_start):
    """Record during an eager forward (same inputs as eager attention) and return (got, eager rows)."""
    text_eager = {"": "eager", "text_config": "eager"}
    model.set_attn_implementation(text_eager)
    try:
        with torch.no_grad(), AttentionRecorder(model, layers=layers, reduce="heads") as rec:
            rec.arm(inputs["attention_mask"], response_start)
            ref = model(**inputs, output_attentions=True).attentions
            got = rec.maps()
    finally:
        model.set_attn_implementation({"": "sdpa", "text_config": "sdpa"})
    want = [
        _eager_rows(ref, layers, b, response_start[b], inputs["attention_mask"][b]) for b in range(len(got))
    ]
    return got, want


@pytest.mark.slow
def test_qwen2_audio_checkpoint_with_processor(tok, tmp_path):
    from transformers import AutoProcessor, Qwen2AudioForConditionalGeneration

    from adqa_data.testing import models as tm

    out = tm.build_tiny_qwen2_audio(tmp_path / "q2a", size="tiny", tokenizer=tok)
    model = Qwen2AudioForConditionalGeneration.from_pretrained(out, attn_implementation="sdpa").eval()
    _sharpen(model, 64.0)
    proc = AutoProcessor.from_pretrained(out)
    text = proc.apply_chat_template(
        [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": "What is it?"}]}],
        tokenize=False,
        add_generation_prompt=True,
    )
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(16000 * 2).astype(np.float32) * 0.1 for _ in range(2)]
    completions = ["<think>a dog barks twice</think><answer>B</answer>", "<answer>A</answer>"]
    enc = proc(
        text=[text + c for c in completions],
        audio=clips,
        sampling_rate=16000,
        return_tensors="pt",
        padding=True,
    )
    assert (enc.attention_mask[:, 0] == 1).all(), "the processor should pad on the right"
    prompt_len = len(proc(text=text, audio=clips[0], sampling_rate=16000).input_ids[0])
    starts = [prompt_len, prompt_len]
    inputs = dict(enc)
    audio = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
    got = capture_response_attention(model, enc.input_ids, enc.attention_mask, starts, layers="deep", **audio)
    masks = audio_key_masks(enc.input_ids, enc.attention_mask, audio_token_id_of(model))
    for b in range(2):
        assert masks[b].sum() == 50  # 2 s at 25 audio tokens per second
        assert got[b].shape == (int(enc.attention_mask[b].sum()) - prompt_len, masks[b].shape[0])
    rec, want = _recorded_vs_eager(model, [1], inputs, starts)
    for b in range(2):
        assert want[b].max() > 0.5
        np.testing.assert_allclose(rec[b], want[b], atol=TOL, rtol=0)
        np.testing.assert_allclose(got[b], want[b].mean((0, 1)), atol=SDPA_TOL, rtol=0)


@pytest.mark.slow
def test_qwen25_omni_thinker_mrope(tok, tmp_path):
    from transformers import AutoFeatureExtractor, Qwen2_5OmniThinkerForConditionalGeneration

    from adqa_data.testing import models as tm

    out = tm.build_tiny_qwen25_omni_thinker(tmp_path / "omni", size="tiny", tokenizer=tok)
    model = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(out, attn_implementation="sdpa").eval()
    _sharpen(model, 64.0)
    fe = AutoFeatureExtractor.from_pretrained(out)
    rng = np.random.default_rng(1)
    clips = [rng.standard_normal(16000 * 2).astype(np.float32) * 0.1 for _ in range(2)]
    feats = fe(
        clips, sampling_rate=16000, return_attention_mask=True, padding="max_length", return_tensors="pt"
    )
    audio_id = audio_token_id_of(model)
    prompt = f"<|im_start|>user\n<|audio_bos|>{'<|AUDIO|>' * 50}<|audio_eos|>Which one?<|im_end|>\n<|im_start|>assistant\n"
    p_ids = tok(prompt).input_ids
    c_ids = [
        tok("<think>it is a bird</think><answer>C</answer>").input_ids,
        tok("<answer>D</answer>").input_ids,
    ]
    bl = right_pad([p_ids, p_ids], c_ids, pad_id=tok.pad_token_id)
    inputs = {
        "input_ids": bl.input_ids,
        "attention_mask": bl.attention_mask,
        "input_features": feats.input_features,
        "feature_attention_mask": feats.attention_mask,
    }
    got = capture_response_attention(
        model, layers=[1], reduce="layers", response_start=bl.response_start, **inputs
    )
    masks = audio_key_masks(bl.input_ids, bl.attention_mask, audio_id)
    rec, want = _recorded_vs_eager(model, [1], inputs, bl.response_start)
    for b in range(2):
        assert masks[b].sum() == 50
        assert want[b].max() > 0.5
        np.testing.assert_allclose(rec[b], want[b], atol=TOL, rtol=0)
        np.testing.assert_allclose(got[b], want[b].mean(1), atol=SDPA_TOL, rtol=0)
