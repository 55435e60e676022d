"""MiMo-Audio as a policy on cached codes: the backend against the model's own forward (whose logits
match upstream's, tests/inference/test_mimo_model.py), seeded batch-invariant sampling, the anchoring pass on
the speech groups, and rollout / filter / train stages that read codes and never open an audio file.

The codes come from `encode --codec mimo:<stand-in>` (tests/fixtures/mimo_standin: upstream's tokenizer
interface, codes that are a plain function of the mel frames, ids within MiMo's vocabularies); the
policy is the tiny random MiMo-Audio of `adqa_data.testing.mimo`.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from adqa_data.codecs import clear_loaded  # noqa: E402
from adqa_data.codecs.cache import open_codes  # noqa: E402
from adqa_data.core.errors import UserError  # noqa: E402
from adqa_data.core.schema import ROLLOUTS  # noqa: E402
from adqa_data.core.workspace import Workspace  # noqa: E402
from adqa_data.inference import Query, Sampling, load_backend  # noqa: E402
from adqa_data.inference.factory import backend_input  # noqa: E402
from adqa_data.inference.mimo import model as mm  # noqa: E402
from adqa_data.inference.mimo.prompt import audio_understanding_prompt_ids  # noqa: E402
from adqa_data.mcq.prompt_styles import get_style  # noqa: E402
from adqa_data.stages.download import download  # noqa: E402
from adqa_data.stages.encode import encode  # noqa: E402
from adqa_data.stages.rollout import load_config, rollout  # noqa: E402
from adqa_data.stages.sample import sample  # noqa: E402

pytestmark = pytest.mark.slow
DS = "audiomcq"
CHOICES = ["a dog barking", "a bell", "rain", "an engine"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from adqa_data.testing.mimo import build_tiny_mimo_audio

    return build_tiny_mimo_audio(tmp_path_factory.mktemp("mimo") / "tiny-mimo")


@pytest.fixture(scope="module")
def backend(tiny):
    b = load_backend("transformers", str(tiny), device="cpu")
    yield b
    b.close()


def _codes(frames: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = np.array(mm.OFFICIAL_EMPTY_IDS)[:, None]
    return (rng.integers(0, 1 << 16, size=(8, frames)) % top).astype(np.uint16)


def _query(key: str, codes: np.ndarray | None, style: str = "think", audio_id: str | None = None) -> Query:
    return Query(
        key=key,
        question="What is heard?",
        choices=list(CHOICES),
        audio=None,
        audio_id=audio_id or key,
        prompt_style=style,
        codes=codes,
    )


# ------------------------------------------------------------------------------------------ the backend
def test_detected_from_config_and_reads_codes(tiny, backend):
    assert type(backend).__name__ == "MiMoBackend"
    assert (backend.consumes, backend.codec) == ("codes", "mimo-audio")
    assert backend_input("transformers", str(tiny)) == ("codes", "mimo-audio")
    assert backend_input("transformers", None, family="mimo_audio") == ("codes", "mimo-audio")
    assert backend_input("scripted", None) == ("audio", None)
    with pytest.raises(UserError, match="reads RVQ codes"):
        backend.generate(
            [Query("w", "q?", CHOICES, np.zeros(24000, np.float32), "w")], Sampling(max_new_tokens=2)
        )
    import importlib.util

    if importlib.util.find_spec("vllm") is None:  # the vllm kind is the prompt-embeddings path (needs vLLM)
        with pytest.raises(UserError, match="vllm"):
            load_backend("vllm", str(tiny))


def test_prompt_is_upstreams_and_sampled_logprobs_are_the_models(tiny, backend):
    """Letters style (no system turn): the prompt is upstream's audio-understanding prompt, and the
    stored log-probs equal log-softmax(logits / T) of `MiMoAudioLM` over `build_prefix` + the tokens."""
    tok = backend.model.tokenizer
    codes = _codes(37, 1)  # 37 frames: 10 groups, the last one padded by repeating frame 36
    q = _query("p", codes, style="letters")
    before, after = audio_understanding_prompt_ids(tok, get_style("letters").render(q.question, q.choices))
    sp = backend.model.special
    gen = backend.generate([q], Sampling(n=2, temperature=0.7, max_new_tokens=6, seed=3))[0]
    assert gen.prompt_token_ids == before + [sp.sosp] + [sp.empty] * 10 + [sp.eosp] + after
    lm = backend.model.lm
    for c in gen.completions:
        assert len(c.logprobs) == len(c.token_ids) and sp.empty not in c.token_ids
        with torch.no_grad():
            prefix = lm.build_prefix(before, codes, after)
            emb = torch.cat([prefix, lm.text_embeddings(torch.tensor(c.token_ids[:-1], dtype=torch.long))])
            logits = lm(emb[None]).logits[0, prefix.shape[0] - 1 :].double()
        logits[:, sp.empty] = float("-inf")  # the text head never offers <|empty|>
        want = (logits / 0.7).log_softmax(-1).gather(1, torch.tensor(c.token_ids)[:, None]).squeeze(1)
        np.testing.assert_allclose(c.logprobs, want.numpy(), rtol=0, atol=2e-4)


def test_sampling_is_seeded_per_row_and_batch_invariant(backend):
    qs = [_query(f"k{i}", _codes(20 + 7 * i, i), audio_id=f"a{i % 2}") for i in range(4)]
    qs[2].codes = qs[0].codes  # same audio_id, same codes: the shared-prefix path
    s = Sampling(n=2, temperature=1.0, max_new_tokens=8, seed=5)
    together = backend.generate(qs, s)
    alone = [backend.generate([q], s)[0] for q in reversed(qs)][::-1]
    for a, b in zip(together, alone):
        assert [c.token_ids for c in a.completions] == [c.token_ids for c in b.completions]
        np.testing.assert_allclose(
            [x for c in a.completions for x in c.logprobs],
            [x for c in b.completions for x in c.logprobs],
            atol=1e-4,
        )
    other = backend.generate(qs[:1], Sampling(n=2, temperature=1.0, max_new_tokens=8, seed=6))[0]
    assert [c.token_ids for c in other.completions] != [c.token_ids for c in together[0].completions]
    assert all(c.finish_reason in ("stop", "length") for g in together for c in g.completions)


def test_letter_and_option_scores(backend):
    q = _query("s", _codes(16, 2), style="letters")
    (s,) = backend.score_letters([q])
    p = s.probs
    assert 0 < s.mass <= 1
    assert p.shape == (4,) and abs(p.sum() - 1) < 1e-9
    (o,) = backend.score_options([q])
    assert o.shape == (4,) and abs(o.sum() - 1) < 1e-9
    p2 = backend.score_letters([_query("s2", _codes(16, 3), style="letters")])[0].probs
    assert not np.allclose(p, p2)  # the codes reach the answer


def _all_rows_by_hand(backend, codes, prompt, comp):
    """The model's own prefix embeddings, the hooked last layer over every completion row, audio keys =
    the speech groups: the all-rows map and the audio mask."""
    from adqa_data.inference.attention import capture_response_attention

    lm, sp = backend.model.lm, backend.model.special
    g0 = prompt.index(sp.sosp) + 1
    groups = codes.shape[1] // 4
    with torch.no_grad():
        emb = lm.text_embeddings(torch.tensor(prompt + comp))
        emb[g0 : g0 + groups] = lm.speech_group_embeddings(torch.from_numpy(codes.astype(np.int64))[None])[0]
    (attn,) = capture_response_attention(
        lm.model, None, None, len(prompt), layers=[-1], inputs_embeds=emb[None]
    )
    is_audio = np.zeros(len(prompt) + len(comp), bool)
    is_audio[g0 : g0 + groups] = True
    return attn, is_audio


def test_anchoring_reads_attention_on_the_speech_groups(backend):
    from adqa_data.rewards.anchoring import AnchoringConfig, anchoring_score

    codes = _codes(24, 4)
    q = _query("a", codes)
    gen = backend.generate([q], Sampling(n=2, temperature=1.0, max_new_tokens=5, seed=0))[0]
    comps = [c.token_ids for c in gen.completions]
    scorer = backend.anchoring_scorer(layers=[-1], config=AnchoringConfig(rows="all"))
    got = scorer.components(q, gen.prompt_token_ids, comps)
    for comp, d in zip(comps, got):
        attn, is_audio = _all_rows_by_hand(backend, codes, gen.prompt_token_ids, comp)
        want = anchoring_score(attn, is_audio, scorer.config)
        assert d["score"] == pytest.approx(want["score"], abs=1e-6) and 0 <= d["score"] <= 1


def test_anchoring_scores_the_reasoning_rows_with_the_mimo_tokenizer(backend):
    """The default rows: the reasoning's tokens under MiMo's own tokenizer (its prompt tokens added as
    special tokens), the tags and the end token left out; no reasoning scores 0."""
    from adqa_data.rewards.anchoring import anchoring_score

    tok = backend.model.tokenizer
    codes = _codes(24, 5)
    q = _query("r", codes)
    prompt = backend.generate([q], Sampling(max_new_tokens=1))[0].prompt_token_ids
    end = tok.convert_tokens_to_ids("<|im_end|>")
    texts = [
        "<think>The clip has a dog barking.</think>\n<answer>B</answer>",
        "<think> </think><answer>B</answer>",
    ]
    comps = [tok(t, add_special_tokens=False).input_ids + [end] for t in texts]
    scorer = backend.anchoring_scorer(layers=[-1])
    assert scorer.config.rows == "reasoning"
    with_reasoning, without = scorer.components(q, prompt, comps)
    attn, is_audio = _all_rows_by_hand(backend, codes, prompt, comps[0])
    rows = [
        i
        for i, t in enumerate(comps[0])
        if tok.decode(comps[0][i : i + 1]) in (">The", " clip", " has", " a", " dog", " barking", ".</")
    ]
    assert len(rows) == 7 and rows == list(range(rows[0], rows[0] + 7))  # the reasoning, in one run
    want = anchoring_score(attn[rows], is_audio, scorer.config)
    assert with_reasoning["score"] == pytest.approx(want["score"], abs=1e-6) and with_reasoning["rows"] == 7
    assert without == {
        "con": 0.0,
        "ar": 0.0,
        "ent": 0.0,
        "entropy": 0.0,
        "score": 0.0,
        "rows": 0.0,
        "profile": None,
    }


# ------------------------------------------------------------------------------------------ stages
@pytest.fixture(scope="module")
def encoded(tmp_path_factory, clean_demo_roots, mimo_standin) -> tuple[Path, Path]:
    """(workspace, dataset root copy): download -> encode with the MiMo tokenizer stand-in -> sample."""
    base = tmp_path_factory.mktemp("mimo_ws")
    root = base / "data"
    shutil.copytree(clean_demo_roots[DS], root)
    ws = Workspace(base / "w")
    download(ws, from_dir=root)
    src, weights = mimo_standin
    mp = pytest.MonkeyPatch()
    mp.setenv("ADQA_MIMO_AUDIO_SRC", str(src))
    sys.modules.pop("mimo_audio_tokenizer", None)
    clear_loaded()
    try:
        encode(ws, codec=f"mimo:{weights}")
    finally:
        mp.undo()
    sample(ws, n=4, split="all", seed=0)
    return ws.root, root


def _mimo_cfg(tiny: Path, **kw):
    kw = {
        "model": str(tiny),
        "k": 2,
        "max_new_tokens": 6,
        "shard_size": 2,
        "rewards": {"correctness": 1.0, "format": 0.25, "anchoring": 0.5},
        **kw,
    }
    return load_config(None, **kw)


def _hide_audio(root: Path) -> Path:
    """Move every audio file of the dataset away: what reads audio now fails."""
    away = root.parent / f"{root.name}-audio-moved"
    away.mkdir()
    for f in list(root.rglob("*")):
        if f.is_file() and f.suffix in (".wav", ".flac", ".mp3", ".ogg"):
            dest = away / f.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(f, dest)
    assert any(away.rglob("*.wav"))
    return away


def _restore_audio(root: Path, away: Path) -> None:
    for f in list(away.rglob("*")):
        if f.is_file():
            shutil.move(f, root / f.relative_to(away))
    shutil.rmtree(away)


def test_rollout_reads_codes_and_never_the_audio(encoded, tiny, tmp_path):
    ws_root, root = encoded
    ws = Workspace(tmp_path / "w")
    shutil.copytree(ws_root, ws.root)
    cfg = _mimo_cfg(tiny, codec="mimo-audio")
    first = rollout(ws, cfg, name="with-audio")
    assert first.rows == 8 and first.shards == 2
    away = _hide_audio(root)
    try:
        again = rollout(ws, cfg, name="without-audio")
    finally:
        _restore_audio(root, away)
    a, b = (ws.read(ROLLOUTS, DS, n).to_pylist() for n in ("with-audio", "without-audio"))
    keep = [c for c in a[0] if c not in ("group_id",)]
    assert [{k: r[k] for k in keep} for r in a] == [{k: r[k] for k in keep} for r in b]
    assert again.rows == 8
    codes = open_codes(ws, DS)
    sp_ids = load_backend("transformers", str(tiny)).model.special
    for r in a:  # one <|empty|> per 4 frames of the item's cached codes
        (c,) = codes.load_codes([r["item_id"]])
        assert r["prompt_token_ids"].count(sp_ids.empty) == -(-c.shape[1] // 4)
    prov = ws.provenance("rollout", DS, "with-audio")
    assert prov["config"]["codec_key"] == codes.codec_key
    assert any(r["reward_anchoring"] is not None for r in a) or all(r["reward_correctness"] == 0 for r in a)


def test_rollout_codec_errors_say_how_to_fix(encoded, tiny, tmp_path, clean_demo_roots):
    ws = Workspace(tmp_path / "plain")
    download(ws, from_dir=clean_demo_roots[DS])
    sample(ws, n=2, split="all", seed=0)
    with pytest.raises(UserError, match="was not encoded with mimo-audio") as e:
        rollout(ws, _mimo_cfg(tiny))
    assert "adqa-data encode" in e.value.fix and "--codec mimo-audio" in e.value.fix
    ws2 = Workspace(tmp_path / "enc")
    shutil.copytree(encoded[0], ws2.root)
    with pytest.raises(UserError, match="was not encoded with mimi"):
        rollout(ws2, _mimo_cfg(tiny, codec="mimi"))
    with pytest.raises(UserError, match="reads audio"):
        rollout(ws2, load_config(None, backend="scripted", codec="mimo-audio"))


def test_cli_rollout_on_mimo(encoded, tiny, tmp_path):
    import json

    from typer.testing import CliRunner

    from adqa_data.cli import app

    ws = tmp_path / "w"
    shutil.copytree(encoded[0], ws)
    out = CliRunner().invoke(
        app,
        [
            "rollout",
            "-w",
            str(ws),
            "--model",
            str(tiny),
            "--codec",
            "mimo-audio",
            "-k",
            "2",
            "--max-new-tokens",
            "4",
            "--reward",
            "correctness=1",
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["rows"] == 8


# ------------------------------------------------------------------------------------------ training
def parity(completions, *, completion_ids, **_columns):
    """A plugin reward that varies inside a group of a random model's completions (first token's parity)."""
    return [float(ids[0] % 2) if len(ids) else 0.0 for ids in completion_ids]


@pytest.fixture(scope="module")
def rolled(encoded, tiny, tmp_path_factory) -> Path:
    """The encoded workspace with MiMo rollouts (4 prompts x 4) whose reward varies within groups."""
    ws = Workspace(tmp_path_factory.mktemp("mimo_train") / "w")
    shutil.copytree(encoded[0], ws.root)
    rollout(ws, _mimo_cfg(tiny, k=4, rewards={"correctness": 1.0, "test_mimo_policy:parity": 1.0}), name="m")
    return ws.root


def test_trainer_scores_stored_completions_from_the_same_codes(rolled, tiny, encoded, tmp_path):
    """The trainer's group layout over the codes' prefix embeddings gives the sampler's log-probs, with
    the dataset's audio gone."""
    from adqa_data.stages.rollout.contract import load_rollout_groups
    from adqa_data.train.collate import Collator
    from adqa_data.train.policy import batch_inputs, load_policy

    ws = Workspace(tmp_path / "w")
    shutil.copytree(rolled, ws.root)
    away = _hide_audio(encoded[1])
    try:
        groups, info = load_rollout_groups(ws, DS, ["m"])
        assert info.codec_key == open_codes(ws, DS).codec_key and all(g.codes is not None for g in groups)
        policy = load_policy(str(tiny))
        assert policy.family == "mimo_audio"
        policy.model.module.train()  # a training-mode forward: dropout is off, the function is the sampler's
        batch = Collator(policy.model)(groups[:2])
        assert len(batch.clips) == 2 and batch.clips[0].shape[0] == 8  # the clips are codes
        with torch.no_grad():
            logp, _ = policy.module(batch_inputs(batch), temperature=info.temperature)
        m = batch.mask.bool()
        np.testing.assert_allclose(logp[m].numpy(), batch.sampler_logp[m].numpy(), rtol=0, atol=2e-4)
    finally:
        _restore_audio(encoded[1], away)


