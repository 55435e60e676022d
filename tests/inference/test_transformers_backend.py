"""The transformers backend on tiny random models: the shared [system + clip] prefix gives the same
numbers as the plain path and as the model's own forward; letters/options/generate behave."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from adqa_data.core.errors import UserError  # noqa: E402
from adqa_data.inference.adapters.base import whisper_features  # noqa: E402
from adqa_data.inference.transformers_backend import TransformersBackend  # noqa: E402
from adqa_data.inference.types import Backend, Query, Sampling  # noqa: E402
from adqa_data.testing import models as tm  # noqa: E402

pytestmark = pytest.mark.slow
SR = 16000


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    tok = tm.train_bpe_tokenizer()
    return {
        "qwen2_audio": tm.build_tiny_qwen2_audio(root / "q2a", seed=0, tokenizer=tok),
        "qwen25_omni": tm.build_tiny_qwen25_omni_thinker(root / "omni", seed=0, tokenizer=tok),
        "audio_flamingo3": tm.build_tiny_audio_flamingo3(root / "af3", seed=0, tokenizer=tok),
    }


@pytest.fixture(scope="module")
def backends(models):
    bs = {f: TransformersBackend(p, max_batch_tokens=1500, max_batch_rows=5) for f, p in models.items()}
    yield bs
    for b in bs.values():
        b.close()


def _queries(n, shared: bool, seconds=2.0, style="letters", seed=0, nchoices=4):
    silence = np.zeros(int(seconds * SR), np.float32)
    items = tm.synthetic_items(n, seed=seed)
    qs = []
    for i, (q, ch, _) in enumerate(items):
        ch = ch[: nchoices - (i % 2)]  # also 3-option items: letters are per query
        qs.append(Query(f"q{i}", q, ch, silence.copy(), "silence" if shared else f"clip{i}", style))
    return qs


def _reference_last_logits(b: TransformersBackend, q: Query, extra_ids=()):
    """The model's own forward (it merges the audio itself) over prompt + extra tokens."""
    model = b.model
    ids = model.tokenize(b.adapter.build_prompt(q), model.audio_token_count(len(q.audio))) + list(extra_ids)
    f = whisper_features(model.feature_extractor, [q.audio], SR)
    with torch.no_grad():
        return (
            model.module(
                input_ids=torch.tensor([ids]),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                input_features=f.input_features,
                **{_mask_name(b): f.attention_mask},
            )
            .logits[0]
            .float()
        )


def _mask_name(b: TransformersBackend) -> str:
    return "input_features_mask" if b.adapter.family == "audio_flamingo3" else "feature_attention_mask"


@pytest.mark.parametrize("family", ["qwen2_audio", "qwen25_omni", "audio_flamingo3"])
def test_letters_shared_prefix_equals_plain_and_model_forward(backends, family):
    b = backends[family]
    assert isinstance(b, Backend)
    shared_q, plain_q = _queries(7, shared=True), _queries(7, shared=False)
    before = dict(b.stats)
    shared = [s.probs for s in b.score_letters(shared_q)]
    assert b.stats["prefix_passes"] == before["prefix_passes"] + 1  # the prefix ran once for 7 queries
    assert b.stats["shared_rows"] == before["shared_rows"] + 7
    plain = [s.probs for s in b.score_letters(plain_q)]
    assert b.stats["plain_rows"] == before["plain_rows"] + 7
    for s, p, q in zip(shared, plain, shared_q):
        assert s.shape == (len(q.choices),)
        assert abs(s.sum() - 1) < 1e-9 and (s > 0).all()
        np.testing.assert_allclose(s, p, atol=1e-5)
    # and both equal the model's own full forward, renormalised over the letters
    for i in (0, 1):
        logits = _reference_last_logits(b, shared_q[i])[-1]
        ids = [b.model.tokenizer.convert_tokens_to_ids(L) for L in "ABCD"[: len(shared_q[i].choices)]]
        np.testing.assert_allclose(shared[i], torch.softmax(logits[ids], 0).numpy(), atol=1e-5)
    # the stored prefix is reused by a later call, even for a single query
    n = b.stats["prefix_passes"]
    again = [s.probs for s in b.score_letters(shared_q[:1])]
    assert b.stats["prefix_passes"] == n
    np.testing.assert_allclose(again[0], shared[0], atol=1e-6)


def test_letters_do_not_depend_on_batching(models):
    qs = _queries(9, shared=True, seed=5)
    a = TransformersBackend(models["qwen2_audio"], max_batch_rows=2)
    b = TransformersBackend(models["qwen2_audio"], max_batch_rows=64)
    try:
        for x, y in zip(a.score_letters(qs), b.score_letters(qs[::-1])[::-1]):
            np.testing.assert_allclose(x.probs, y.probs, atol=1e-5)
            assert abs(x.mass - y.mass) < 1e-6
    finally:
        a.close(), b.close()


