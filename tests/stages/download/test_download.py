"""download: local recipes into the items table, quarantine with reasons, resumable and idempotent reruns, the up-to-date summary."""

import json
import shutil
import threading

import pyarrow.parquet as pq
import pytest

from adqa_data.core.errors import UserError
from adqa_data.core.schema import ITEMS, PROBES, QUARANTINE
from adqa_data.core.workspace import Workspace
from adqa_data.stages import download as dl
from adqa_data.stages.info import info
from adqa_data.testing.data import EXPECTED_DEFECT_REASONS, write_demo


def _lines(path):
    return [line for line in path.read_text().splitlines() if line.strip()]


def test_every_defect_is_quarantined_with_its_reason(demo_roots, tmp_path):
    ws = Workspace(tmp_path / "w")
    res = dl.download(ws, from_dir=demo_roots["audiomcq"])
    assert res.reasons == EXPECTED_DEFECT_REASONS
    q = ws.read(QUARANTINE, "audiomcq", "download").to_pylist()
    by_id = {r["item_id"]: r["reason"] for r in q if r["item_id"]}
    assert by_id["bad_missing_audio"] == "audio_missing"
    assert by_id["bad_garbage_audio"] == "audio_unreadable"
    assert by_id["bad_empty_file"] == by_id["bad_no_frames"] == "audio_empty"
    assert by_id["bad_truncated_wav"] == by_id["bad_truncated_mp3"] == "audio_truncated"
    assert by_id["bad_answer_not_in_choices"] == "answer_not_in_choices"
    assert by_id["bad_one_choice"] == "too_few_choices"
    assert by_id["bad_dup_choices"] == "duplicate_choices"
    assert by_id["amcq_0000"] == "duplicate_id"
    assert by_id["bad_no_question"] == "missing_field"
    assert by_id["bad_choices_not_list"] == "bad_field"
    assert by_id["bad_absolute"] == "absolute_path"
    assert by_id["bad_climbs"] == "path_escapes_root"
    assert by_id["bad_link_out"] == "link_escapes_root"
    # the original line is kept verbatim
    lines = _lines(demo_roots["audiomcq"] / "data.jsonl")
    assert {r["raw"] for r in q} <= set(lines)
    assert [r["raw"] for r in q if r["reason"] == "invalid_json"] == lines[-2:]


def test_counts_add_up_to_input_lines(demo_roots, tmp_path):
    ws = Workspace(tmp_path / "w")
    res = dl.download(ws, from_dir=demo_roots["audiomcq"])
    n_lines = len(_lines(demo_roots["audiomcq"] / "data.jsonl"))
    report = info(ws)
    assert report["items"] + report["quarantined"] == n_lines == res.input_rows
    assert report["quarantine_reasons"] == EXPECTED_DEFECT_REASONS
    assert ws.items("audiomcq").num_rows == res.items
    # the first occurrence of a duplicated id is the one kept
    ids = ws.items("audiomcq", columns=["item_id", "row_index"]).to_pylist()
    assert {"item_id": "amcq_0000", "row_index": 0} in ids


def test_item_fields_and_formats(clean_demo_roots, tmp_path):
    import soundfile as sf

    ws = Workspace(tmp_path / "w")
    dl.download(ws, from_dir=clean_demo_roots["audiomcq"])
    items = ws.items("audiomcq").to_pylist()
    root = clean_demo_roots["audiomcq"]
    formats = {it["audio_path"].rsplit(".", 1)[1] for it in items}
    assert formats == {"wav", "flac", "ogg", "mp3"}
    assert {it["num_channels"] for it in items} == {1, 2}
    assert len({it["sample_rate"] for it in items}) >= 3
    for it in items:
        info_ = sf.info(str(root / it["audio_path"]))
        assert it["sample_rate"] == info_.samplerate and it["num_channels"] == info_.channels
        assert abs(it["duration_s"] - info_.duration) < 0.1
        assert it["choices"][it["answer_index"]] == it["answer_text"]
        assert it["split"] == "train" and it["dataset"] == "audiomcq"
    extra = [json.loads(it["upstream_json"]) for it in items if it["upstream_json"]]
    assert {"audio-contribution": "weak"} in extra  # upstream columns we do not model survive verbatim
    assert all(it["cot"] for it in items)
    meta = pq.read_schema(next((tmp_path / "w" / "items" / "audiomcq").glob("part-*.parquet"))).metadata
    assert meta[b"adqa.schema_version"] == str(ITEMS.version).encode()