def test_cli_train_on_mimo_rollouts_end_to_end(rolled, tiny, encoded, tmp_path):
    import json

    from typer.testing import CliRunner

    from adqa_data.cli import app
    from adqa_data.inference.mimo.loading import load_mimo_audio

    ws = tmp_path / "w"
    shutil.copytree(rolled, ws)
    away = _hide_audio(encoded[1])
    try:
        args = [
            "train",
            "-w",
            str(ws),
            "--model",
            str(tiny),
            "--reward",
            "test_mimo_policy:parity=1",
            "--max-steps",
            "2",
            "--micro-batch-groups",
            "2",
            "--lr",
            "1e-3",
            "--beta",
            "0",
            "--json",
        ]
        res = CliRunner().invoke(app, args)
    finally:
        _restore_audio(encoded[1], away)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["steps"] == 2
    policy_dir = Path(out["policy_dir"])
    trained = load_mimo_audio(policy_dir, device="cpu", dtype=torch.float32)  # a checkpoint rollout loads
    start = load_mimo_audio(tiny, device="cpu", dtype=torch.float32)
    assert not torch.equal(trained.lm_head.weight, start.lm_head.weight)
    b = load_backend("transformers", str(policy_dir))
    assert b.consumes == "codes"
    b.close()


def test_cli_sft_on_mimo_reads_codes_end_to_end(encoded, tiny, tmp_path, clean_demo_roots):
    """SFT rows carry the items' cached codes (the index GRPO reads), and `train --method sft` runs with
    the dataset's audio gone: no clip is checked or opened. A dataset without that index is an error
    naming the encode command."""
    import json

    from typer.testing import CliRunner

    from adqa_data.cli import app
    from adqa_data.inference.mimo.loading import load_mimo_audio
    from adqa_data.stages.train import train
    from adqa_data.stages.train.data import load_groups_for
    from adqa_data.train.config import load_config as train_config

    ws = Workspace(tmp_path / "w")
    shutil.copytree(encoded[0], ws.root)
    codes = open_codes(ws, DS)
    away = _hide_audio(encoded[1])
    try:
        groups, info = load_groups_for(
            ws, DS, train_config(None, method="sft", split="all", model=str(tiny)), []
        )
        assert info.codec_key == codes.codec_key and groups
        for g in groups:
            np.testing.assert_array_equal(g.codes, codes.load_codes([g.item_id])[0])
        args = ["train", "-w", str(ws.root), "--method", "sft", "--split", "all", "--model", str(tiny)]
        args += ["--codec", "mimo-audio", "--max-steps", "2", "--micro-batch-groups", "2", "--lr", "1e-2"]
        res = CliRunner().invoke(app, [*args, "--json"])
    finally:
        _restore_audio(encoded[1], away)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["method"], out["steps"], out["groups"]) == ("sft", 2, len(groups))
    assert out["summary"]["quarantined"] == {}
    assert ws.provenance("train", DS, out["name"])["config"]["codec_key"] == codes.codec_key
    trained = load_mimo_audio(Path(out["policy_dir"]), device="cpu", dtype=torch.float32)
    start = load_mimo_audio(tiny, device="cpu", dtype=torch.float32)
    assert not torch.equal(trained.lm_head.weight, start.lm_head.weight)

    plain = Workspace(tmp_path / "plain")
    download(plain, from_dir=clean_demo_roots[DS])
    with pytest.raises(UserError, match="was not encoded with mimo-audio") as e:
        train(plain, train_config(None, method="sft", split="all", model=str(tiny)))
    assert f"adqa-data encode -w {plain.root} -d {DS} --codec mimo-audio" in e.value.fix
    with pytest.raises(UserError, match="was not encoded with mimi"):
        train(ws, train_config(None, method="sft", split="all", model=str(tiny), codec="mimi"))


