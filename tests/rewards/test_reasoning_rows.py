"""The anchoring reward's query rows: the reasoning span of an output (text rules), its tokens under a
real byte-level BPE (tags split across tokens, tokens straddling a tag, multi-byte characters, special
tokens), and the anchoring pass scoring exactly those rows of the map a tiny Qwen2-Audio computes."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from adqa_data.rewards.anchoring import AnchoringConfig, anchoring_score, attention_profile
from adqa_data.rewards.reasoning_rows import Source, reasoning_rows, reasoning_spans, token_char_spans

# (output, the reasoning pieces it holds in order, the rule that found them)
SPANS = [
    ("<think>The dog barks.</think><answer>B</answer>", ["The dog barks."], Source.THINK),
    ("<think>\n  The dog barks twice.\n</think>\n<answer>B</answer>", ["The dog barks twice."], Source.THINK),
    ("The dog barks.\n<answer>B</answer>", ["The dog barks."], Source.BEFORE_ANSWER),
    ("Rain falls, so B</answer>", ["Rain falls, so B"], Source.BEFORE_ANSWER),  # a close tag alone
    ("B", ["B"], Source.FREE_TEXT),  # nothing but a letter: the whole text
    ("I hear a bell, so the answer is (C).", ["I hear a bell, so the answer is (C)."], Source.FREE_TEXT),
    ("<answer>B</answer>", [], Source.BEFORE_ANSWER),  # an answer and no reasoning
    ("  \n<answer>B</answer>", [], Source.BEFORE_ANSWER),
    ("<think>I hear rain and", ["I hear rain and"], Source.THINK),  # truncated inside the think block
    ("<think>rain is heard <answer>C</answer>", ["rain is heard"], Source.THINK),  # never closed
    ("rain heard</think>\n<answer>C</answer>", ["rain heard"], Source.THINK),  # template prefilled <think>
    ("<think>  \n </think><answer>A</answer>", [], Source.THINK),  # whitespace-only reasoning
    ("<think>...</think><answer>A</answer>", [], Source.THINK),  # no letter or digit: no reasoning
    ("<think></think>It barks. <answer>A</answer>", [], Source.THINK),  # reasoning outside the block
    (
        "<think>first</think> between <think>second part</think><answer>D</answer>",
        ["first", "second part"],
        Source.THINK,
    ),  # every think block, never the text between them
    ("<think> </think><think>late</think><answer>D</answer>", ["late"], Source.THINK),
    ("Let me think. <think>inside</think> after <answer>B</answer>", ["inside"], Source.THINK),
    ("<think>a dog <think>barks</think> twice</think>", ["a dog", "barks"], Source.THINK),  # tags cut
    ("<think>dog <answer>B</answer> bark</think><answer>B</answer>", ["dog", "B", "bark"], Source.THINK),
    ("< THINK >Spaced tags</ think >< answer >B</answer>", ["Spaced tags"], Source.THINK),
    ("<think>正解はＣです 🎺</think><answer>C</answer>", ["正解はＣです 🎺"], Source.THINK),
    ("", [], Source.FREE_TEXT),
]


def _pieces(text: str, spans) -> list[str]:
    return [text[a:b] for a, b in spans]


@pytest.mark.parametrize(("text", "want", "source"), SPANS)
def test_reasoning_spans_of_every_output_shape(text, want, source):
    got = reasoning_spans(text)
    assert (_pieces(text, got.spans), got.source) == (want, source)


# ---------------------------------------------------------------------------------- token rows, real BPE
@pytest.fixture(scope="module")
def tok():
    pytest.importorskip("transformers")
    from adqa_data.testing.models import train_bpe_tokenizer

    return train_bpe_tokenizer()


def _expected_rows(tokenizer, text: str, pieces: list[str]) -> tuple[list[int], np.ndarray]:
    """Token ids of `text` and, from the encoder's own offset mapping (not the decoder the code uses),
    which tokens overlap one of `pieces` (located in order) and are no special token."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    where, at = [], 0
    for piece in pieces:
        start = text.index(piece, at)
        where.append((start, start + len(piece)))
        at = start + len(piece)
    special = set(tokenizer.all_special_ids)
    want = np.array(
        [
            tid not in special and any(s < b and e > a for a, b in where)
            for tid, (s, e) in zip(enc.input_ids, enc.offset_mapping)
        ],
        dtype=bool,
    )
    return enc.input_ids, want


