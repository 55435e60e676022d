"""`export --format swift` and the ms-swift reward plugin, without ms-swift installed.

Over the answer parser's whole case table, the plugin's rewards (`integrations.swift`, called the way
ms-swift calls an ORM: `cls(args=...)(completions, **batch columns)`) equal the columns the rollout stage's
own reward code writes (`stages.rollout.shards._reward_and_rank`, anchoring off). The export: both configs
with column names ms-swift's loader keeps, relative audio paths to clips copied into the folder (or base64
of the file bytes), the plugin file and the `swift rlhf` command in the card. `.ci/swift.sh` runs the same
export through ms-swift's own loader, template and plugin loading (`test_integrations_swift_ci.py`).
"""

from __future__ import annotations

import base64

import pytest
from support.case_rollouts import rewarded_case_rows
from support.planted_workspace import DS, build_workspace

from adqa_data.export import ExportOptions, export
from adqa_data.integrations.swift import REWARDS, register
from adqa_data.mcq.answers import LETTERS

# every column name one of ms-swift 4.6's preprocessors renames, or reads as its own (core.py)
SWIFT_RENAMED = {
    "audio", "image", "video", "images", "videos", "conversation", "conversations", "system", "system_prompt",
    "query", "prompt", "input", "instruction", "question", "problem", "response", "answer", "output",
    "targets", "target", "answer_key", "answers", "text", "completion", "content", "label", "options",
    "questions", "kinds", "state", "criteria", "rejected_response", "margin", "tools", "objects",
}  # fmt: skip


def rollout_rows():
    """The case table as rollout rows, rewarded by the rollout stage's own code under the default text mix."""
    return rewarded_case_rows({"correctness": 1.0, "format": 0.25})


def test_plugin_rewards_equal_the_rollout_columns():
    rows = rollout_rows()
    assert {r["reward_correctness"] for r in rows} == {0.0, 1.0}
    orms: dict = {"accuracy": object}
    register(orms)
    assert set(orms) == {"accuracy", *REWARDS}
    columns = {
        "solution": [LETTERS[r["answer_index"]] for r in rows],
        "choices": [r["choices"] for r in rows],
        "answer_index": [r["answer_index"] for r in rows],
        "item_id": [r["item_id"] for r in rows],
        "trainer_state": None,  # ms-swift adds it to every call
    }
    completions = [r["completion_text"] for r in rows]
    for name, column in [
        ("adqa_correctness", "reward_correctness"),
        ("adqa_format", "reward_format"),
        ("adqa_reward", "reward"),
    ]:
        got = orms[name](args=None)(completions, **columns)
        assert got == [r[column] for r in rows], name


def test_plugin_refuses_rows_it_cannot_grade():
    reward = REWARDS["adqa_correctness"]()
    with pytest.raises(ValueError, match="choices"):
        reward(["<answer>A</answer>"], solution=["A"])
    with pytest.raises(ValueError, match="disagrees"):
        reward(["<answer>A</answer>"], solution=["B"], choices=[["x", "y"]], answer_index=[0])
    two = [["dog barking", "cat meowing"]]
    assert reward(["<answer>B</answer>"], solution=["cat meowing"], choices=two, answer_index=[1]) == [1.0]


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return build_workspace(tmp_path_factory.mktemp("swift_ws"))


def load(out, config, tmp_path):
    import datasets

    return datasets.load_dataset(str(out), config, split="train", cache_dir=str(tmp_path / "cache"))


def test_export_rows_paths_and_card(planted, tmp_path):
    out = tmp_path / "swift"
    res = export(planted, "swift", options=ExportOptions(), out=out)
    assert set(res.rows) == {"sft", "grpo"}
    sft, grpo = load(out, "sft", tmp_path), load(out, "grpo", tmp_path)
    assert not (set(sft.column_names) | set(grpo.column_names)) & SWIFT_RENAMED
    items = {r["item_id"]: r for r in planted.items(DS).to_pylist()}
    for row in grpo:
        assert [m["role"] for m in row["messages"]] == ["system", "user"]
        assert row["messages"][-1]["content"].count("<audio>") == len(row["audios"]) == 1
        assert (
            row["solution"] == LETTERS[items[row["item_id"]]["answer_index"]] == LETTERS[row["answer_index"]]
        )
        assert row["choices"] == items[row["item_id"]]["choices"]
        clip = out / row["audios"][0]
        assert not row["audios"][0].startswith("/") and clip.is_file()
        assert (
            clip.read_bytes() == planted.dataset(DS).resolve(items[row["item_id"]]["audio_path"]).read_bytes()
        )
    for row in sft:
        assert row["messages"][-1]["role"] == "assistant" and "<answer>" in row["messages"][-1]["content"]
        assert all(isinstance(m["content"], str) for m in row["messages"])
        assert (out / row["audios"][0]).is_file()
    assert (out / "adqa_swift_plugin.py").read_text().count("register(orms)") == 1
    card = (out / "README.md").read_text()
    assert "swift rlhf --rlhf_type grpo" in card and "--external_plugins" in card
    assert "--reward_funcs adqa_correctness adqa_format" in card


def test_export_embed_carries_the_file_bytes(planted, tmp_path):
    out = tmp_path / "swift"
    export(planted, "swift", options=ExportOptions(audio="embed"), out=out)
    grpo = load(out, "grpo", tmp_path)
    items = {r["item_id"]: r for r in planted.items(DS).to_pylist()}
    assert not (out / "audio").exists()
    for row in grpo:
        want = planted.dataset(DS).resolve(items[row["item_id"]]["audio_path"]).read_bytes()
        assert base64.b64decode(row["audios"][0]) == want


def test_export_without_audio(planted, tmp_path):
    out = tmp_path / "swift"
    export(planted, "swift", options=ExportOptions(audio="none", split="all"), out=out)
    for config in ("sft", "grpo"):
        rows = load(out, config, tmp_path)
        assert "audios" not in rows.column_names
        assert not any("<audio>" in m["content"] for r in rows for m in r["messages"])