# ------------------------------------------------------------------------------------------ filter
def test_filter_panel_member_reads_codes_and_encodes_silence_once(
    encoded, tiny, tmp_path, mimo_standin, monkeypatch
):
    """A MiMo member scores every condition from codes: item and donor clips from the index, silence and
    noise encoded once by the same codec and cached under `pcm:<sha256>` keys; no audio file is opened."""
    from adqa_data.codecs.consumers import PCM_PREFIX
    from adqa_data.core.schema import VOTES
    from adqa_data.inference.panel import Panel
    from adqa_data.stages.filter import FilterOptions, filter_dataset

    ws = Workspace(tmp_path / "w")
    shutil.copytree(encoded[0], ws.root)
    monkeypatch.setenv("ADQA_MIMO_AUDIO_SRC", str(mimo_standin[0]))
    sys.modules.pop("mimo_audio_tokenizer", None)
    clear_loaded()
    panel = Panel(
        name="mimo", min_correct=1, members=[{"name": "mimo", "model": str(tiny), "dtype": "float32"}]
    )
    opts = FilterOptions(conditions=("audio", "silence", "noise", "swap"), silence_seconds=3.0, chunk_items=8)
    away = _hide_audio(encoded[1])
    try:
        res = filter_dataset(ws, panel, options=opts)
        upstream = sys.modules["mimo_audio_tokenizer"]
        calls = len(upstream.CALLS)
        assert calls == 2  # silence and noise, once each: the items' clips come from the code index
        again = filter_dataset(ws, panel, options=opts, force=True)
        assert len(upstream.CALLS) == calls  # the generated clips' codes are cached now
    finally:
        _restore_audio(encoded[1], away)
        sys.modules.pop("mimo_audio_tokenizer", None)
        clear_loaded()
    assert res.items == again.items > 0
    votes = {c: ws.read(VOTES, DS, "mimo", c).to_pylist() for c in ("audio", "silence", "noise", "swap")}
    assert all(len(v) == res.items for v in votes.values())
    assert {r["audio_item_id"] for r in votes["swap"]} - {None}  # donors' codes were played
    probs = {c: np.array([r["option_probs"] for r in v]) for c, v in votes.items()}
    assert not np.allclose(probs["audio"], probs["silence"])  # the condition reaches the model
    codes = open_codes(ws, DS)
    keys = [k for k in _cache_keys(codes) if k.startswith(PCM_PREFIX)]
    assert len(keys) == 2


