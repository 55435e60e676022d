"""`export --format swift` through ms-swift 4.6's own code (-m swift; `.ci/swift.sh` runs it in `.venv-swift`).

- ms-swift's `load_dataset` reads both configs of the export folder (strict: a row it cannot
  preprocess is an error, and the row counts must match, since a non-strict load drops bad rows with only
  a log line), and its Qwen2-Audio and Qwen2.5-Omni templates encode every row with the clip's audio
  features (`input_features`, a `feature_attention_mask` as long as that clip at 16 kHz, and as many
  audio tokens as the model's audio tower gives for it), for relative paths resolved through
  `ROOT_IMAGE_DIR` and for base64 clips. Qwen2.5-Omni: ms-swift's own loader (`load_model=False`) and
  `Qwen2_5OmniTemplate` on a tiny random config; encoded rows go through the tiny thinker's forward.
- SFT rows encoded in train mode carry labels on the reasoning and the answer block only; a collated batch
  goes through the tiny Qwen2-Audio's forward with labels (transformers' single-`<|AUDIO|>` expansion,
  the path ms-swift uses) to a finite loss.
- The reward plugin file in the folder, imported by ms-swift's `import_external_file` and resolved by its
  `resolve_reward_funcs` as `swift rlhf --external_plugins ... --reward_funcs ...` does, gives the
  rollout stage's reward columns for the same completions on the rows ms-swift loaded.
"""

from __future__ import annotations

import math

import pytest
from support.case_rollouts import rewarded_rows
from support.planted_workspace import DS, build_workspace

pytest.importorskip("swift.rewards")
pytestmark = pytest.mark.swift

from adqa_data.export import ExportOptions, export  # noqa: E402
from adqa_data.export.card import data_path  # noqa: E402
from adqa_data.export.source import audio_waveform  # noqa: E402
from adqa_data.mcq.answers import LETTERS  # noqa: E402

SAMPLE_RATE = 16000


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return build_workspace(tmp_path_factory.mktemp("swift_ws"))


@pytest.fixture(scope="module")
def swift_model(tmp_path_factory):
    from swift import get_model_processor

    from adqa_data.testing.models import build_tiny_qwen2_audio

    path = build_tiny_qwen2_audio(tmp_path_factory.mktemp("qwen2_audio"))
    return get_model_processor(str(path), model_type="qwen2_audio")


@pytest.fixture(scope="module")
def swift_omni(tmp_path_factory):
    """ms-swift's `qwen2_5_omni` processor and a tiny Qwen2.5-Omni thinker (see `swift_omni.py`)."""
    from support.swift_omni import omni_processor

    with pytest.MonkeyPatch.context() as mp:
        yield omni_processor(tmp_path_factory.mktemp("qwen2_5_omni"), mp)


@pytest.fixture(scope="module", params=["qwen2_audio", "qwen2_5_omni"])
def template_kind(request):
    return request.param


@pytest.fixture(scope="module", params=["path", "embed"])
def exported(request, planted, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"swift_{request.param}") / "export"
    res = export(planted, "swift", options=ExportOptions(audio=request.param), out=out)
    return out, res.rows


def swift_rows(out, config, monkeypatch):
    from swift import load_dataset

    monkeypatch.setenv("ROOT_IMAGE_DIR", str(out))  # what the card tells a user to set
    monkeypatch.chdir(out.parent)  # relative paths must not resolve against the working directory
    # the Parquet file, as the card's commands name it; load_from_cache_file=False is the swift CLI's default
    path = str(out / data_path(config, "train"))
    ds, _ = load_dataset(
        [path], strict=True, remove_unused_columns=config == "sft", load_from_cache_file=False
    )
    return ds