def test_rerun_is_up_to_date_and_force_redoes(clean_demo_roots, tmp_path):
    ws = Workspace(tmp_path / "w")
    first = dl.download(ws, from_dir=clean_demo_roots["audiomcq"])
    shard = next((tmp_path / "w" / "items" / "audiomcq").glob("part-*.parquet"))
    mtime = shard.stat().st_mtime_ns
    again = dl.download(ws, from_dir=clean_demo_roots["audiomcq"])
    assert again.up_to_date and again.items == first.items and shard.stat().st_mtime_ns == mtime
    forced = dl.download(ws, from_dir=clean_demo_roots["audiomcq"], force=True)
    assert not forced.up_to_date and forced.probed_files == first.probed_files
    prov = ws.provenance("download", "audiomcq")
    assert prov["status"] == "complete" and prov["inputs"]["manifest_sha256"] and prov["versions"]["pyarrow"]


def test_up_to_date_summary_agrees_with_the_tables(demo_roots, tmp_path):
    """The up-to-date result is rebuilt from the record: its counts must be the tables' own."""
    ws = Workspace(tmp_path / "w")
    first = dl.download(ws, from_dir=demo_roots["audiomcq"])
    again = dl.download(ws, from_dir=demo_roots["audiomcq"])
    assert again.up_to_date
    q = ws.read(QUARANTINE, "audiomcq", "download")
    items = ws.read(ITEMS, "audiomcq")
    assert again.quarantined == first.quarantined == q.num_rows > 0
    assert again.items == first.items == items.num_rows
    assert again.input_rows == first.input_rows == items.num_rows + q.num_rows
    assert again.reasons == first.reasons == EXPECTED_DEFECT_REASONS


def test_changed_input_is_redone(tmp_path):
    roots = write_demo(tmp_path / "d", n_clips=6)
    ws = Workspace(tmp_path / "w")
    dl.download(ws, from_dir=roots["audiomcq"])
    (roots["audiomcq"] / "Clotho" / "clip_005.flac").unlink()  # used by one row only
    res = dl.download(ws, from_dir=roots["audiomcq"])
    assert not res.up_to_date and res.reasons == {"audio_missing": 1}


def test_shared_audio_is_probed_once_per_file(clean_demo_roots, tmp_path, monkeypatch):
    calls = []
    lock = threading.Lock()
    real = dl.probing.probe_audio

    def counting(path, *args, **kwargs):
        with lock:
            calls.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(dl.probing, "probe_audio", counting)
    ws = Workspace(tmp_path / "w")
    res = dl.download(ws, from_dir=clean_demo_roots["audiomcq"], workers=1)  # in-process: the patch counts
    paths = [it["audio_path"] for it in ws.items("audiomcq").to_pylist()]
    assert len(paths) > len(set(paths))  # the demo shares clips between rows
    assert len(calls) == len(set(calls)) == len(set(paths)) == res.probed_files


def test_crash_mid_run_then_rerun_finishes_without_duplicates(clean_demo_roots, tmp_path, monkeypatch):
    monkeypatch.setattr(dl.probing, "PROBE_CHUNK", 4)
    reference = dl.download(Workspace(tmp_path / "ref"), from_dir=clean_demo_roots["audiomcq"])
    ws = Workspace(tmp_path / "w")
    real = dl.probing.probe_chunk
    seen = []

    def dying(task):
        if len(seen) == 3:
            raise KeyboardInterrupt("killed")
        seen.append(task["index"])
        return real(task)

    monkeypatch.setattr(dl.probing, "probe_chunk", dying)
    with pytest.raises(KeyboardInterrupt):
        dl.download(ws, from_dir=clean_demo_roots["audiomcq"], workers=1)
    assert ws.provenance("download", "audiomcq") is None  # never looks complete
    assert len(list((tmp_path / "w" / "probes" / "audiomcq").glob("part-*.parquet"))) == 3
    # a half-written temporary file from the kill is ignored and cleaned
    (tmp_path / "w" / "probes" / "audiomcq" / ".part-00003.parquet.999.tmp").write_bytes(b"partial")
    monkeypatch.setattr(dl.probing, "probe_chunk", real)
    res = dl.download(ws, from_dir=clean_demo_roots["audiomcq"])  # worker processes finish the rest
    assert res.probed_files == reference.probed_files - 12  # only the unfinished chunks
    assert not list((tmp_path / "w" / "probes" / "audiomcq").glob(".*.tmp"))
    ours = ws.items("audiomcq").sort_by("row_index").to_pylist()
    theirs = Workspace(tmp_path / "ref").items("audiomcq").sort_by("row_index").to_pylist()
    assert ours == theirs
    assert ws.read(PROBES, "audiomcq").num_rows == reference.probed_files