def test_mixed_call_keeps_input_order(backends):
    b = backends["qwen2_audio"]
    shared, plain = _queries(4, True, seed=7), _queries(3, False, seed=8)
    mixed = [shared[0], plain[0], shared[1], plain[1], shared[2], plain[2], shared[3]]
    out = b.score_letters(mixed)
    ref = b.score_letters(shared) + b.score_letters(plain)
    order = [0, 4, 1, 5, 2, 6, 3]
    for o, r in zip(out, order):
        np.testing.assert_allclose(o.probs, ref[r].probs, atol=1e-5)


def test_letters_need_a_letter_first_style(backends):
    with pytest.raises(UserError, match="letter"):
        backends["qwen2_audio"].score_letters(_queries(2, True, style="think"))


@pytest.mark.parametrize("family", ["qwen2_audio", "qwen25_omni"])
@pytest.mark.parametrize("style", ["letters", "audiomcq"])
def test_options_mode_matches_brute_force(backends, family, style):
    b = backends[family]
    qs = _queries(3, shared=True, style=style, seed=11)
    shared = b.score_options(qs)
    plain = b.score_options(_queries(3, shared=False, style=style, seed=11))
    for s, p in zip(shared, plain):
        assert abs(s.sum() - 1) < 1e-9
        np.testing.assert_allclose(s, p, atol=1e-5)
    # brute force: one full forward per option, mean log-prob of the reply tokens
    q = qs[0]
    tok = b.model.tokenizer
    base = b.adapter.prompt_parts(q).suffix
    means = []
    for i in range(len(q.choices)):
        reply = b.model.tokenize(
            base + q.choices[i] if style == "letters" else base + f"<answer>{q.choices[i]}</answer>"
        )
        cont = reply[len(b.model.tokenize(base)) :]
        logits = _reference_last_logits(b, q, cont)
        lp = logits[-len(cont) - 1 : -1].log_softmax(-1).gather(1, torch.tensor(cont)[:, None]).squeeze(1)
        means.append(lp.mean())
    np.testing.assert_allclose(shared[0], torch.softmax(torch.stack(means), 0).numpy(), atol=1e-5)
    assert tok is not None


def test_options_unsupported_for_think(backends):
    with pytest.raises(UserError):
        backends["qwen2_audio"].score_options(_queries(2, True, style="think"))


@pytest.mark.parametrize("family", ["qwen2_audio", "qwen25_omni", "audio_flamingo3"])
def test_generate_greedy_equals_model_generate(backends, family):
    b = backends[family]
    q = _queries(1, shared=False, seed=3)[0]
    g = b.generate([q], Sampling(n=1, temperature=0.0, max_new_tokens=6))[0]
    model = b.model
    ids = torch.tensor([g.prompt_token_ids])
    f = whisper_features(model.feature_extractor, [q.audio], SR)
    with torch.no_grad():
        ref = model.module.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            input_features=f.input_features,
            **{_mask_name(b): f.attention_mask},
            do_sample=False,
            max_new_tokens=6,
        )[0, ids.shape[1] :].tolist()
    c = g.completions[0]
    assert c.token_ids == ref[: len(c.token_ids)]
    assert len(c.logprobs) == len(c.token_ids) and all(lp <= 0 for lp in c.logprobs)
    assert c.finish_reason in ("stop", "length")


def test_generate_sampling_is_seeded_and_batch_independent(models):
    qs = _queries(3, shared=True, seed=4) + _queries(2, shared=False, seed=6)
    s = Sampling(n=4, temperature=1.0, top_p=0.9, max_new_tokens=8, seed=123)
    a = TransformersBackend(models["qwen2_audio"], max_batch_rows=4)
    b = TransformersBackend(models["qwen2_audio"], max_batch_rows=64)
    try:
        ga, gb = a.generate(qs, s), b.generate(qs[::-1], s)[::-1]
        other = b.generate(qs[:1], Sampling(n=4, temperature=1.0, top_p=0.9, max_new_tokens=8, seed=124))[0]
    finally:
        a.close(), b.close()
    for x, y in zip(ga, gb):
        assert x.key == y.key and len(x.completions) == 4
        for cx, cy in zip(x.completions, y.completions):
            assert cx.token_ids == cy.token_ids and cx.text == cy.text
            np.testing.assert_allclose(cx.logprobs, cy.logprobs, atol=1e-4)
            assert len(cx.token_ids) == len(cx.logprobs) <= 8
            assert cx.finish_reason == ("stop" if len(cx.token_ids) < 8 else cx.finish_reason)
    # the 4 samples of a prompt differ (a random tiny model is near-uniform), and a new seed changes them
    assert len({tuple(c.token_ids) for c in ga[0].completions}) > 1
    assert [c.token_ids for c in other.completions] != [c.token_ids for c in ga[0].completions]


