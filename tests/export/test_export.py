"""`adqa-data export`: every format loads back with the planted counts and values, the dataset card holds
the schema, provenance chain and licence, the load-back check catches a changed file, push calls the Hub
API with the right repo and visibility (mocked), and user mistakes are clear errors."""

from __future__ import annotations

import json
import shutil

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from support.planted_workspace import (
    DS,
    GROUP_REWARDS,
    MODELS,
    N_ITEMS,
    N_PROMPTS,
    build_workspace,
    silent_correct,
)
from typer.testing import CliRunner

from adqa_data.cli import app
from adqa_data.core.errors import UserError
from adqa_data.core.schema import PROMPTS
from adqa_data.core.workspace import Workspace, write_table_atomic
from adqa_data.export import ExportOptions, export
from adqa_data.export.card import data_path
from adqa_data.export.writer import verify

runner = CliRunner()


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Workspace:
    return build_workspace(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def items(planted) -> dict[str, dict]:
    return {r["item_id"]: r for r in planted.items(DS).to_pylist()}


def load(out, config="default"):
    return datasets.load_dataset(str(out), config, split="train", cache_dir=str(out.parent / ".cache"))


def run(planted, tmp_path, fmt, **options):
    out = tmp_path / fmt
    res = export(planted, fmt, options=ExportOptions(**options), out=out)
    assert res.check["ok"], res.check
    return res, out


# ---------------------------------------------------------------------------------------------- formats
def test_native_tables(planted, tmp_path):
    res, out = run(planted, tmp_path, "native", table="item_scores")
    assert res.rows == {"default": N_ITEMS} and res.check["configs"]["default"]["loaded_rows"] == N_ITEMS
    ds = load(out)
    got = {r["item_id"]: r["silence_correct"] for r in ds}
    assert got == {f"it{i:02d}": sum(silent_correct(i)) for i in range(N_ITEMS)}
    # sub-folders: every (model, condition) of the votes, or one of them
    res, _ = run(planted, tmp_path / "v", "native", table="votes")
    assert res.rows["default"] == N_ITEMS * 2 * len(MODELS) * 2
    res, out = run(planted, tmp_path / "v1", "native", table="votes", unit="m1/silence")
    assert res.rows["default"] == N_ITEMS * 2 and set(load(out)["model"]) == {"m1"}


def test_verl_rows(planted, items, tmp_path):
    res, out = run(planted, tmp_path, "verl")
    ds = load(out)
    assert len(ds) == N_PROMPTS
    assert set(ds.column_names) == {
        "data_source",
        "prompt",
        "ability",
        "reward_model",
        "extra_info",
        "audios",
    }
    for index, row in enumerate(ds):
        it = items[row["extra_info"]["item_id"]]
        assert row["data_source"] == DS and row["ability"] == "audio_mcq"
        assert row["reward_model"] == {"style": "rule", "ground_truth": "ABCD"[it["answer_index"]]}
        assert row["extra_info"]["index"] == index and row["extra_info"]["split"] == "train"
        assert row["extra_info"]["choices"] == it["choices"]
        assert [m["role"] for m in row["prompt"]] == ["system", "user"]
        user = row["prompt"][1]["content"]
        assert user.startswith("<audio>") and user.count("<audio>") == len(row["audios"]) == 1
        assert it["question"] in user and all(c in user for c in it["choices"])
        # the clip, decoded and resampled to 16 kHz (half the items are 8 kHz files)
        audio = np.asarray(row["audios"][0]["audio"], dtype=np.float32)
        assert row["audios"][0]["sampling_rate"] == 16000 and len(audio) == 8000
        if it["sample_rate"] == 16000:
            raw, _ = sf.read(planted.dataset(DS).resolve(it["audio_path"]), dtype="float32")
            np.testing.assert_allclose(audio, raw, atol=1e-6)
    assert (
        pq.read_schema(out / data_path("default", "train"))
        .field("audios")
        .type.value_type.field("audio")
        .type.value_type
        == "float"
    )  # float32 on disk, as decoded


def test_verl_with_paths_and_the_audiomcq_style(planted, items, tmp_path):
    _, out = run(planted, tmp_path, "verl", audio="path", prompt_style="audiomcq", split="strong")
    ds = load(out)
    strong = [f"it{i:02d}" for i in range(N_ITEMS) if sum(silent_correct(i)) < 2]
    assert [r["extra_info"]["item_id"] for r in ds] == strong
    for row in ds:
        it = items[row["extra_info"]["item_id"]]
        assert row["audios"] == [{"audio": str(planted.dataset(DS).resolve(it["audio_path"]))}]
        # the audiomcq style shows a bare list of options: the ground truth is the option text
        assert row["reward_model"]["ground_truth"] == it["answer_text"]


def test_trl_prompts_and_completion_logs(planted, items, tmp_path):
    res, out = run(planted, tmp_path, "trl")
    assert res.rows == {"prompts": N_PROMPTS, "completions": sum(len(g) for g in GROUP_REWARDS)}
    prompts = load(out, "prompts")
    row = prompts[0]
    it = items[row["item_id"]]
    assert row["choices"] == it["choices"] and row["answer"] == "ABCD"[it["answer_index"]]
    assert "audio" not in prompts.column_names  # the clip travels inside the prompt
    user = row["prompt"][-1]
    assert user["role"] == "user" and [p["type"] for p in user["content"]] == ["audio", "text"]
    assert user["content"][0]["path"] == str(planted.dataset(DS).resolve(it["audio_path"]))
    assert it["question"] in user["content"][1]["text"]
    comp = load(out, "completions")
    # TRL 1.16's log_completions layout: step, prompt, completion, rewards, extra columns sorted, advantage;
    # the planted rollouts did not weight anchoring (a null column), so, as in TRL, it has no column
    assert comp.column_names == [
        "step",
        "prompt",
        "completion",
        "correctness",
        "format",
        "group_id",
        "item_id",
        "advantage",
    ]
    table = pq.read_table(out / data_path("completions", "train"))
    assert table.schema.field("step").type == pa.int64()
    assert {table.schema.field(c).type for c in ("correctness", "format", "advantage")} == {pa.float64()}
    assert set(comp["step"]) == {0}
    assert comp["correctness"] == [float(r == 1) for g in GROUP_REWARDS for r in g]
    first = comp[0]
    assert first["completion"][0]["role"] == "assistant" and first["completion"][0]["content"].startswith(
        "<think>"
    )
    prompt_of = {r["item_id"]: r["prompt"] for r in prompts}
    assert first["prompt"] == prompt_of[first["item_id"]]


def test_embedded_audio_in_trl_and_sft(planted, items, tmp_path):
    _, out = run(planted, tmp_path / "trl", "trl", audio="embed", sample_rate=8000)
    for row in load(out, "prompts").select(range(3)):
        audio = row["prompt"][-1]["content"][0]
        assert audio["type"] == "audio" and len(audio["audio"]) == 4000
    _, out = run(planted, tmp_path / "sft", "sft", audio="embed")
    ds = load(out)
    it = items[ds[0]["item_id"]]
    raw, _ = sf.read(planted.dataset(DS).resolve(it["audio_path"]), dtype="float32")
    assert it["sample_rate"] == 16000
    np.testing.assert_allclose(np.asarray(ds[0]["audios"][0]["array"], np.float32), raw, atol=1e-6)


def test_groups_one_row_per_group(planted, tmp_path):
    res, out = run(planted, tmp_path, "groups")
    ds = load(out)
    assert len(ds) == len(GROUP_REWARDS)
    assert [list(r) for r in ds["rewards"]] == [[float(x) for x in g] for g in GROUP_REWARDS]
    assert ds["zero_signal"] == [len(set(g)) == 1 for g in GROUP_REWARDS]
    row = ds[2]
    assert [t.split("</think>")[0] for t in row["responses"]] == [f"<think>thinking 2.{s}" for s in range(4)]
    assert [len(x) for x in row["response_token_ids"]] == [5, 6, 7, 8]  # rollout order kept in every list
    assert row["reward_correctness"] == [1.0, 0.0, 0.0, 0.0]
    assert "3 with zero signal" in res.notes[0]


def test_sft_weak_split_with_chain_of_thought(planted, items, tmp_path):
    res, out = run(planted, tmp_path, "sft")
    ds = load(out)
    weak = [f"it{i:02d}" for i in range(N_ITEMS) if sum(silent_correct(i)) >= 2]
    assert ds["item_id"] == weak
    for row in ds:
        it = items[row["item_id"]]
        roles = [m["role"] for m in row["messages"]]
        assert roles == ["system", "user", "assistant"]
        assert row["messages"][1]["content"].startswith("<audio>") and len(row["audios"]) == 1
        assert row["messages"][2]["content"] == (
            f"<think>\n{it['cot']}\n</think>\n<answer>{'ABCD'[it['answer_index']]}</answer>"
        )
    # every item: half have no chain of thought, so a bare answer block; --cot-only drops them
    res, out = run(planted, tmp_path / "all", "sft", split="all")
    ds = load(out)
    assert len(ds) == N_ITEMS and sum(ds["has_cot"]) == N_ITEMS // 2
    bare = [r for r in ds if not r["has_cot"]][0]
    assert (
        bare["messages"][2]["content"] == f"<answer>{'ABCD'[items[bare['item_id']]['answer_index']]}</answer>"
    )
    res, _ = run(planted, tmp_path / "cot", "sft", split="all", cot_only=True)
    assert res.rows["default"] == N_ITEMS // 2


# ------------------------------------------------------------------------------------------- the card
def test_card_has_schema_counts_provenance_and_licence(planted, tmp_path):
    _, out = run(planted, tmp_path, "groups")
    card = (out / "README.md").read_text()
    assert (
        card.startswith("---\n") and "config_name: default" in card and data_path("default", "train") in card
    )
    assert "## Schema" in card and "`responses`" in card and "`rewards`" in card
    assert "| default | train | 5 |" in card
    # the chain from the rollout set upstream: rollout r1 -> prompt set p1 -> download
    order = [card.index(h) for h in ("### rollout `r1`", "### sample `p1`", "### download")]
    assert order == sorted(order)
    assert "k-rollout" in card and '"from_dir"' in card and "fp-pool" in card
    assert "CC-BY-4.0 (3 items)" in card and "CC-BY-NC-4.0 (2 items)" in card  # the 5 items of the groups
    assert "Fleiss' kappa 0.3333" in card and "zero-signal groups 0.6" in card


def test_card_without_licence_fields_says_so(planted, tmp_path):
    shutil.copytree(planted.root, tmp_path / "w")
    ws = Workspace(tmp_path / "w")
    from adqa_data.core.schema import ITEMS

    table = ws.items(DS)
    table = table.set_column(
        table.schema.get_field_index("upstream_json"), "upstream_json", pa.nulls(table.num_rows, pa.string())
    )
    write_table_atomic(ws.table_dir("items", DS) / "part-00000.parquet", table, ITEMS)
    export(ws, "native", options=ExportOptions(table="items"), out=tmp_path / "o")
    assert "record no licence field" in (tmp_path / "o" / "README.md").read_text()


# ------------------------------------------------------------------------------------ check, push, CLI
def test_the_check_catches_a_changed_file(planted, tmp_path):
    from adqa_data.export import build

    built = build(planted, DS, "groups", ExportOptions())
    _, out = run(planted, tmp_path, "groups")
    assert verify(out, built.configs, "train")["ok"]
    path = out / data_path("default", "train")
    t = pq.read_table(path)
    t = t.set_column(t.schema.get_field_index("prompt"), "prompt", pa.array(["changed"] * t.num_rows))
    pq.write_table(t, path)
    check = verify(out, built.configs, "train")
    assert not check["ok"] and check["configs"]["default"]["mismatches"][0]["columns"] == ["prompt"]


class FakeHub:
    calls: list = []

    def whoami(self, **kw):
        FakeHub.calls.append(("whoami", kw))
        return {"name": "me"}

    def create_repo(self, **kw):
        FakeHub.calls.append(("create_repo", kw))
        return f"https://huggingface.co/datasets/{kw['repo_id']}"

    def upload_folder(self, **kw):
        from fnmatch import fnmatch
        from pathlib import Path

        files = sorted(
            str(p.relative_to(kw["folder_path"])) for p in Path(kw["folder_path"]).rglob("*") if p.is_file()
        )
        files = [f for f in files if not any(fnmatch(f, pat) for pat in kw.get("ignore_patterns") or [])]
        FakeHub.calls.append(("upload_folder", {**kw, "files": files}))


@pytest.mark.parametrize("private", [True, False])
def test_push_calls_the_hub_with_repo_and_visibility(planted, monkeypatch, private):
    import huggingface_hub

    FakeHub.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHub)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    args = ["export", "-w", str(planted.root), "-f", "sft", "--push-to-hub", "me/adqa-sft", "--json"]
    res = runner.invoke(app, args + (["--private"] if private else []))
    assert res.exit_code == 0, res.output
    (name0, _), (name, create), (name2, upload) = FakeHub.calls
    assert (name0, name, name2) == ("whoami", "create_repo", "upload_folder")
    assert create == {
        "repo_id": "me/adqa-sft",
        "repo_type": "dataset",
        "private": True if private else None,
        "exist_ok": True,
    }
    assert upload["repo_id"] == "me/adqa-sft" and upload["repo_type"] == "dataset"
    assert upload["files"] == ["README.md", data_path("default", "train")]
    report = json.loads(res.stdout)
    assert report["pushed_to"] == "https://huggingface.co/datasets/me/adqa-sft" and report["out"] is None
    assert report["check"]["ok"]