@pytest.mark.parametrize(("text", "pieces", "source"), SPANS)
def test_reasoning_rows_are_the_tokens_of_the_reasoning(tok, text, pieces, source):
    ids, want = _expected_rows(tok, text + "<|im_end|>", pieces)
    got = reasoning_rows(ids, tok)
    assert got.dtype == bool and got.shape == (len(ids),)
    assert got.tolist() == want.tolist()
    assert not got[-1]  # the end-of-sequence token is never a row


def _row_texts(tokenizer, ids, mask) -> list[str]:
    return [tokenizer.decode([t]) for t, m in zip(ids, mask) if m]


def test_tags_split_across_tokens_and_straddling_tokens(tok):
    """This BPE spells `<think>` as `<think` + `>The`: the straddling token carries reasoning (a row),
    while `>B` after `<answer` and the pieces of `</think>` and `</answer>` do not."""
    text = "<think>The clip has a dog barking.</think>\n<answer>B</answer><|im_end|>"
    ids = tok(text, add_special_tokens=False).input_ids
    pieces = [tok.decode([t]) for t in ids]
    assert "<think" in pieces and ">The" in pieces and ">B" in pieces  # the boundaries this test is about
    rows = _row_texts(tok, ids, reasoning_rows(ids, tok))
    assert rows[0] == ">The" and "".join(rows).strip(">.</") == "The clip has a dog barking"
    assert ">B" not in rows and "answer" not in rows and "<|im_end|>" not in rows


def test_multibyte_characters_keep_all_their_byte_tokens(tok):
    text = "<think>正解はＣです</think><answer>C</answer>"
    ids = tok(text, add_special_tokens=False).input_ids
    mask = reasoning_rows(ids, tok)
    assert tok.decode([t for t, m in zip(ids, mask) if m]).strip(">") == "正解はＣです"
    assert mask.sum() >= len("正解はＣです") * 3  # three byte tokens per character, none left out


def test_token_ranges_tile_the_decoded_text(tok):
    text = "Ｃ? <think>a 🎺 blows</think> <answer>C</answer><|im_end|>"
    ids = tok(text, add_special_tokens=False).input_ids
    decoded, ranges = token_char_spans(ids, tok)
    assert decoded == text
    assert ranges[0][0] == 0 and ranges[-1][1] == len(text)
    assert all(a < b for a, b in ranges)  # a byte of a character shares that character's range
    widths = {r for r in ranges}
    assert "".join(text[a:b] for a, b in sorted(widths)) == text  # distinct ranges tile the text


def test_prefix_fallback_gives_the_same_ranges(tok, monkeypatch):
    """Incremental pieces are checked against the decoded whole; when they do not add up, the
    quadratic prefix decoding takes over and yields the same ranges."""
    from adqa_data.rewards import reasoning_rows as rr

    texts = [t + "<|im_end|>" for t, _, _ in SPANS] + ["Ｃ? <think>a 🎺 blows</think>\n<answer>C</answer>"]
    fast = [token_char_spans(tok(t, add_special_tokens=False).input_ids, tok) for t in texts]
    monkeypatch.setattr(rr, "_incremental_pieces", lambda ids, *_a: ["?"] * len(ids))
    slow = [token_char_spans(tok(t, add_special_tokens=False).input_ids, tok) for t in texts]
    assert slow == fast
    assert all(text == t for (text, _), t in zip(fast, texts))


def test_a_special_token_that_spells_a_tag_is_read_as_the_tag(tok):
    """Some tokenizers make `<think>` one special token: it still opens the block and is no row."""
    special = copy.deepcopy(tok)
    special.add_special_tokens(
        {"additional_special_tokens": ["<think>", "</think>"]}, replace_extra_special_tokens=False
    )
    text = "<think>The dog barks.</think><answer>B</answer><|im_end|>"
    ids = special(text, add_special_tokens=False).input_ids
    assert special.convert_ids_to_tokens(ids[0]) == "<think>" and ids[0] in special.all_special_ids
    assert _row_texts(special, ids, reasoning_rows(ids, special)) == ["The", " dog", " barks", "."]


def test_empty_completion_has_no_rows(tok):
    assert reasoning_rows([], tok).shape == (0,)
    assert not reasoning_rows(tok("<|im_end|>").input_ids, tok).any()


# ----------------------------------------------------------------------------- the anchoring pass rows
@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tok):
    torch = pytest.importorskip("torch")
    from adqa_data.inference.transformers_backend import TransformersBackend
    from adqa_data.testing.models import build_tiny_qwen2_audio

    path = build_tiny_qwen2_audio(tmp_path_factory.mktemp("tiny") / "q2a", tokenizer=tok)
    backend = TransformersBackend(path)
    yield path, backend, torch
    backend.close()