@pytest.mark.parametrize("family", ["qwen2_audio", "qwen25_omni"])
def test_what_a_stage_may_ask(backends, family):
    """The protocol's stage-facing members: the audio rate, the prompt as the model sees it (the same
    text the generated prompt ids decode to) and an anchoring pass that shares the loaded model."""
    b = backends[family]
    q = _queries(1, shared=False, seed=4, style="think")[0]
    assert b.sample_rate == 16000
    prompt = b.prompt_text(q)
    assert (
        prompt.endswith("assistant\n")
        and q.question in prompt
        and prompt.count(b.adapter.audio_placeholder) == 1
    )
    g = b.generate([q], Sampling(temperature=0.0, max_new_tokens=2))[0]
    n_audio = b.model.audio_token_count(len(q.audio))
    assert g.prompt_token_ids == b.model.tokenize(prompt, n_audio)
    scorer = b.anchoring_scorer(layers=1, batch_size=2)
    assert scorer.model is b.model
    scores = scorer.scores(q, g.prompt_token_ids, [c.token_ids for c in g.completions])
    assert len(scores) == 1 and 0.0 <= scores[0] <= 1.0
    scorer.close()  # shares the backend's model: closing it must not free the weights
    assert b.model.module is not None


def test_sampling_logprobs_are_the_processed_distribution(backends):
    """With top_p tiny only the argmax survives: every token is the greedy one with log-prob 0."""
    b = backends["qwen2_audio"]
    q = _queries(1, shared=False, seed=9)[0]
    greedy = b.generate([q], Sampling(temperature=0.0, max_new_tokens=5))[0].completions[0]
    nucleus = b.generate([q], Sampling(temperature=0.7, top_p=1e-6, max_new_tokens=5, seed=1))[0].completions[
        0
    ]
    assert nucleus.token_ids == greedy.token_ids
    assert all(abs(lp) < 1e-5 for lp in nucleus.logprobs)


def test_close_frees_the_model(models):
    b = TransformersBackend(models["qwen2_audio"])
    b.close()
    assert b.model is None


@pytest.mark.parametrize("family", ["qwen2_audio", "qwen25_omni", "audio_flamingo3"])
def test_prefix_attention_equals_copied_prefix(models, backends, family):
    """The shared prefix attended once (default) = the prefix copied into every row (plain attention),
    in all three modes, including continuations (option replies, decoding) that carry a padding mask."""
    fast = backends[family]
    assert fast.shared_attention == "prefix"
    ref = TransformersBackend(models[family], shared_attention="copy", max_batch_rows=5)
    try:
        qs = _queries(5, shared=True, seed=21)
        for a, b in zip(fast.score_letters(qs), ref.score_letters(qs)):
            np.testing.assert_allclose(a.probs, b.probs, atol=1e-5)
        for a, b in zip(fast.score_options(qs), ref.score_options(qs)):
            np.testing.assert_allclose(a, b, atol=1e-5)
        s = Sampling(n=2, temperature=0.0, max_new_tokens=5)
        for a, b in zip(fast.generate(qs, s), ref.generate(qs, s)):
            assert [c.token_ids for c in a.completions] == [c.token_ids for c in b.completions]
            np.testing.assert_allclose(a.completions[0].logprobs, b.completions[0].logprobs, atol=1e-4)
    finally:
        ref.close()


def test_prefix_attention_kernel_matches_reference():
    """The CPU flash path (with log-sum-exp) equals the exact math path, GQA folding included."""
    from adqa_data.inference import shared_prefix as sp

    g = torch.Generator().manual_seed(0)
    B, H, Hkv, S, P, D = 3, 4, 2, 5, 7, 8

    class M:
        layer_idx = 0

    q = torch.randn(B, H, S, D, generator=g)
    k, v = torch.randn(B, Hkv, S, D, generator=g), torch.randn(B, Hkv, S, D, generator=g)
    pk, pv = torch.randn(1, Hkv, P, D, generator=g), torch.randn(1, Hkv, P, D, generator=g)
    mask = torch.ones(B, S, dtype=torch.long)
    mask[1, 3:] = 0
    out, _ = sp.shared_prefix_attention(M(), q, k, v, mask, scaling=D**-0.5, adqa_prefix=[(pk, pv)])
    # reference: the prefix copied per row, heads repeated, one softmax over [prefix | own keys]
    K = torch.cat([pk.expand(B, -1, -1, -1), k], 2).repeat_interleave(H // Hkv, 1)
    V = torch.cat([pv.expand(B, -1, -1, -1), v], 2).repeat_interleave(H // Hkv, 1)
    allowed = torch.cat(
        [
            torch.ones(B, 1, S, P, dtype=torch.bool),
            torch.ones(S, S, dtype=torch.bool).tril()[None, None] & mask.bool()[:, None, None, :],
        ],
        -1,
    )
    ref = torch.nn.functional.scaled_dot_product_attention(q, K, V, attn_mask=allowed).transpose(1, 2)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
