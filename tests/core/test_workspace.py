"""The workspace's guarantees, tested directly: a shard appears whole or not at all (also when the
writer raises or is killed mid-write), StageRun keeps its own finished shards and clears another run's,
one run of a stage per dataset at a time, provenance records round-trip, and up-to-date checks."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pyarrow as pa
import pytest

from adqa_data.core import tables
from adqa_data.core import workspace as wsmod
from adqa_data.core.errors import UserError
from adqa_data.core.schema import PROMPTS
from adqa_data.core.workspace import (
    RUN_FILE,
    DatasetRecord,
    StageRun,
    Workspace,
    part_name,
    read_table,
    shard_paths,
    stable_hash,
)

CONFIG = {"n": 6, "weights": {"sound": 1, "music": 2}}
INPUTS = {"items": "f00d", "item_scores": "beef"}


def _prompts(first: int, n: int = 2) -> pa.Table:
    return PROMPTS.from_pylist(
        [
            {"dataset": "d", "item_id": f"i{k}", "question_type": "sound", "draw": k}
            for k in range(first, first + n)
        ]
    )


def _run(ws: Workspace, config=CONFIG, inputs=INPUTS, **kw) -> StageRun:
    return StageRun(ws, "sample", "d", config, inputs, **kw)


def _litter(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.endswith(".tmp"))


def _python(script: str, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args], text=True, **kw)


# ------------------------------------------------------------------------------------------ atomic shards
def _half_then(exc_or_kill):
    """A stand-in for pyarrow's write_table that writes half a file, then fails."""

    def write_table(table, where, **kw):
        where.write(b"PAR1 half a parquet file")
        where.flush()
        raise exc_or_kill

    return write_table


def test_a_writer_that_raises_leaves_no_shard_and_no_temporary_file(tmp_path, monkeypatch):
    d = tmp_path / "prompts" / "d"
    monkeypatch.setattr(tables.pq, "write_table", _half_then(RuntimeError("disk on fire")))
    with pytest.raises(RuntimeError, match="disk on fire"):
        StageRun.write_shard(d, 0, _prompts(0), PROMPTS)
    assert list(d.iterdir()) == []  # no partial part-00000.parquet, no .tmp
    assert not StageRun.shard_done(d, 0)


def test_a_failed_rewrite_keeps_the_previous_shard_whole(tmp_path, monkeypatch):
    d = tmp_path / "prompts" / "d"
    StageRun.write_shard(d, 0, _prompts(0), PROMPTS)
    before = (d / part_name(0)).read_bytes()
    monkeypatch.setattr(tables.pq, "write_table", _half_then(OSError("no space left")))
    with pytest.raises(OSError, match="no space"):
        StageRun.write_shard(d, 0, _prompts(10), PROMPTS)
    assert (d / part_name(0)).read_bytes() == before
    assert _litter(d) == []
    assert read_table(d, PROMPTS).column("item_id").to_pylist() == ["i0", "i1"]


KILLED_WRITER = """
    import os, signal, sys
    import pyarrow.parquet as pq
    from adqa_data.core.schema import PROMPTS
    from adqa_data.core.workspace import StageRun, Workspace

    def half_then_die(table, where, **kw):
        where.write(b"PAR1 half a parquet file")
        where.flush()
        os.fsync(where.fileno())
        os.kill(os.getpid(), signal.SIGKILL)

    rows = lambda a: PROMPTS.from_pylist([{"dataset": "d", "item_id": f"i{k}", "draw": k} for k in (a, a + 1)])
    with StageRun(Workspace(sys.argv[1]), "sample", "d", {config}, {inputs}) as run:
        out = run.output("prompts")
        run.write_shard(out, 0, rows(0), PROMPTS)
        pq.write_table = half_then_die
        run.write_shard(out, 1, rows(2), PROMPTS)
"""