COMPLETIONS = [
    "<think>The clip has a dog barking twice.</think>\n<answer>B</answer>",
    "A dog barks.\n<answer>B</answer>",
    "B",
    "<think> </think><answer>B</answer>",  # no reasoning
    "<think>I hear a dog and",  # truncated
]


def _eager_all_rows(model, backend, query, prompt, completion):
    """The model's own eager forward (its own audio merge): the last layer's head-averaged attention of
    every completion row, and the audio key mask."""
    from support.eager_attention import last_layer_rows

    from adqa_data.inference.adapters.base import whisper_features

    feats = whisper_features(backend.model.feature_extractor, [query.audio], 16000)
    return last_layer_rows(model, feats, prompt, completion)


@pytest.mark.slow
def test_anchoring_pass_scores_exactly_the_reasoning_rows(tiny, tok):
    """rows="reasoning" = `anchoring_score` over the reasoning rows (found from the encoder's offsets) of
    the all-rows map of the model's own eager forward; rows="all" = the whole map, as before; a
    completion with no reasoning scores 0 with no rows."""
    from transformers import Qwen2AudioForConditionalGeneration

    from adqa_data.inference.anchoring_pass import AnchoringPass
    from adqa_data.inference.types import Query

    path, backend, torch = tiny
    eager = Qwen2AudioForConditionalGeneration.from_pretrained(path, attn_implementation="eager").eval()
    rng = np.random.default_rng(3)
    clip = rng.normal(0, 0.1, 32000).astype(np.float32)
    query = Query("q", "What barks?", ["a cat", "a dog", "rain", "a bell"], clip, "q", "think")
    prefix, suffix = backend.model.prompt_token_ids(query)
    prompt = prefix + suffix
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    completions, wanted_rows = [], []
    for text in COMPLETIONS:
        ids, want = _expected_rows(tok, text + "<|im_end|>", _pieces(text, reasoning_spans(text).spans))
        assert ids[-1] == eos
        completions.append(ids)
        wanted_rows.append(want)
    reasoning = AnchoringPass(backend.model, layers=[-1], batch_size=2).components(query, prompt, completions)
    every = AnchoringPass(backend.model, layers=[-1], config=AnchoringConfig(rows="all")).components(
        query, prompt, completions
    )
    for ids, rows, got, got_all in zip(completions, wanted_rows, reasoning, every):
        attn, audio = _eager_all_rows(eager, backend, query, prompt, ids)
        assert attn.shape[0] == len(ids)
        whole = anchoring_score(attn, audio)
        assert got_all["score"] == pytest.approx(whole["score"], abs=1e-5) and got_all["rows"] == len(ids)
        if rows.any():
            want = anchoring_score(attn[rows], audio)
            for key in ("con", "ar", "entropy", "score"):
                assert got[key] == pytest.approx(want[key], abs=1e-5), key
            assert got["rows"] == rows.sum() < len(ids)
            # the stored profile: the same rows' attention along the clip, summing to CON
            np.testing.assert_allclose(got["profile"], attention_profile(attn[rows], audio), atol=1e-5)
            assert sum(got["profile"]) == pytest.approx(got["con"], abs=1e-5)
        else:
            assert got == {
                "con": 0.0,
                "ar": 0.0,
                "ent": 0.0,
                "entropy": 0.0,
                "score": 0.0,
                "rows": 0.0,
                "profile": None,
            }
    assert [g["rows"] > 0 for g in reasoning] == [True, True, True, False, True]
    # the rows matter: the reasoning's score is not the all-rows score
    assert reasoning[0]["con"] != pytest.approx(every[0]["con"], abs=1e-6)


def test_rows_setting_is_checked():
    with pytest.raises(ValueError, match="rows must be one of"):
        AnchoringConfig(rows="answer")  # type: ignore[arg-type]
    assert AnchoringConfig().rows == "reasoning"


# ------------------------------------------------------------------------ the setting in the rollout stage
@pytest.fixture
def ws(tmp_path, clean_demo_roots):
    from adqa_data.core.workspace import Workspace
    from adqa_data.stages.download import download
    from adqa_data.stages.sample import sample

    w = Workspace(tmp_path / "w")
    download(w, from_dir=clean_demo_roots["audiomcq"])
    sample(w, n=3, split="all", seed=0)
    return w


def _spy_rows(monkeypatch) -> list[str]:
    """The `rows` of every anchoring pass the scripted backend is asked to build."""
    from adqa_data.inference.scripted import ScriptedBackend

    seen: list[str] = []
    original = ScriptedBackend.anchoring_scorer

    def spy(self, layers="deep", config=None, batch_size=4):
        seen.append(config.rows)
        return original(self, layers, config, batch_size)

    monkeypatch.setattr(ScriptedBackend, "anchoring_scorer", spy)
    return seen


