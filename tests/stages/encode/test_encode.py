"""The encode stage: shared audio encoded once, reruns are cache hits, resume after a kill, quarantine,
codes independent of batching and engine, the reader API."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from adqa_data.audio.clips import load_audio  # noqa: E402
from adqa_data.codecs import clear_loaded, load_codec, resolve_codec  # noqa: E402
from adqa_data.codecs.cache import CodeCache, load_codes, open_codes  # noqa: E402
from adqa_data.codecs.hf import TransformersCodec  # noqa: E402
from adqa_data.core.errors import UserError  # noqa: E402
from adqa_data.core.schema import CODE_INDEX, QUARANTINE  # noqa: E402
from adqa_data.core.workspace import Workspace  # noqa: E402
from adqa_data.stages import encode as enc  # noqa: E402
from adqa_data.stages.download import download  # noqa: E402
from adqa_data.testing.codecs import build_tiny_codec  # noqa: E402

DS = "audiomcq"


@pytest.fixture(scope="session")
def tiny_mimi(tmp_path_factory):
    return str(build_tiny_codec("mimi", tmp_path_factory.mktemp("codec") / "mimi"))


@pytest.fixture()
def ws(clean_demo_roots, tmp_path):
    w = Workspace(tmp_path / "w")
    download(w, from_dir=clean_demo_roots[DS])
    return w


@pytest.fixture()
def clip_counter(monkeypatch):
    """Counts clips that reach the model."""
    seen: list[int] = []
    real = TransformersCodec._encode_group

    def counting(self, waveforms):
        seen.extend(len(w) for w in waveforms)
        return real(self, waveforms)

    monkeypatch.setattr(TransformersCodec, "_encode_group", counting)
    return seen


def _all_codes(w: Workspace, dataset: str = DS) -> dict[str, np.ndarray]:
    codes = open_codes(w, dataset)
    ids = sorted(codes.item_ids)
    return dict(zip(ids, codes.load_codes(ids)))


# ------------------------------------------------------------------------------------------ batching plan
def test_plan_batches_respects_budget_keys_and_size():
    lengths = [30, 29, 10, 10, 9, 9, 9, 5, 1]
    keys = [None] * len(lengths)
    batches = enc.plan_batches(lengths, keys, batch_samples=30, max_batch_size=3)
    assert [i for b in batches for i in b] == list(range(len(lengths)))
    for b in batches:
        assert len(b) == 1 or max(lengths[i] for i in b) * len(b) <= 30
        assert len(b) <= 3
    assert batches[:2] == [[0], [1]]
    assert enc.plan_batches([50], [None], batch_samples=10) == [[0]]  # too long still gets a batch
    keyed = enc.plan_batches([5, 5, 4, 4], ["a", "a", "b", "b"], batch_samples=100)
    assert keyed == [[0, 1], [2, 3]]


# ------------------------------------------------------------------------------------------ the stage
def test_encode_indexes_every_item_and_encodes_shared_audio_once(ws, tiny_mimi, clip_counter):
    progress = []
    res = enc.encode(ws, codec=tiny_mimi, on_progress=lambda d, t: progress.append((d, t)))
    items = ws.items(DS).to_pylist()
    distinct = {it["audio_sha256"] for it in items}
    assert len(items) > len(distinct)  # the demo shares clips between items
    assert res.items == res.indexed == len(items) and res.quarantined == 0
    assert res.distinct_audio == res.encoded == len(distinct) == len(clip_counter)
    assert res.cache_hits == 0 and progress[-1] == (len(distinct), len(distinct))
    assert 1.0 <= res.padding_waste < 1.5
    # items sharing audio point at the same codes
    index = ws.read(CODE_INDEX, DS, res.codec_key).to_pylist()
    by_sha: dict[str, set[str]] = {}
    for r in index:
        by_sha.setdefault(r["audio_sha256"], set()).add(r["cache_file"])
    assert all(len(files) == 1 for files in by_sha.values())
    # compact storage: uint16 flat lists
    part = pq.read_table(index[0]["cache_file"])
    assert part.schema.field("codes").type == pa.list_(pa.uint16())
    # the stored codes are what the codec gives the decoded clip
    codec = load_codec(resolve_codec(tiny_mimi))
    root = ws.dataset(DS)
    stored = _all_codes(ws)
    for it in items[:6]:
        expected = codec.encode([load_audio(root.resolve(it["audio_path"]), codec.sample_rate)])[0]
        np.testing.assert_array_equal(stored[it["item_id"]], expected)
        assert stored[it["item_id"]].dtype == np.uint16


def test_rerun_is_up_to_date_and_a_forced_rerun_recomputes_every_entry(ws, tiny_mimi, clip_counter):
    first = enc.encode(ws, codec=tiny_mimi)
    n = len(clip_counter)
    again = enc.encode(ws, codec=tiny_mimi)
    assert again.up_to_date and again.indexed == first.indexed and len(clip_counter) == n
    before = _all_codes(ws)
    forced = enc.encode(ws, codec=tiny_mimi, force=True)  # --force trusts no cache entry (issue 17)
    assert not forced.up_to_date and forced.cache_hits == 0 and forced.encoded == first.distinct_audio
    after = _all_codes(ws)
    assert after.keys() == {it["item_id"] for it in ws.items(DS).to_pylist()}
    for item_id, codes in before.items():  # the same codes, recomputed
        np.testing.assert_array_equal(after[item_id], codes)


def test_cache_is_shared_between_workspaces(clean_demo_roots, tmp_path, tiny_mimi, clip_counter):
    cache = tmp_path / "shared-cache"
    a, b = Workspace(tmp_path / "a"), Workspace(tmp_path / "b")
    for w in (a, b):
        download(w, from_dir=clean_demo_roots[DS])
    ra = enc.encode(a, codec=tiny_mimi, cache_dir=cache)
    n = len(clip_counter)
    rb = enc.encode(b, codec=tiny_mimi, cache_dir=cache)
    assert rb.encoded == 0 and rb.cache_hits == ra.distinct_audio and len(clip_counter) == n
    assert rb.cache_dir == str(cache.absolute())
    ca, cb = _all_codes(a), _all_codes(b)
    assert ca.keys() == cb.keys() and all(np.array_equal(ca[k], cb[k]) for k in ca)
    # another number of codebooks is another cache key
    rc = enc.encode(b, codec=tiny_mimi, cache_dir=cache, num_codebooks=2)
    assert rc.encoded == ra.distinct_audio and rc.codec_key != ra.codec_key
    assert all(np.array_equal(c, ca[k][:2]) for k, c in _all_codes(b).items())


def test_resume_after_a_kill_encodes_only_unfinished_shards(
    clean_demo_roots, tmp_path, tiny_mimi, monkeypatch
):
    reference = Workspace(tmp_path / "ref")
    download(reference, from_dir=clean_demo_roots[DS])
    enc.encode(reference, codec=tiny_mimi, cache_dir=tmp_path / "ref-cache")

    w = Workspace(tmp_path / "w")
    download(w, from_dir=clean_demo_roots[DS])
    real = enc.encode_shard
    finished: list[int] = []

    def dying(task, on_clips=None):
        if len(finished) == 2:
            raise KeyboardInterrupt("killed")
        out = real(task, on_clips)
        finished.append(len(out["encoded"]))
        return out

    monkeypatch.setattr(enc.stage, "encode_shard", dying)
    with pytest.raises(KeyboardInterrupt):
        enc.encode(w, codec=tiny_mimi, shard_seconds=4.0)
    assert w.provenance("encode", DS) is None  # a killed run never looks complete
    cache = CodeCache(w.root / "cache" / "codes")
    key = resolve_codec(tiny_mimi).codec_key(8)
    assert len(list(cache.codec_dir(key).glob("part-*.parquet"))) == 2
    # what a kill can leave behind: a temporary file, and a torn file on a filesystem without atomic rename
    (cache.codec_dir(key) / ".part-x.parquet.999.tmp").write_bytes(b"partial")
    (cache.codec_dir(key) / "part-torn.parquet").write_bytes(b"PAR1 torn")

    monkeypatch.setattr(enc.stage, "encode_shard", real)
    res = enc.encode(w, codec=tiny_mimi, shard_seconds=4.0)
    assert res.cache_hits == sum(finished) and res.encoded == res.distinct_audio - sum(finished)
    ours, theirs = _all_codes(w), _all_codes(reference)
    assert ours.keys() == theirs.keys() and all(np.array_equal(ours[k], theirs[k]) for k in ours)


def test_bad_audio_is_quarantined_with_a_reason_and_the_run_goes_on(tmp_path, tiny_mimi, monkeypatch):
    from adqa_data.testing.data import write_demo

    root = write_demo(tmp_path / "demo", n_clips=12)[DS]
    w = Workspace(tmp_path / "w")
    download(w, from_dir=root)
    items = w.items(DS).to_pylist()
    shared = items[0]["audio_path"]  # clip 0 is also used by a text-only item
    (root / shared).unlink()
    changed = items[5]["audio_path"]
    (root / changed).write_bytes((root / changed).read_bytes() + b"\0\0")
    failing_path = items[7]["audio_path"]
    bad = load_audio(root / failing_path, 24000)
    real = TransformersCodec._encode_group

    def flaky(self, waveforms):  # the codec raises on one clip's content, in any batch
        if any(len(x) == len(bad) and np.array_equal(x, bad) for x in waveforms):
            raise RuntimeError("codec exploded")
        return real(self, waveforms)

    monkeypatch.setattr(TransformersCodec, "_encode_group", flaky)
    res = enc.encode(w, codec=tiny_mimi)
    assert res.indexed + res.quarantined == res.items == len(items)
    q = w.read(QUARANTINE, DS, "encode").to_pylist()
    by_path = {json.loads(r["raw"])["audio_path"]: r for r in q}
    assert by_path[shared]["reason"] == "audio_missing"
    assert by_path[changed]["reason"] == "audio_changed"
    assert (
        by_path[failing_path]["reason"] == "encode_failed" and "exploded" in by_path[failing_path]["detail"]
    )
    assert sum(1 for r in q if json.loads(r["raw"])["audio_path"] == shared) == 2  # every item sharing it
    assert all(r["stage"] == "encode" and r["item_id"] for r in q)
    assert res.reasons == {"audio_changed": 1, "audio_missing": 2, "encode_failed": 1}
    with pytest.raises(KeyError, match="no codes"):
        load_codes(w, [items[0]["item_id"]])


def test_codes_do_not_depend_on_batch_settings(clean_demo_roots, tmp_path, tiny_mimi):
    runs = {}
    for name, seconds, size in (("one", 0.01, 1), ("big", 1000.0, 64), ("mid", 4.0, 3)):
        w = Workspace(tmp_path / name)
        download(w, from_dir=clean_demo_roots[DS])
        enc.encode(
            w, codec=tiny_mimi, batch_seconds=seconds, max_batch_size=size, decode_workers=1 + len(runs)
        )
        runs[name] = _all_codes(w)
    for k, v in runs["one"].items():
        assert np.array_equal(v, runs["big"][k]) and np.array_equal(v, runs["mid"][k])


def test_reader_api_and_datasets_view(ws, tiny_mimi):
    res = enc.encode(ws, codec=tiny_mimi, num_codebooks=4)
    codes = open_codes(ws.root, DS)
    assert codes.codec_key == res.codec_key and len(codes) == res.indexed
    ids = sorted(codes.item_ids)[:5][::-1]
    arrays = load_codes(ws.root, ids)
    assert [a.shape[0] for a in arrays] == [4] * 5
    ds = codes.to_dataset(ids)
    assert ds.column_names == ["item_id", "audio_sha256", "num_codebooks", "num_frames", "codes"]
    assert ds["item_id"] == ids
    row = ds.with_format("numpy")[0]
    np.testing.assert_array_equal(np.stack(row["codes"]), arrays[0])
    assert len(ds[1]["codes"]) == 4 and len(ds[1]["codes"][0]) == ds[1]["num_frames"]
    with pytest.raises(KeyError):
        codes.load_codes(["no-such-item"])
    enc.encode(ws, codec=tiny_mimi, num_codebooks=2)
    assert open_codes(ws.root, DS).codec_key != res.codec_key  # the latest run by default
    assert open_codes(ws.root, DS, codec_key=res.codec_key).load_codes(ids)[0].shape[0] == 4
    ws.provenance_path("encode", DS).unlink()
    with pytest.raises(UserError, match="several codecs"):
        open_codes(ws.root, DS)


def test_mimo_stage_with_the_stand_in_encoder(ws, mimo_standin, monkeypatch):
    src, weights = mimo_standin
    monkeypatch.setenv("ADQA_MIMO_AUDIO_SRC", str(src))
    sys.modules.pop("mimo_audio_tokenizer", None)
    clear_loaded()
    try:
        res = enc.encode(ws, codec=f"mimo:{weights}")
        assert res.codec_key.startswith("mimo-n8-24000-") and res.indexed == res.items
        for c in _all_codes(ws).values():
            assert c.shape[0] == 8 and c.shape[1] % 4 == 0 and c.dtype == np.uint16
            assert c[:2].max() < 1024 and c[2:].max() < 128
        durations = {it["item_id"]: it["duration_s"] for it in ws.items(DS).to_pylist()}
        for item, c in _all_codes(ws).items():
            assert abs(c.shape[1] - 25 * durations[item]) <= 4  # 25 Hz, padded to a multiple of 4
    finally:
        sys.modules.pop("mimo_audio_tokenizer", None)
        clear_loaded()


def test_unknown_device_and_missing_dataset_are_user_errors(tmp_path, tiny_mimi, ws):
    with pytest.raises(UserError, match="device"):
        enc.encode(ws, codec=tiny_mimi, device="tpu")
    with pytest.raises(UserError, match="no dataset yet"):
        enc.encode(Workspace(tmp_path / "empty"), codec=tiny_mimi)


def test_cli_encode_json(ws, tiny_mimi):
    from typer.testing import CliRunner

    from adqa_data.cli import app

    out = CliRunner().invoke(app, ["encode", "-w", str(ws.root), "--codec", tiny_mimi, "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert summary["indexed"] == summary["items"] and summary["quarantine_reasons"] == {}
    again = CliRunner().invoke(app, ["encode", "-w", str(ws.root), "--codec", tiny_mimi, "--json"])
    assert json.loads(again.stdout)["up_to_date"] is True


@pytest.mark.ray
@pytest.mark.slow
def test_ray_engine_gives_identical_codes(clean_demo_roots, tmp_path, tiny_mimi):
    pytest.importorskip("ray")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        local, remote = Workspace(tmp_path / "local"), Workspace(tmp_path / "ray")
        for w in (local, remote):
            download(w, from_dir=clean_demo_roots[DS])
        enc.encode(local, codec=tiny_mimi, shard_seconds=6.0)
        res = enc.encode(remote, codec=tiny_mimi, shard_seconds=6.0, engine="ray")
        assert res.encoded == res.distinct_audio
        a, b = _all_codes(local), _all_codes(remote)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    finally:
        ray.shutdown()


def test_a_moved_cache_is_reindexed_not_reencoded(ws, tiny_mimi, tmp_path):
    """The index points at cache files; after moving the cache a rerun re-indexes from cache hits."""
    res = enc.encode(ws, codec=tiny_mimi, cache_dir=tmp_path / "c1")
    shutil.move(tmp_path / "c1", tmp_path / "c2")
    again = enc.encode(ws, codec=tiny_mimi, cache_dir=tmp_path / "c2")
    assert not again.up_to_date and again.encoded == 0 and again.cache_hits == res.distinct_audio
    assert len(_all_codes(ws)) == res.indexed