def test_a_killed_writer_leaves_no_partial_shard_and_the_next_run_clears_its_litter(tmp_path):
    ws = Workspace(tmp_path / "w")
    script = KILLED_WRITER.replace("{config}", repr(CONFIG)).replace("{inputs}", repr(INPUTS))
    proc = _python(script, str(ws.root))
    assert proc.wait(timeout=120) == -signal.SIGKILL
    d = ws.table_dir("prompts", "d")
    assert [p.name for p in shard_paths(d)] == [part_name(0)]  # the half-written shard is not visible
    (tmp,) = _litter(d)  # the crash really happened mid-write: its temporary file is still there
    assert tmp.startswith(f".{part_name(1)}.") and (d / tmp).read_bytes().startswith(b"PAR1 half")
    assert read_table(d, PROMPTS).column("item_id").to_pylist() == ["i0", "i1"]  # readers never see it

    first = (d / part_name(0)).read_bytes()
    with _run(ws) as run:  # same config and inputs: resumes (and the killed run's lock is free)
        assert not run.up_to_date
        out = run.output("prompts")
        assert _litter(out) == []
        assert run.shard_done(out, 0) and not run.shard_done(out, 1)
        assert (out / part_name(0)).read_bytes() == first
        run.write_shard(out, 1, _prompts(2), PROMPTS)
        run.finish({"rows": 4})
    assert read_table(d, PROMPTS).column("item_id").to_pylist() == ["i0", "i1", "i2", "i3"]
    assert _run(ws).up_to_date


# ------------------------------------------------------------------------------------------ StageRun
def test_the_run_key_depends_on_stage_config_and_inputs_only(tmp_path):
    ws = Workspace(tmp_path / "w")
    key = _run(ws).key
    reordered = {"weights": {"music": 2, "sound": 1}, "n": 6}
    assert _run(ws, config=reordered, inputs=dict(reversed(INPUTS.items()))).key == key
    assert _run(ws, force=True).key == key and _run(ws, unit="other").key == key
    assert _run(ws, config={**CONFIG, "n": 7}).key != key
    assert _run(ws, inputs={**INPUTS, "items": "f00e"}).key != key
    assert StageRun(ws, "filter", "d", CONFIG, INPUTS).key != key
    assert len(key) == 24


def _ids(d: Path) -> list[str]:
    return read_table(d, PROMPTS).column("item_id").to_pylist()


def _hidden_leftovers(ws: Workspace) -> list[str]:
    """Anything left in the staging and trash folders (empty folders do not count)."""
    return sorted(
        str(p.relative_to(ws.root))
        for name in (".staging", ".trash")
        for p in (ws.root / "prompts" / name).rglob("*")
        if p.is_file()
    )


def test_resume_keeps_this_runs_finished_shards(tmp_path):
    ws = Workspace(tmp_path / "w")
    with pytest.raises(KeyboardInterrupt), _run(ws) as run:
        out = run.output("prompts")
        assert out == ws.table_dir("prompts", "d")  # an empty table directory is written in place
        assert json.loads((out / RUN_FILE).read_text()) == {"stage": "sample", "key": run.key}
        run.write_shard(out, 0, _prompts(0), PROMPTS)
        run.write_shard(out, 1, _prompts(2), PROMPTS)
        raise KeyboardInterrupt  # killed before shard 2 and before finish()
    kept = {p.name: p.stat().st_mtime_ns for p in shard_paths(out)}

    with _run(ws) as run:  # the same run again: shards 0 and 1 are kept as they are
        assert not run.up_to_date
        assert run.output("prompts") == out
        assert {p.name: p.stat().st_mtime_ns for p in shard_paths(out)} == kept
        assert [run.shard_done(out, i) for i in range(3)] == [True, True, False]
        run.write_shard(out, 2, _prompts(4), PROMPTS)
        run.finish({"rows": 6})
    assert _ids(out) == [f"i{k}" for k in range(6)]
    assert _run(ws).up_to_date