def _cache_keys(codes) -> list[str]:
    import pyarrow.parquet as pq

    root = Path(codes.index.column("cache_file")[0].as_py()).parent
    return [
        k
        for f in sorted(root.glob("part-*.parquet"))
        for k in pq.read_table(f).column("audio_sha256").to_pylist()
    ]


# ------------------------------------------------------------------------------------------ eval
def test_eval_reads_codes_and_silence_codes(encoded, tiny, tmp_path, mimo_standin, monkeypatch):
    from adqa_data.core.schema import PREDICTIONS
    from adqa_data.stages.eval import evaluate
    from adqa_data.stages.eval import load_config as eval_config

    ws = Workspace(tmp_path / "w")
    shutil.copytree(encoded[0], ws.root)
    monkeypatch.setenv("ADQA_MIMO_AUDIO_SRC", str(mimo_standin[0]))
    sys.modules.pop("mimo_audio_tokenizer", None)
    clear_loaded()
    cfg = eval_config(None, model=str(tiny), max_new_tokens=4, silence_seconds=2.0, shard_size=8)
    away = _hide_audio(encoded[1])
    try:
        res = evaluate(ws, cfg, name="ev")
    finally:
        _restore_audio(encoded[1], away)
        sys.modules.pop("mimo_audio_tokenizer", None)
        clear_loaded()
    rows = ws.read(PREDICTIONS, DS, "ev").to_pylist()
    assert res.items == len({r["item_id"] for r in rows}) > 0
    assert {r["condition"] for r in rows} == {"audio", "silence"}
    assert ws.provenance("eval", DS, "ev")["config"]["codec_key"] == open_codes(ws, DS).codec_key