def test_push_refuses_offline(planted, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="HF_HUB_OFFLINE"):
        export(planted, "groups", push_to_hub="me/x")


def test_user_mistakes(planted, tmp_path):
    cases = [
        (dict(fmt="parquet"), "unknown --format"),
        (dict(fmt="native"), "needs --table"),
        (dict(fmt="native", options=ExportOptions(table="codes")), "cannot be exported"),
        (dict(fmt="verl", options=ExportOptions(split="medium")), "unknown split"),
        (dict(fmt="verl", options=ExportOptions(audio="mp3")), "unknown --audio"),
        (dict(fmt="groups", options=ExportOptions(rollouts="nope")), "no finished rollout set 'nope'"),
    ]
    for kw, message in cases:
        with pytest.raises(UserError, match=message):
            export(planted, out=tmp_path / "x", **kw)
    with pytest.raises(UserError, match="nowhere"):
        export(planted, "groups")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not an adqa-data export"):
        export(planted, "groups", out=tmp_path / "busy")
    assert (tmp_path / "busy" / "keep.txt").exists()


def test_several_prompt_sets_need_a_name(planted, tmp_path):
    shutil.copytree(planted.root, tmp_path / "w")
    ws = Workspace(tmp_path / "w")
    shutil.copytree(ws.table_dir(PROMPTS.name, DS, "p1"), ws.table_dir(PROMPTS.name, DS, "p2"))
    # a set without a complete provenance record (a killed run) is not a choice
    assert export(ws, "verl", options=ExportOptions(audio="none"), out=tmp_path / "p1").rows == {
        "default": N_PROMPTS
    }
    with pytest.raises(UserError, match="no finished prompt set 'p2'"):
        export(ws, "verl", options=ExportOptions(prompts="p2", audio="none"), out=tmp_path / "o")
    prov = json.loads(ws.provenance_path("sample", DS, "p1").read_text())
    ws.provenance_path("sample", DS, "p2").write_text(json.dumps({**prov, "unit": "p2"}))
    with pytest.raises(UserError, match="several prompt sets: p1, p2"):
        export(ws, "verl", out=tmp_path / "o")
    res = export(ws, "verl", options=ExportOptions(prompts="p2", audio="none"), out=tmp_path / "o")
    assert res.rows == {"default": N_PROMPTS}


