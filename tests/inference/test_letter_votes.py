"""Letters mode reads the letter where the model writes it (`inference.letter_position`): the prefill per
model opening and prompt style, the refusal of think-first models and styles, the canonical letter
tokens after a prefill, and the letters' full-vocabulary mass — on rules, on the tiny BPE tokenizer, and
on tiny random models against their own full forward."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from adqa_data.core.errors import UserError  # noqa: E402
from adqa_data.inference.letter_position import (  # noqa: E402
    after_user,
    checkpoint_matches,
    declared_opening,
    letter_prefix,
    opens_think,
    read_letters,
)
from adqa_data.inference.multiple_choice import ask  # noqa: E402
from adqa_data.inference.panel import Panel  # noqa: E402
from adqa_data.inference.scripted import ScriptedBackend  # noqa: E402
from adqa_data.inference.types import LetterScores, Query, Sampling  # noqa: E402
from adqa_data.mcq.prompt_styles import get_style, load_prompt_style  # noqa: E402
from adqa_data.stages.filter.panel import effective_members  # noqa: E402

SR = 16000
CHOICES = ["a dog barking", "a church bell", "rain on a roof", "traffic noise"]


# ------------------------------------------------------------------------------------ the rule
@pytest.mark.parametrize(
    "style,opening,want",
    [
        ("letters", None, ""),
        ("letters", "letter", ""),
        ("letters", "answer_tag", "<answer>"),
        ("answer_tag", None, "<answer>"),
        ("answer_tag", "answer_tag", "<answer>"),
        ("answer_tag", "letter", ""),  # a model known to put the bare letter first, whatever it is asked
        ("letters", "think", None),
        ("answer_tag", "think", None),
        ("think", None, None),
        ("think", "answer_tag", None),  # the style asks for reasoning first: never read before it
        ("audiomcq", None, None),  # unlettered options: no letter to read
    ],
)
def test_prefix_from_style_and_opening(style, opening, want):
    if want is None:
        with pytest.raises(UserError) as e:
            letter_prefix(get_style(style), opening, who="member 'm'")
        assert "generate" in e.value.fix and "--mode generate" in e.value.fix
        assert "\n" not in e.value.what and e.value.what.startswith("member 'm'")
    else:
        assert letter_prefix(get_style(style), opening) == want


def test_a_template_that_opens_think_is_refused():
    prompt = "<|im_start|>user\nQ?\nA. x<|im_end|>\n<|im_start|>assistant\n<think>\n"
    assert opens_think(after_user(prompt, "Q?\nA. x"))
    with pytest.raises(UserError, match="think"):
        letter_prefix(get_style("letters"), None, after_user(prompt, "Q?\nA. x"))
    closed = prompt + "\n</think>\n"  # an empty think block (non-thinking mode) is fine
    assert letter_prefix(get_style("letters"), None, after_user(closed, "Q?\nA. x")) == ""
    # a <think> in the user's own text does not count: only what follows the message
    assert not opens_think(after_user("<think> Q?<|im_end|>assistant\n", "<think> Q?"))


def test_declared_opening_resolution_order():
    assert declared_opening("mispeech/r1-aqa", "qwen2_audio") == "answer_tag"
    assert declared_opening("mispeech/r1-aqa", None) == "answer_tag"  # family unknown: every table
    assert declared_opening("mispeech/r1-aqa", "qwen2_audio", "letter") == "letter"  # the override wins
    assert declared_opening("Qwen/Qwen2-Audio-7B-Instruct", "qwen2_audio") is None  # follows the style
    assert declared_opening("/models/my-model", None, "think") == "think"
    with pytest.raises(UserError, match="reply opening"):
        declared_opening("/models/my-model", None, "thinks")


@pytest.mark.parametrize(
    "model,hit",
    [
        ("mispeech/r1-aqa", True),
        ("MISPEECH/R1-AQA", True),
        ("/home/u/.cache/huggingface/hub/models--mispeech--r1-aqa/snapshots/abc123", True),
        ("/models/mispeech/r1-aqa/", True),
        ("/models/r1-aqa", False),  # a bare folder name may be anyone's fine-tune
        ("/models/mispeech/r1-aqa-v2", False),
        ("other/r1-aqa", False),
    ],
)
def test_checkpoint_matching(model, hit):
    assert checkpoint_matches(model, "mispeech/r1-aqa") is hit


def test_style_files_letter_first_is_read_as_letter_prefix(tmp_path):
    for first, prefix in (("true", ""), ("false", None)):
        p = tmp_path / f"s{first}.yaml"
        p.write_text(f"name: s{first}\nuser: '{{question}}\\n{{options}}'\nletter_first: {first}\n")
        st = load_prompt_style(p, register=False)
        assert st.letter_prefix == prefix and st.letter_first is (prefix == "")
    both = tmp_path / "both.yaml"
    both.write_text("name: both\nuser: '{question}'\nletter_first: true\nletter_prefix: ''\n")
    with pytest.raises(UserError, match="letter_prefix"):
        load_prompt_style(both, register=False)
    tagged = tmp_path / "tag.yaml"
    tagged.write_text("name: tag\nuser: '{question}\\n{options}'\nletter_prefix: 'Answer: '\n")
    assert load_prompt_style(tagged, register=False).letter_prefix == "Answer: "


def _panel(**member) -> Panel:
    base = {"name": "m", "model": "/models/x", "family": "qwen2_audio", "prompt_style": "letters"}
    return Panel(name="p", min_correct=1, members=[{**base, **member}])


def test_panel_check_before_loading():
    assert effective_members(_panel(), None)[0].mode == "letters"
    assert effective_members(_panel(prompt_style="answer_tag", reply_opens_with="answer_tag"), None)
    for bad in (_panel(reply_opens_with="think"), _panel(prompt_style="think")):
        with pytest.raises(UserError) as e:
            effective_members(bad, None)
        assert e.value.where == "panel p" and "mode: generate" in e.value.fix
        assert effective_members(bad, "generate")[0].mode == "generate"  # generate mode is the way out
    with pytest.raises(Exception, match="reply_opens_with"):
        _panel(reply_opens_with="tag")


# --------------------------------------------------------------------------- the mass in `ask`
def test_scripted_backend_reports_a_mass_and_ask_carries_it():
    qs = [Query(f"k{i}", "Q?", CHOICES[: 3 + i % 2], None, f"k{i}") for i in range(6)]
    b = ScriptedBackend()
    answers = ask(b, "letters", qs)
    masses = [a.letter_mass for a in answers]
    assert all(0.5 <= m < 1.0 for m in masses) and len(set(masses)) > 1
    assert masses == [a.letter_mass for a in ask(b, "letters", qs)]  # seeded by the query key
    assert all(a.letter_mass is None for a in ask(b, "options", qs))
    assert all(a.letter_mass is None for a in ask(b, "generate", qs, max_new_tokens=8))


class _BadMass(ScriptedBackend):
    def score_letters(self, queries):
        return [LetterScores(np.full(len(q.choices), 1 / len(q.choices)), mass=1.5) for q in queries]


def test_ask_refuses_a_mass_outside_0_1():
    with pytest.raises(RuntimeError, match="letter mass"):
        ask(_BadMass(), "letters", [Query("k", "Q?", CHOICES, None, "k")])


# ------------------------------------------------------------------------- letter tokens
@pytest.fixture(scope="module")
def tok():
    pytest.importorskip("tokenizers")
    from adqa_data.testing.models import train_bpe_tokenizer

    return train_bpe_tokenizer()


def _read(tok, prefix, k=4, context="<|im_start|>assistant\n"):
    ids = tok(context, add_special_tokens=False).input_ids[1:]  # after the special token
    return read_letters(
        lambda s: tok(s, add_special_tokens=False).input_ids, tok.decode, ids, prefix, k, "test"
    )


def test_letters_after_a_prefill_are_the_canonical_tokens(tok):
    plain = _read(tok, "")
    assert plain.prefill_ids == () and tok.convert_ids_to_tokens(list(plain.letter_ids)) == list("ABCD")
    # Qwen's pre-tokenizer joins ">" with the letter: the prefill stops at "<answer", letters are ">A".
    tag = _read(tok, "<answer>")
    assert tag.prefill_text == "<answer"
    assert tok.convert_ids_to_tokens(list(tag.letter_ids)) == [">A", ">B", ">C", ">D"]
    for L, i in zip("ABCD", tag.letter_ids):  # each is what tokenizing prompt + "<answer>" + L gives
        whole = tok("assistant\n<answer>" + L, add_special_tokens=False).input_ids
        assert whole == tok("assistant\n", add_special_tokens=False).input_ids + list(tag.prefill_ids) + [i]
    # a prefix ending in a space: the space goes with the letter (" B"), the prefill stops before it
    spaced = _read(tok, "Answer: ")
    assert spaced.prefill_text == "Answer:"
    assert [tok.decode([i]) for i in spaced.letter_ids] == [" A", " B", " C", " D"]


class _CharTok:
    """Characters, plus the merged pieces given: ">A" and ">B" merge, ">C" and ">D" do not."""

    def __init__(self, merged=(">A", ">B")):
        self.pieces = sorted(merged, key=len, reverse=True)
        self.vocab: dict[str, int] = {}

    def _id(self, piece):
        return self.vocab.setdefault(piece, len(self.vocab))

    def encode(self, text):
        out, i = [], 0
        while i < len(text):
            p = next((p for p in self.pieces if text.startswith(p, i)), text[i])
            out.append(self._id(p))
            i += len(p)
        return out

    def decode(self, ids):
        inv = {v: k for k, v in self.vocab.items()}
        return "".join(inv[i] for i in ids)


def test_letters_that_end_at_different_positions_are_refused():
    t = _CharTok()
    ok = read_letters(t.encode, t.decode, t.encode("go\n"), "<answer>", 2, "test")  # A and B both merge
    assert ok.prefill_text == "<answer" and [t.decode([i]) for i in ok.letter_ids] == [">A", ">B"]
    with pytest.raises(UserError, match="one token") as e:
        read_letters(t.encode, t.decode, t.encode("go\n"), "<answer>", 4, "test")  # C, D do not
    assert "generate" in e.value.fix
    plain = _CharTok(merged=())
    r = read_letters(plain.encode, plain.decode, plain.encode("go\n"), "<answer>", 4, "test")
    assert r.prefill_text == "<answer>" and [plain.decode([i]) for i in r.letter_ids] == list("ABCD")


# ------------------------------------------------------------------------- on tiny models
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from adqa_data.testing import models as tm

    root = tmp_path_factory.mktemp("tiny")
    t = tm.train_bpe_tokenizer()
    return {
        "qwen2_audio": tm.build_tiny_qwen2_audio(root / "q2a", seed=0, tokenizer=t),
        "qwen25_omni": tm.build_tiny_qwen25_omni_thinker(root / "omni", seed=0, tokenizer=t),
        "audio_flamingo3": tm.build_tiny_audio_flamingo3(root / "af3", seed=0, tokenizer=t),
    }


def _backend(path, **kw):
    from adqa_data.inference.transformers_backend import TransformersBackend

    return TransformersBackend(path, max_batch_tokens=1500, max_batch_rows=3, **kw)


def _queries(n, style, shared=True, seed=0):
    from adqa_data.testing import models as tm

    rng = np.random.default_rng(seed)
    silence = np.zeros(SR * 2, np.float32)
    qs = []
    for i, (q, ch, _) in enumerate(tm.synthetic_items(n, seed=seed)):
        audio = silence.copy() if shared else (0.1 * rng.standard_normal(SR * 2)).astype(np.float32)
        qs.append(Query(f"q{i}", q, ch[: 4 - (i % 2)], audio, "silence" if shared else f"clip{i}", style))
    return qs


def _full_forward_logits(b, q, extra_ids):
    """The checkpoint's own forward (it merges the audio itself) over prompt + `extra_ids`, last position."""
    import torch

    from adqa_data.inference.adapters.base import whisper_features

    model = b.model
    ids = model.tokenize(b.adapter.build_prompt(q), model.audio_token_count(len(q.audio))) + list(extra_ids)
    f = whisper_features(model.feature_extractor, [q.audio], SR)
    mask = "input_features_mask" if b.adapter.family == "audio_flamingo3" else "feature_attention_mask"
    with torch.no_grad():
        out = model.module(
            input_ids=torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            input_features=f.input_features,
            **{mask: f.attention_mask},
        )
    return out.logits[0, -1].double()