# ------------------------------------------------------------------------------------------ the vLLM path
def test_backbone_export_is_a_qwen2_that_gives_the_models_logits(tiny, backend, tmp_path):
    """The exported backbone, loaded as a plain Qwen2ForCausalLM and fed the prefix embedder's prompt
    embeddings (only the input side of the checkpoint loaded), gives MiMo-Audio's own logits."""
    from safetensors import safe_open
    from transformers import Qwen2ForCausalLM

    from adqa_data.inference.mimo.vllm import MiMoPrefixEmbedder, export_backbone_for_vllm

    out = export_backbone_for_vllm(tiny, tmp_path / "backbone")
    names = set()
    for f in out.glob("*.safetensors"):
        with safe_open(str(f), framework="pt") as sf:
            names |= set(sf.keys())
    assert names and all(n.startswith(("model.", "lm_head.")) for n in names)
    qwen = Qwen2ForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    embedder = MiMoPrefixEmbedder(tiny)
    assert embedder.model.lm.model.layers[0].self_attn.q_proj.weight.is_meta  # the backbone is never loaded
    q = _query("v", _codes(29, 7))
    ((ids, emb),) = embedder([q])
    assert ids == sum(backend.model.prompt_token_ids(q), [])
    with torch.no_grad():
        got = qwen(inputs_embeds=emb[None]).logits[0]
        want = backend.model.lm(backend.model.embed_with_audio(torch.tensor([ids]), [q.codes])).logits[0]
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