def test_another_run_replaces_a_complete_output_only_when_it_is_complete(tmp_path):
    ws = Workspace(tmp_path / "w")
    final = ws.table_dir("prompts", "d")
    with _run(ws) as run:
        run.write_shard(run.output("prompts"), 0, _prompts(0, 4), PROMPTS)
        run.finish({"rows": 4})
    old_record = ws.provenance("sample", "d")
    other_config = {**CONFIG, "n": 2}

    with pytest.raises(KeyboardInterrupt), _run(ws, config=other_config) as other:
        assert not other.up_to_date
        staged = other.output("prompts")
        assert staged != final and shard_paths(staged) == []  # another run's shards are not reused
        other.write_shard(staged, 0, _prompts(10, 1), PROMPTS)
        raise KeyboardInterrupt  # killed half-way
    # the complete output and its record are untouched: the old run is still up to date
    assert _ids(final) == ["i0", "i1", "i2", "i3"] and ws.provenance("sample", "d") == old_record
    assert _run(ws).up_to_date

    with _run(ws, config=other_config) as other:  # resumes its own staged shards
        assert other.output("prompts") == staged and other.shard_done(staged, 0)
        other.write_shard(staged, 1, _prompts(11, 1), PROMPTS)
        assert _ids(final) == ["i0", "i1", "i2", "i3"]  # still the old output until finish
        other.finish({"rows": 2})
    assert _ids(final) == ["i10", "i11"]
    assert json.loads((final / RUN_FILE).read_text())["key"] == other.key
    assert _run(ws, config=other_config).up_to_date and not _run(ws).up_to_date
    assert _hidden_leftovers(ws) == []


def test_force_rewrites_an_up_to_date_run_and_swaps_it_in_at_the_end(tmp_path):
    ws = Workspace(tmp_path / "w")
    final = ws.table_dir("prompts", "d")
    with _run(ws) as run:
        run.write_shard(run.output("prompts"), 0, _prompts(0), PROMPTS)
        run.finish({})
    with _run(ws, force=True) as forced:
        assert not forced.up_to_date
        out = forced.output("prompts")
        assert shard_paths(out) == [] and _ids(final) == ["i0", "i1"]
        forced.write_shard(out, 0, _prompts(5), PROMPTS)
        forced.finish({})
    assert _ids(final) == ["i5", "i6"] and _run(ws).up_to_date
    assert _hidden_leftovers(ws) == []


def test_outputs_of_one_run_are_kept_or_replaced_per_table_directory(tmp_path):
    ws = Workspace(tmp_path / "w")
    with _run(ws) as run:
        a = run.output("prompts", "set-a")
        assert a == ws.root / "prompts" / "d" / "set-a"
        assert run.output("prompts", "set-a") == a  # asked twice: the same directory
        run.write_shard(a, 0, _prompts(0), PROMPTS)
        run.finish({})
    with _run(ws, config={"n": 1}) as other:  # another run replaces only the directories it writes
        b = other.output("prompts", "set-b")
        other.write_shard(b, 0, _prompts(7), PROMPTS)
        other.finish({})
    assert _ids(a) == ["i0", "i1"] and _ids(b) == ["i7", "i8"]


def test_a_run_writing_in_place_drops_the_record_so_a_crash_never_looks_complete(tmp_path):
    ws = Workspace(tmp_path / "w")
    with _run(ws) as run:
        run.finish({})  # complete, but its output directory is empty (or was removed by hand)
    assert _run(ws).up_to_date
    with pytest.raises(RuntimeError), _run(ws, config={"n": 1}) as rerun:
        assert rerun.output("prompts") == ws.table_dir("prompts", "d")  # in place: nothing to keep
        raise RuntimeError("crash while writing")
    assert ws.provenance("sample", "d") is None
    assert not _run(ws).up_to_date and not _run(ws, config={"n": 1}).up_to_date