# (style, reply_opens_with) -> the prefill text that must end the prompt
CASES = [("letters", None, ""), ("letters", "answer_tag", "<answer"), ("answer_tag", None, "<answer")]


@pytest.mark.slow
@pytest.mark.parametrize("family", ["qwen2_audio", "qwen25_omni", "audio_flamingo3"])
def test_prefill_sits_at_the_reply_start_and_letters_equal_a_full_forward(tiny, family):
    import torch

    for style, opening, fill in CASES:
        b = _backend(tiny[family], reply_opens_with=opening)
        try:
            shared, plain = _queries(4, style, True), _queries(3, style, False, seed=1)
            rows, readings = b.prepare_letters(shared[:1])
            prompt = b.adapter.build_prompt(shared[0])
            assert prompt.endswith("<|im_start|>assistant\n")
            n_audio = b.model.audio_token_count(len(shared[0].audio))
            assert readings[0].prefill_text == fill
            assert rows[0].prompt_ids == b.model.tokenize(prompt + fill, n_audio)  # the prefill, there
            assert b.model.tokenizer.decode(rows[0].suffix_ids).endswith("<|im_start|>assistant\n" + fill)
            for qs in (shared, plain):  # the shared-prefix path and the plain path
                got = b.score_letters(qs)
                for q, s in zip(qs, got):
                    rd = b.prepare_letters([q])[1][0]
                    logits = _full_forward_logits(b, q, rd.prefill_ids)
                    full = torch.softmax(logits, -1)[list(rd.letter_ids)]
                    np.testing.assert_allclose(s.probs, (full / full.sum()).numpy(), rtol=0, atol=1e-5)
                    assert 0 < s.mass <= 1
                    np.testing.assert_allclose(s.mass, float(full.sum()), rtol=1e-4)
                    assert abs(s.probs.sum() - 1) < 1e-9 and s.probs.shape == (len(q.choices),)
        finally:
            b.close()


