"""Prompt styles, model adapters (chat format, placeholder, prompt split), family detection, panels."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adqa_data.core.errors import UserError
from adqa_data.inference.adapters import ADAPTERS, adapter_for_checkpoint, detect_family, get_adapter
from adqa_data.inference.panel import load_panel
from adqa_data.inference.types import Query
from adqa_data.mcq.prompt_styles import AUDIOMCQ_SYSTEM, get_style, load_prompt_style

ROOT = Path(__file__).resolve().parents[2]
CHOICES = ["A dog barking", "Rain on a roof", "A church bell", "Traffic noise"]


def _q(audio=True, style="letters"):
    return Query(
        "k1", "What is the main sound?", CHOICES, np.zeros(1600, np.float32) if audio else None, "sil", style
    )


def test_importing_models_does_not_import_torch():
    code = "import sys, adqa_data.inference.adapters, adqa_data.inference.panel, adqa_data.mcq.prompt_styles; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_audiomcq_prompt_is_verbatim():
    text = get_style("audiomcq").render("What is the main sound?", CHOICES)
    assert text == (
        "What is the main sound? Please choose the answer from the following options: "
        "['A dog barking', 'Rain on a roof', 'A church bell', 'Traffic noise']. "
        "Output the final answer in <answer> </answer>."
    )
    assert get_style("audiomcq").system == AUDIOMCQ_SYSTEM


def test_letters_and_think_styles():
    letters = get_style("letters").render("Q?", CHOICES)
    assert "\nA. A dog barking\nB. Rain on a roof\nC. A church bell\nD. Traffic noise\n" in letters
    assert get_style("letters").letter_first and not get_style("think").letter_first
    assert "<think>" in get_style("think").system and "<answer>" in get_style("think").system
    with pytest.raises(UserError):
        get_style("think").option_reply_text(0, CHOICES)
    with pytest.raises(UserError):
        get_style("nope")


def test_prompt_yaml_copies_load(tmp_path):
    for name in ("letters", "audiomcq", "think"):
        st = load_prompt_style(ROOT / "pipelines" / "prompts" / f"{name}.yaml")
        builtin = get_style(name)
        assert st.model_dump(exclude={"name"}) == builtin.model_dump(exclude={"name"})
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nuser: '{question}'\nbogus: 1\n")
    with pytest.raises(UserError):
        load_prompt_style(bad)


@pytest.mark.parametrize(
    "family,expected",
    [
        (
            "qwen2_audio",
            (
                "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                "Audio 1: <|audio_bos|><|AUDIO|><|audio_eos|>\n{text}<|im_end|>\n<|im_start|>assistant\n"
            ),
        ),
        (
            "qwen25_omni",
            (
                "<|im_start|>system\nYou are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable "
                "of perceiving auditory and visual inputs, as well as generating text and speech.<|im_end|>\n"
                "<|im_start|>user\n<|audio_bos|><|AUDIO|><|audio_eos|>{text}<|im_end|>\n<|im_start|>assistant\n"
            ),
        ),
        (
            "audio_flamingo3",
            (
                "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<sound>{text}"
                "<|im_end|>\n<|im_start|>assistant\n"
            ),
        ),
        ("kimi_audio", "<|im_kimia_text_blank|>{text}"),
    ],
)
def test_chat_formats(family, expected):
    a = get_adapter(family)
    q = _q()
    text = get_style("letters").render(q.question, q.choices)
    assert a.build_prompt(q) == expected.format(text=text)
    parts = a.prompt_parts(q)
    assert parts.prefix.endswith(a.audio_placeholder) or parts.prefix.endswith("<|audio_eos|>")
    assert text in parts.suffix and a.audio_placeholder not in parts.suffix
    req = a.vllm_request(q)
    assert req["prompt"] == parts.text and req["prompt"].count(a.audio_placeholder) == 1
    arr, sr = req["multi_modal_data"]["audio"]
    assert sr == 16000 and arr.dtype == np.float32
    assert "multi_modal_data" not in a.vllm_request(_q(audio=False))


def test_style_system_prompt_replaces_default():
    p = get_adapter("qwen2_audio").build_prompt(_q(style="audiomcq"))
    assert p.startswith(f"<|im_start|>system\n{AUDIOMCQ_SYSTEM}<|im_end|>") and "You are a helpful" not in p


def test_detect_family():
    assert detect_family({"model_type": "qwen2_audio"}) == "qwen2_audio"
    assert detect_family({"model_type": "qwen2_5_omni"}) == "qwen25_omni"
    assert detect_family({"model_type": "qwen2_5_omni_thinker"}) == "qwen25_omni"
    assert detect_family({"model_type": "audioflamingo3"}) == "audio_flamingo3"
    assert detect_family({"model_type": "x", "architectures": ["MoonshotKimiaForCausalLM"]}) == "kimi_audio"
    assert detect_family({"model_type": "llama"}) == "generic"
    with pytest.raises(UserError):
        get_adapter("gpt")
    with pytest.raises(UserError):
        get_adapter("kimi_audio").load_transformers("/nonexistent")


def test_panels_validate(tmp_path):
    panel = load_panel(ROOT / "pipelines" / "panels" / "audiomcq.yaml")
    assert [m.family for m in panel.members] == ["audio_flamingo3", "qwen2_audio", "kimi_audio"]
    assert panel.min_correct == 2 and all(m.family in ADAPTERS for m in panel.members)
    tiny = load_panel(ROOT / "pipelines" / "panels" / "tiny.yaml")
    assert all(Path(m.model).is_absolute() for m in tiny.members)
    bad = tmp_path / "p.yaml"
    bad.write_text("name: p\nmembers:\n  - {name: k, model: m, family: kimi_audio, backend: transformers}\n")
    with pytest.raises(UserError, match="vllm"):
        load_panel(bad)
    bad.write_text("name: p\nmin_correct: 3\nmembers:\n  - {name: a, model: m}\n  - {name: b, model: m}\n")
    with pytest.raises(UserError, match="min_correct"):
        load_panel(bad)


# ------------------------------------------------------------------ with a real tokenizer (tokenizers only)
@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    pytest.importorskip("torch")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from adqa_data.testing import models as tm

    root = tmp_path_factory.mktemp("models")
    tok = tm.train_bpe_tokenizer()
    return {
        "qwen2_audio": tm.build_tiny_qwen2_audio(root / "q2a", tokenizer=tok),
        "qwen25_omni": tm.build_tiny_qwen25_omni_thinker(root / "omni", tokenizer=tok),
        "audio_flamingo3": tm.build_tiny_audio_flamingo3(root / "af3", tokenizer=tok),
    }


@pytest.mark.slow
@pytest.mark.parametrize("family", ["qwen2_audio", "qwen25_omni", "audio_flamingo3"])
def test_loaded_model_on_tiny_models(tiny_dir, family):
    import torch

    torch.set_num_threads(1)
    a = adapter_for_checkpoint(tiny_dir[family])
    assert a.family == family
    model = a.load_transformers(tiny_dir[family])
    # the split is at a special token: tokenizing the parts equals tokenizing the whole
    for style in ("letters", "audiomcq", "think"):
        parts = a.prompt_parts(_q(style=style))
        n = model.audio_token_count(16000 * 3)
        assert model.tokenize(parts.prefix, n) + model.tokenize(parts.suffix) == model.tokenize(parts.text, n)
    # encoder output length = the placeholder count, for several lengths; past 30 s the Qwen families
    # cut the clip, Audio Flamingo 3 encodes a second 30 s window
    clips = [np.zeros(16000 * s, np.float32) for s in (1, 5)] + [
        np.random.default_rng(0).standard_normal(16000 * 31).astype(np.float32)
    ]
    embs = model.encode_audio(clips)
    expected = [25, 125, 775 if family == "audio_flamingo3" else 750]
    assert [e.shape[0] for e in embs] == expected == [model.audio_token_count(len(c)) for c in clips]
    assert all(e.shape[1] == model.lm_head.in_features for e in embs)
    # the processor-free path equals the model's own forward (audio merged by the model itself)
    ids = torch.tensor([model.tokenize(a.build_prompt(_q()), model.audio_token_count(1600))])
    emb = model.embed(ids)
    emb[ids == model.audio_token_id] = model.encode_audio([np.zeros(1600, np.float32)])[0]
    with torch.no_grad():
        h = model.decoder(inputs_embeds=emb, position_ids=torch.arange(ids.shape[1])[None]).last_hidden_state
        ours = model.lm_head(h[:, -1])
        from adqa_data.inference.adapters.base import whisper_features

        f = whisper_features(model.feature_extractor, [np.zeros(1600, np.float32)], 16000)
        mask_name = "input_features_mask" if family == "audio_flamingo3" else "feature_attention_mask"
        ref = model.module(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            input_features=f.input_features,
            **{mask_name: f.attention_mask},
        ).logits[:, -1]
    assert torch.allclose(ours, ref, atol=1e-5)
    model.close()
    assert model.module is None


@pytest.mark.slow
def test_generic_adapter_follows_the_checkpoint_chat_template(tiny_dir):
    """The tiny Qwen2-Audio's saved template is Qwen2-Audio-Instruct's: the generic adapter, driven by
    it alone, must produce the qwen2_audio adapter's prompt and the same split."""
    generic = get_adapter("generic", tiny_dir["qwen2_audio"])
    assert generic.audio_placeholder == "<|AUDIO|>"  # read from the processor
    q2a = get_adapter("qwen2_audio")
    for style in ("letters", "audiomcq"):
        assert generic.prompt_parts(_q(style=style)) == q2a.prompt_parts(_q(style=style))
    assert generic.build_prompt(_q(audio=False)) == q2a.build_prompt(_q(audio=False))
    with pytest.raises(UserError):
        generic.load_transformers(tiny_dir["qwen2_audio"])