# ------------------------------------------------------------------------------------ empty tables
def with_empty_quarantine(planted, tmp_path) -> Workspace:
    """A copy of the planted workspace whose filter stage quarantined nothing (a zero-row shard)."""
    from adqa_data.core.schema import QUARANTINE

    shutil.copytree(planted.root, tmp_path / "w")
    ws = Workspace(tmp_path / "w")
    write_table_atomic(
        ws.table_dir("quarantine", DS, "filter") / "part-00000.parquet", QUARANTINE.empty(), QUARANTINE
    )
    return ws


def test_an_empty_table_exports_cleanly(planted, tmp_path):
    ws = with_empty_quarantine(planted, tmp_path)
    out = tmp_path / "empty"
    res = export(ws, "native", options=ExportOptions(table="quarantine", unit="filter"), out=out)
    assert (
        res.rows == {"default": 0} and res.check["ok"] and res.check["configs"]["default"]["loaded_rows"] == 0
    )
    assert "| default | train | 0 |" in (out / "README.md").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "w"]  # no staging folder left
    t = pq.read_table(out / data_path("default", "train"))
    assert t.num_rows == 0 and "reason" in t.column_names


def test_datasets_reads_every_table_of_the_workspace(planted, tmp_path):
    """Every table folder of the workspace through `datasets.load_dataset("parquet")`: tables with rows
    load whole (a zero-row shard beside others is skipped, not an error); a table of no rows at all loads
    with its columns and no rows in streaming mode (datasets builds no non-streaming split of 0 rows)."""
    ws = with_empty_quarantine(planted, tmp_path)
    folders = sorted({p.parent for p in ws.root.rglob("part-*.parquet")})
    assert len(folders) >= 8
    seen_empty = False
    for folder in folders:
        files = [str(p) for p in sorted(folder.glob("part-*.parquet"))]
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        if rows:
            ds = datasets.load_dataset(
                "parquet", data_files=files, split="train", cache_dir=str(tmp_path / "c")
            )
            assert ds.num_rows == rows, folder
        else:
            seen_empty = True
            ds = datasets.load_dataset("parquet", data_files=files, split="train", streaming=True)
            assert list(ds) == [] and "reason" in ds.features, folder
    assert seen_empty
    # the quarantine table across stages: the empty filter shard beside the download one
    every = [str(p) for p in sorted(ws.table_dir("quarantine", DS).rglob("part-*.parquet"))]
    assert len(every) == 2
    ds = datasets.load_dataset("parquet", data_files=every, split="train", cache_dir=str(tmp_path / "c2"))
    assert ds.num_rows == 2


def test_card_yaml_has_the_source_licence(planted, tmp_path):
    import yaml

    _, out = run(planted, tmp_path, "groups")
    header = yaml.safe_load((out / "README.md").read_text().split("---\n")[1])
    assert header["license"] == ["cc-by-4.0", "cc-by-nc-4.0"]
    _, out = run(planted, tmp_path / "one", "verl", audio="none", prompts=None, split="all")
    assert "license" in yaml.safe_load((out / "README.md").read_text().split("---\n")[1])