@pytest.mark.slow
def test_the_prefill_changes_what_is_read(tiny):
    """Reading after `<answer` is not the first-token read: the two give different numbers."""
    qs = _queries(3, "letters")
    plain, tagged = (
        _backend(tiny["qwen2_audio"]),
        _backend(tiny["qwen2_audio"], reply_opens_with="answer_tag"),
    )
    try:
        for a, t in zip(plain.score_letters(qs), tagged.score_letters(qs)):
            assert not np.allclose(a.probs, t.probs, atol=1e-4) and a.mass != t.mass
    finally:
        plain.close(), tagged.close()


@pytest.mark.slow
def test_think_first_is_refused_naming_generate_mode(tiny):
    b = _backend(tiny["qwen2_audio"], reply_opens_with="think")
    try:
        with pytest.raises(UserError) as e:
            b.score_letters(_queries(1, "letters"))
        assert "generate" in e.value.fix and "<think>" in e.value.what
        assert b.generate(_queries(1, "letters"), Sampling(max_new_tokens=2))
    finally:
        b.close()
    b = _backend(tiny["qwen2_audio"])
    try:
        with pytest.raises(UserError, match="letter position") as e:
            b.score_letters(_queries(1, "think"))
        assert "generate" in e.value.fix
    finally:
        b.close()