def test_rollout_records_anchoring_rows_and_a_change_is_not_up_to_date(ws, monkeypatch):
    from adqa_data.core.errors import UserError
    from adqa_data.stages.rollout import load_config, rollout
    from adqa_data.stages.rollout.stage import default_name

    seen = _spy_rows(monkeypatch)
    default, every = (
        load_config(None, backend="scripted"),
        load_config(None, backend="scripted", anchoring_rows="all"),
    )
    rollout(ws, default, name="r")
    assert ws.provenance("rollout", "audiomcq", "r")["config"]["anchoring_rows"] == "reasoning"
    assert seen == ["reasoning"]  # the pass was built with the setting
    assert rollout(ws, default, name="r").up_to_date
    with pytest.raises(UserError, match="other settings"):
        rollout(ws, every, name="r")
    redo = rollout(ws, every, name="r", force=True)
    assert not redo.up_to_date and redo.shards_written == redo.shards
    assert ws.provenance("rollout", "audiomcq", "r")["config"]["anchoring_rows"] == "all"
    assert seen == ["reasoning", "all"]
    assert default_name("p", default) != default_name("p", every)  # default set names differ too


def test_a_loaded_policy_rebuilds_its_pass_for_other_rows(monkeypatch):
    """A policy kept loaded between rollouts (release=False, Ray workers) must not score a rollout with
    the rows of the previous one."""
    from adqa_data.inference.scripted import ScriptedBackend
    from adqa_data.stages.rollout import load_config
    from adqa_data.stages.rollout.policy import Policy

    seen = _spy_rows(monkeypatch)
    policy = Policy(ScriptedBackend(), {"backend": "scripted", "model": None})
    first = policy.anchoring(load_config(None, backend="scripted"))
    assert policy.anchoring(load_config(None, backend="scripted")) is first  # same settings: reused
    policy.anchoring(load_config(None, backend="scripted", anchoring_rows="all"))
    assert seen == ["reasoning", "all"]


def test_anchoring_rows_on_the_command_line_and_in_pipelines(ws, tmp_path):
    from typer.testing import CliRunner

    from adqa_data.cli import app
    from adqa_data.cli.pipeline import load, plan
    from adqa_data.core.errors import UserError

    runner = CliRunner()
    args = ["rollout", "-w", str(ws.root), "--backend", "scripted", "--name", "c", "--json"]
    res = runner.invoke(app, [*args, "--anchoring-rows", "all"])
    assert res.exit_code == 0, res.output
    assert ws.provenance("rollout", "audiomcq", "c")["config"]["anchoring_rows"] == "all"
    bad = runner.invoke(app, [*args, "--anchoring-rows", "answer", "--force"])
    assert isinstance(bad.exception, UserError) and "anchoring_rows" in str(bad.exception)
    # train: an online-only option, refused without --online
    res = runner.invoke(app, ["train", "-w", str(tmp_path / "nowhere"), "--anchoring-rows", "all"])
    assert isinstance(res.exception, UserError) and "--anchoring-rows" in str(res.exception)
    (tmp_path / "p.yaml").write_text(
        "workspace: w\nsteps:\n"
        "  - rollout: {dataset: d, model: m, anchoring_rows: all}\n"
        "  - train: {dataset: d, model: m, online: 2, anchoring_rows: all}\n"
    )
    for argv in plan(load(tmp_path / "p.yaml")):
        assert argv[argv.index("--anchoring-rows") + 1] == "all"


def test_online_training_passes_anchoring_rows_to_its_rollouts(monkeypatch, tmp_path):
    """`train --online --anchoring-rows all`: the rollout settings each round samples with (and that the
    run's key holds) carry the rows."""
    from typer.testing import CliRunner

    from adqa_data.cli import app
    from adqa_data.stages.train import online as train_online

    got = {}

    class Stop(Exception):
        pass

    def capture(ws, config, **_kw):
        got["rollout"] = config.rollout
        raise Stop

    monkeypatch.setattr(train_online, "run_online", capture)
    res = CliRunner().invoke(
        app, ["train", "-w", str(tmp_path / "w"), "--model", "m", "--online", "2", "--anchoring-rows", "all"]
    )
    assert isinstance(res.exception, Stop), res.output
    assert got["rollout"].anchoring_rows == "all" and got["rollout"].run_config()["anchoring_rows"] == "all"
    assert got["rollout"].anchoring_config().rows == "all"