def test_dcase_layouts_detected(clean_demo_roots, tmp_path):
    ws = Workspace(tmp_path / "w")
    dev = dl.download(ws, from_dir=clean_demo_roots["dcase2026-dev"])
    ev = dl.download(ws, from_dir=clean_demo_roots["dcase2026-eval"])
    assert (dev.dataset, ev.dataset) == ("dcase2026-dev", "dcase2026-eval")
    dev_items = ws.items("dcase2026-dev").to_pylist()
    assert dev_items[0]["item_id"] == "dev_0001" and dev_items[0]["split"] == "dev"
    assert all(
        it["answer_index"] is not None and it["choices"][it["answer_index"]] == it["answer_text"]
        for it in dev_items
    )
    eval_items = ws.items("dcase2026-eval").to_pylist()
    assert eval_items and all(it["answer_index"] is None and it["answer_text"] is None for it in eval_items)
    assert eval_items[0]["audio_path"].startswith("eval_audios/")
    assert set(ws.datasets()) == {"dcase2026-dev", "dcase2026-eval"}
    assert info(ws)["items"] == len(dev_items) + len(eval_items)


def test_dcase_layout_named_explicitly(clean_demo_roots, tmp_path):
    root = tmp_path / "both"
    shutil.copytree(clean_demo_roots["dcase2026-dev"], root)
    shutil.copy(clean_demo_roots["dcase2026-eval"] / "eval-noanswer.jsonl", root)
    with pytest.raises(UserError, match="several manifests"):
        dl.download(Workspace(tmp_path / "w"), from_dir=root)
    res = dl.download(Workspace(tmp_path / "w"), from_dir=root, layout="dcase2026-dev", name="dev")
    assert res.dataset == "dev" and res.quarantined == 0


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_generic_layout_with_mapping(clean_demo_roots, tmp_path, fmt):
    import pyarrow as pa

    root = tmp_path / "generic"
    shutil.copytree(clean_demo_roots["dcase2026-dev"], root)
    rows = [json.loads(line) for line in _lines(root / "dev.jsonl")]
    renamed = [
        {
            "qid": r["id"],
            "q": r["question_text"],
            "opts": r["multi_choice"],
            "label": r["answer"],
            "wav": r["audio_path"],
            "note": "kept",
        }
        for r in rows
    ]
    if fmt == "jsonl":
        (root / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in renamed) + "\n")
    else:
        pq.write_table(pa.Table.from_pylist(renamed), root / "rows.parquet")
    ws = Workspace(tmp_path / "w")
    res = dl.download(
        ws,
        from_dir=root,
        layout="generic",
        name="mine",
        manifest=f"rows.{fmt}",
        split="dev",
        mapping={
            "item_id": "qid",
            "question": "q",
            "choices": "opts",
            "answer": "label",
            "audio_path": "wav",
        },
    )
    assert res.items == len(rows) and res.quarantined == 0
    items = ws.items("mine").to_pylist()
    assert items[0]["question"] == rows[0]["question_text"]
    assert json.loads(items[0]["upstream_json"]) == {"note": "kept"}


def test_second_concurrent_run_is_refused(clean_demo_roots, tmp_path):
    ws = Workspace(tmp_path / "w")
    with ws.lock("download", "audiomcq"):
        with pytest.raises(UserError, match="another 'download' run"):
            dl.download(ws, from_dir=clean_demo_roots["audiomcq"])


def test_hub_source_uses_pinned_manifest(clean_demo_roots, tmp_path, monkeypatch):
    calls = {}

    def fake_fetch(repo_id, revision, dest):
        calls["args"] = (repo_id, revision)
        shutil.copytree(clean_demo_roots["audiomcq"], dest)
        return dest, "0123abcd" * 5

    monkeypatch.setattr(dl.hub, "fetch_from_hub", fake_fetch)
    ws = Workspace(tmp_path / "w")
    res = dl.download(ws, hub="audiomcq-strongac-geminicot")
    pinned = dl.load_manifest("audiomcq-strongac-geminicot")
    assert calls["args"] == (pinned["repo_id"], pinned["revision"])
    assert res.items > 0 and ws.datasets()[res.dataset].revision == "0123abcd" * 5


def test_missing_source_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        dl.download(Workspace(tmp_path / "w"), from_dir=tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no known manifest"):
        dl.download(Workspace(tmp_path / "w"), from_dir=tmp_path / "empty")