@pytest.mark.slow
def test_mimo_prefill_follows_the_empty_think_block(tmp_path):
    """MiMo-Audio: upstream's non-thinking prompt ends with an empty think block; the answer_tag style's
    prefill comes right after it, and the letters equal `MiMoAudioLM`'s own forward there."""
    import torch

    from adqa_data.inference import load_backend
    from adqa_data.inference.mimo import model as mm
    from adqa_data.inference.mimo.prompt import NO_THINKING, encode_segments
    from adqa_data.testing.mimo import build_tiny_mimo_audio

    b = load_backend("transformers", str(build_tiny_mimo_audio(tmp_path / "mimo")), device="cpu")
    try:
        rng = np.random.default_rng(0)
        codes = (rng.integers(0, 1 << 16, size=(8, 17)) % np.array(mm.OFFICIAL_EMPTY_IDS)[:, None]).astype(
            np.uint16
        )
        q = Query("m", "What is heard?", CHOICES, None, "m", "answer_tag", codes=codes)
        (s,) = b.score_letters([q])
        rows, (rd,) = b.prepare_letters([q])
        tok = b.model.tokenizer
        assert rd.prefill_text == "<answer"
        assert b.prompt_text(q).endswith("<|im_start|>assistant\n" + NO_THINKING)
        before, after = b.adapter.segments(q)
        assert rows[0].suffix_ids == encode_segments(tok, after) + list(rd.prefill_ids)
        lm = b.model.lm
        with torch.no_grad():
            emb = lm.build_prefix(encode_segments(tok, before), codes, rows[0].suffix_ids)
            logits = lm(emb[None]).logits[0, -1].double()
        logits[b.model.special.empty] = float("-inf")
        full = torch.softmax(logits, -1)[list(rd.letter_ids)]
        np.testing.assert_allclose(s.probs, (full / full.sum()).numpy(), rtol=0, atol=1e-5)
        np.testing.assert_allclose(s.mass, float(full.sum()), rtol=1e-4)
        with pytest.raises(UserError, match="generate"):
            b.score_letters([Query("t", "What is heard?", CHOICES, None, "t", "think", codes=codes)])
    finally:
        b.close()


def test_a_member_override_reaches_its_backend(monkeypatch):
    """`reply_opens_with` in a panel file is what the member's backend reads letters by, not only what the
    panel check applies; a member without one passes nothing (the backend then uses its own table)."""
    from adqa_data.stages.filter import jobs

    seen: list[dict] = []
    monkeypatch.setattr(jobs, "load_backend", lambda *a, **kw: seen.append(kw))
    panel = Panel.model_validate(
        {
            "name": "p",
            "min_correct": 1,
            "members": [
                {"name": "tagged", "model": "x/y", "family": "qwen2_audio", "reply_opens_with": "answer_tag"},
                {"name": "plain", "model": "x/z", "family": "qwen2_audio"},
            ],
        }
    )
    for member in panel.members:
        jobs.member_backend(member)
    assert seen[0]["reply_opens_with"] == "answer_tag"
    assert "reply_opens_with" not in seen[1]