def test_a_named_set_made_with_other_settings_is_refused_without_force(tmp_path):
    ws = Workspace(tmp_path / "w")
    with _run(ws, unit="set-a") as run:
        run.finish({})
    with pytest.raises(UserError, match="set 'set-a' of dataset 'd' is complete and was made with other"):
        with _run(ws, unit="set-a", config={"n": 1}):
            pass
    with _run(ws, unit="set-a", inputs={"items": "new data"}) as rerun:  # new inputs refresh a set
        assert not rerun.up_to_date
    with _run(ws, unit="set-a", config={"n": 1}, force=True) as forced:
        assert not forced.up_to_date
    with _run(ws, unit="set-a"):  # the refusal released the lock
        pass


def test_only_a_complete_record_with_the_same_key_is_up_to_date(tmp_path):
    ws = Workspace(tmp_path / "w")
    run = _run(ws)
    assert not run.up_to_date  # no record at all
    record = run.finish({})
    assert run.up_to_date
    path = ws.provenance_path("sample", "d")
    path.write_text(json.dumps({**record, "status": "running"}))
    assert not run.up_to_date
    path.write_text(json.dumps({**record, "key": "0" * 24}))
    assert not run.up_to_date


# ------------------------------------------------------------------------------------------ provenance
def test_provenance_records_round_trip(tmp_path):
    ws = Workspace(tmp_path / "w")
    run = StageRun(ws, "encode", "d", CONFIG, INPUTS, extra_versions=("pyarrow", "no-such-package"))
    summary = {"items": 3, "seconds_audio": 1.5, "by_type": {"sound": 2, "music": 1}, "failed": []}
    record = run.finish(summary)
    assert ws.provenance_path("encode", "d") == ws.root / "provenance" / "encode" / "d.json"
    assert ws.provenance("encode", "d") == record  # what finish() returns is what a reader gets back
    assert record["stage"] == "encode" and record["dataset"] == "d" and record["unit"] is None
    assert record["key"] == run.key and record["status"] == "complete"
    assert record["config"] == CONFIG and record["inputs"] == INPUTS and record["summary"] == summary
    assert record["config_hash"] == stable_hash(CONFIG)
    assert {"python", "adqa-data", "pyarrow"} <= set(record["versions"])
    assert "no-such-package" not in record["versions"]  # an absent package is left out, not an error
    assert record["started"] <= record["finished"]


def test_units_keep_separate_records(tmp_path):
    ws = Workspace(tmp_path / "w")
    _run(ws, unit="set-a").finish({"rows": 1})
    assert ws.provenance_path("sample", "d", "set-a").name == "d.set-a.json"
    assert ws.provenance("sample", "d", "set-a")["unit"] == "set-a"
    assert _run(ws, unit="set-a").up_to_date
    assert not _run(ws, unit="set-b").up_to_date and not _run(ws).up_to_date
    assert ws.provenance("sample", "d") is None


def test_values_json_cannot_hold_are_recorded_as_text(tmp_path):
    ws = Workspace(tmp_path / "w")
    record = _run(ws).finish({"root": tmp_path})
    assert ws.provenance("sample", "d")["summary"] == {"root": str(tmp_path)}
    assert record["summary"] == {"root": tmp_path}


# ------------------------------------------------------------------------------------------ locks
def test_a_second_run_of_the_same_stage_and_dataset_is_refused_not_queued(tmp_path):
    ws = Workspace(tmp_path / "w")
    with _run(ws):
        with pytest.raises(UserError, match="another 'sample' run is using dataset 'd'") as err:
            with _run(ws, config={"n": 1}):
                pass
        assert err.value.where == str(ws.root / "locks" / "sample.d.lock")
        # other datasets, units and stages have their own locks
        with StageRun(ws, "sample", "e", CONFIG, INPUTS), _run(ws, unit="set-a"):
            with StageRun(ws, "filter", "d", CONFIG, INPUTS):
                pass
    with _run(ws):  # released on exit
        pass


def test_the_lock_is_released_when_the_run_raises(tmp_path):
    ws = Workspace(tmp_path / "w")
    with pytest.raises(ValueError), _run(ws):
        raise ValueError("boom")
    with _run(ws):
        pass