def test_every_row_encodes_with_its_audio(exported, planted, template_kind, request, monkeypatch):
    import torch
    from swift import get_template

    out, counts = exported
    if template_kind == "qwen2_audio":
        _, processor = request.getfixturevalue("swift_model")
        thinker = None
    else:
        processor, thinker = request.getfixturevalue("swift_omni")
    template = get_template(processor)
    assert (
        type(template).__name__
        == {"qwen2_audio": "Qwen2AudioTemplate", "qwen2_5_omni": "Qwen2_5OmniTemplate"}[template_kind]
    )
    audio_id = processor.tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    items = {r["item_id"]: r for r in planted.items(DS).to_pylist()}
    for config in ("sft", "grpo"):
        rows = swift_rows(out, config, monkeypatch)
        assert len(rows) == counts[config] > 0
        encoded = []
        for row in rows:
            enc = template.encode(row)
            encoded.append(enc)
            assert enc["input_features"].shape[:2] == (1, 128)
            frames = int(enc["feature_attention_mask"].sum())
            # grpo rows keep item_id; sft rows are matched through their audio, which must be the item's
            if config == "grpo":
                clip = audio_waveform(planted.dataset(DS), items[row["item_id"]], SAMPLE_RATE)
                assert frames == len(clip) // 160
            if thinker is not None:  # the omni template expands <|AUDIO|> to the audio tower's length
                assert enc["input_ids"].count(audio_id) == ((frames - 1) // 2 + 1 - 2) // 2 + 1
        if thinker is not None:  # the model checks that audio tokens and audio features agree
            batch = template.data_collator(encoded[:3])
            keys = ("input_ids", "attention_mask", "input_features", "feature_attention_mask")
            with torch.no_grad():
                logits = thinker(**{k: batch[k] for k in keys}).logits
            assert logits.shape[:2] == batch["input_ids"].shape and torch.isfinite(logits).all()


def test_sft_labels_and_a_forward_with_loss(exported, swift_model, monkeypatch):
    import torch
    from swift import get_template

    out, _ = exported
    model, processor = swift_model
    template = get_template(processor)
    template.set_mode("train")
    rows = swift_rows(out, "sft", monkeypatch)
    encoded = [template.encode(r) for r in rows]
    for row, enc in zip(rows, encoded):
        supervised = processor.tokenizer.decode([t for t in enc["labels"] if t != -100])
        reply = row["messages"][-1]["content"]
        assert supervised.startswith(reply) and "<answer>" in supervised
        user = row["messages"][-2]["content"].replace("<audio>", "")
        assert user.strip()[:40] not in supervised
    batch = template.data_collator(encoded[:2])
    with torch.no_grad():
        loss = model(**batch).loss
    assert math.isfinite(float(loss))


def test_plugin_loaded_by_swift_gives_the_rollout_rewards(exported, monkeypatch):
    from swift.dataset import RowPreprocessor
    from swift.rlhf_trainers.utils import resolve_reward_funcs
    from swift.utils import import_external_file

    out, _ = exported
    rows = list(swift_rows(out, "grpo", monkeypatch))
    # the flat gold column ms-swift keeps for GRPO reward functions (its own `accuracy` reads it too)
    assert all(row["solution"] == LETTERS[row["answer_index"]] for row in rows)
    import_external_file(str(out / "adqa_swift_plugin.py"))
    names = ["adqa_correctness", "adqa_format", "adqa_reward"]
    funcs, _ = resolve_reward_funcs(names)
    completions, batch = [], []
    for i, row in enumerate(rows):
        gold = LETTERS[row["answer_index"]]
        wrong = LETTERS[(row["answer_index"] + 1) % len(row["choices"])]
        for text in (f"<think>a tone</think><answer>{gold}</answer>", f"<answer>{wrong}</answer>", "no idea"):
            completions.append(text if i % 2 else f"{text} {row['choices'][row['answer_index']]}")
            batch.append(row)
    columns = RowPreprocessor.rows_to_batched(batch)
    got = {n: f(completions, trainer_state=None, **columns) for n, f in zip(names, funcs)}
    want = rollout_columns(completions, batch)
    assert got["adqa_correctness"] == want["reward_correctness"]
    assert got["adqa_format"] == want["reward_format"]
    assert got["adqa_reward"] == want["reward"]
    assert set(got["adqa_correctness"]) == {0.0, 1.0}


def rollout_columns(completions, rows):
    """The rollout stage's own reward code over the same completions (default mix, anchoring off)."""
    recs = rewarded_rows(
        [
            {
                "completion_text": text,
                "choices": row["choices"],
                "answer_index": row["answer_index"],
                "item_id": row["item_id"],
                "question_type": row["question_type"],
                "source_dataset": row["source_dataset"],
                "group_id": f"g{i // 3}",
            }
            for i, (text, row) in enumerate(zip(completions, rows))
        ],
        {"correctness": 1.0, "format": 0.25},
    )
    return {k: [r[k] for r in recs] for k in ("reward_correctness", "reward_format", "reward")}


def test_card_commands_name_only_swift_arguments(exported):
    """Every `--flag` of the card's `swift sft` / `swift rlhf` commands is an ms-swift 4.6 argument (a
    renamed one, such as 3.x's `--train_type`, would stop the command before it starts)."""
    import dataclasses
    import re

    from swift.arguments import RLHFArguments, SftArguments

    out, _ = exported
    card = (out / "README.md").read_text()
    commands = re.findall(r"^swift (sft|rlhf) (.*?)(?=^\S|\Z)", card, flags=re.M | re.S)
    assert {kind for kind, _ in commands} == {"sft", "rlhf"}
    for kind, text in commands:
        known = {f.name for f in dataclasses.fields(SftArguments if kind == "sft" else RLHFArguments)}
        flags = re.findall(r"--(\w+)", text)
        assert "dataset" in flags and set(flags) <= known, set(flags) - known