HOLDER = """
    import sys
    from adqa_data.core.workspace import Workspace
    with Workspace(sys.argv[1]).lock("sample", "d"):
        print("locked", flush=True)
        sys.stdin.read()  # hold the lock until stdin closes or the process is killed
"""


def test_a_lock_held_by_another_process_is_refused_and_freed_when_it_is_killed(tmp_path):
    ws = Workspace(tmp_path / "w")
    holder = _python(HOLDER, str(ws.root), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UserError, match="another 'sample' run"):
            with _run(ws):
                pass
    finally:
        holder.kill()
        holder.wait(timeout=60)
    with _run(ws):  # the OS released the killed holder's lock
        pass


def test_registering_datasets_waits_for_the_registry_lock(tmp_path):
    ws = Workspace(tmp_path / "w")

    def rec(name: str) -> DatasetRecord:
        return DatasetRecord(name, str(tmp_path / name), "generic", "train", "dir:test")

    waiter = threading.Thread(target=lambda: Workspace(ws.root).register_dataset(rec("b")))
    with ws._registry_lock():
        waiter.start()
        waiter.join(timeout=0.5)
        assert waiter.is_alive()  # it waits for the lock instead of writing beside us
        ws_view = {k: v.__dict__ for k, v in ws.datasets().items()}
        wsmod.write_json_atomic(ws.root / "datasets.json", {**ws_view, "a": rec("a").__dict__})
    waiter.join(timeout=60)
    assert not waiter.is_alive()
    assert sorted(ws.datasets()) == ["a", "b"]  # neither write was lost


# ------------------------------------------------------------------------------------------ datasets
def test_dataset_lookup_names_what_exists(tmp_path):
    ws = Workspace(tmp_path / "w")
    with pytest.raises(UserError, match="no dataset yet"):
        ws.dataset(None)
    ws.register_dataset(DatasetRecord("dev", str(tmp_path / "dev"), "dcase2026", "dev", "dir:x"))
    assert ws.dataset(None).name == "dev"  # the only one
    assert ws.dataset("dev").resolve("a/b.wav") == tmp_path / "dev" / "a" / "b.wav"
    ws.register_dataset(DatasetRecord("train", str(tmp_path / "t"), "audiomcq", "train", "hub:x@abc", "abc"))
    with pytest.raises(UserError, match="several datasets: dev, train"):
        ws.dataset(None)
    with pytest.raises(UserError, match="use one of: dev, train"):
        ws.dataset("eval")
    assert Workspace(ws.root).datasets()["train"] == DatasetRecord(
        "train", str(tmp_path / "t"), "audiomcq", "train", "hub:x@abc", "abc"
    )


def test_named_sets_are_listed_when_complete_and_picked_with_one_clear_error(tmp_path):
    ws = Workspace(tmp_path / "w")
    pick = lambda name: ws.pick_set("sample", "prompts", "d", name, "prompt set", "--prompts", "'sample'")  # noqa: E731
    with pytest.raises(UserError, match="has no prompt set yet"):
        pick(None)
    for name, finish in (("a", True), ("b", False)):
        run = _run(ws, unit=name)
        with run:
            run.write_shard(run.output("prompts", name), 0, _prompts(0), PROMPTS)
            if finish:
                run.finish({})
    assert ws.finished_sets("sample", "prompts", "d") == ["a"]  # "b" never finished
    assert pick(None) == "a" and pick("a") == "a"
    with pytest.raises(UserError, match="no finished prompt set 'b'"):
        pick("b")
    with pytest.raises(UserError):
        pick("../a")  # a set name is a path component
    run = _run(ws, unit="c")
    with run:
        run.write_shard(run.output("prompts", "c"), 0, _prompts(0), PROMPTS)
        run.finish({})
    with pytest.raises(UserError, match="several prompt sets: a, c"):
        pick(None)
