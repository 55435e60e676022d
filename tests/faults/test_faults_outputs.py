"""Fault injection, second round (issue 17): outputs land only where they belong, and files are checked
against the records of the runs that wrote them.

One test (or a parametrized few) per class of fault: a submission written over a file it does not own, a
write that follows a link out of the workspace, a rerun or a reader that trusts a record whose files were
deleted, copied or edited (workspace tables and the code cache alike), a provenance record of the wrong
shape, an output path naming a folder that is gone, terminal escapes and unbounded reads in
`validate-submission`, a read-only workspace, and quarantine details that differ between runs. Stages run
on the demo data, the planted workspace and the model-free scripted backend; the code-cache test builds a
tiny random codec.
"""

# ruff: noqa: F811  (the fixtures `env` and `template` are imported from test_faults and requested by name)
from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.faults import N_PROMPTS, assert_clean_error, run_cli, scripted
from support.planted_workspace import DS as PLANTED
from support.planted_workspace import build_workspace

from adqa_data.core.errors import UserError
from adqa_data.core.schema import QUARANTINE, ROLLOUTS
from adqa_data.core.workspace import Workspace
from adqa_data.stages.rollout import rollout

DS = "audiomcq"


@pytest.fixture(scope="module")
def planted_template(tmp_path_factory) -> Path:
    return build_workspace(tmp_path_factory.mktemp("planted")).root.parent


@pytest.fixture
def planted(planted_template, tmp_path) -> Workspace:
    """A private copy of the planted workspace (items, prediction set `e1`, rollout set `r1`, ...)."""
    shutil.copytree(planted_template, tmp_path / "p", symlinks=True)
    return Workspace(tmp_path / "p" / "w")


def cli(*args: object, timeout: int = 120, memory_mb: int | None = None) -> subprocess.CompletedProcess:
    """`python -m adqa_data ARGS` in a child process (for reads that could block or grow without bound)."""

    def limit() -> None:
        if memory_mb:
            resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))

    return subprocess.run(
        [sys.executable, "-m", "adqa_data", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limit,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


# ---------------------------------------------------------------- 1. submit --out overwrites any file
def test_submit_never_writes_over_a_workspace_table_not_even_through_a_link_or_with_force(planted, tmp_path):
    shard = planted.table_dir("items", PLANTED) / "part-00000.parquet"
    before = shard.read_bytes()
    link = tmp_path / "looks-harmless.csv"
    link.symlink_to(shard)
    for target in (shard, planted.root / "notes.csv", link):
        for force in ((), ("--force",)):
            code, _, err = run_cli("submit", "-w", planted.root, "--out", target, *force)
            assert_clean_error(code, err, "workspace")
    assert shard.read_bytes() == before and not (planted.root / "notes.csv").exists()
    assert planted.items(PLANTED).num_rows == 12


def test_submit_replaces_only_a_submission_and_anything_else_only_with_force(planted, tmp_path):
    paper = tmp_path / "paper.csv"
    paper.write_text("results we must not lose\n1,2,3\n")
    code, _, err = run_cli("submit", "-w", planted.root, "--out", paper)
    assert_clean_error(code, err, "not a submission", "--force")
    assert paper.read_text() == "results we must not lose\n1,2,3\n"
    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert_clean_error(
        *run_cli("submit", "-w", planted.root, "--out", folder, "--force")[::2], "regular file"
    )
    assert run_cli("submit", "-w", planted.root, "--out", paper, "--force")[0] == 0
    assert paper.read_text().startswith("question,answer\n")
    assert run_cli("submit", "-w", planted.root, "--out", paper)[0] == 0  # a submission: replaced freely
    assert run_cli("submit", "-w", planted.root)[0] == 0  # the default, under submissions/
    assert (planted.root / "submissions" / PLANTED / "e1.csv").is_file()


# ---------------------------------------------------------------- 2. writes follow links out of the workspace
def test_stats_replaces_a_linked_plot_and_never_writes_through_it(planted, tmp_path):
    assert run_cli("stats", "-w", planted.root)[0] == 0
    folder = planted.root / "stats" / PLANTED
    png = sorted(folder.glob("*.png"))[0]
    secret = tmp_path / "secret.txt"
    secret.write_text("not a plot")
    png.unlink()
    png.symlink_to(secret)
    assert run_cli("stats", "-w", planted.root)[0] == 0
    assert secret.read_text() == "not a plot"
    assert not png.is_symlink() and png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("linked", ["stats", "provenance"])
def test_a_workspace_folder_that_links_out_is_never_written_into(env, planted, tmp_path, linked):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    if linked == "stats":  # stats still prints its tables; the plots are refused with a warning
        (planted.root / "stats").mkdir(exist_ok=True)
        (planted.root / "stats" / PLANTED).symlink_to(outside, target_is_directory=True)
        code, out, err = run_cli("stats", "-w", planted.root)
        assert code == 0 and "items" in out and "warning" in err, err
    else:  # a stage's record folder: refused with a one-line error
        ws, _ = env
        (ws.root / "provenance" / "sample").rename(tmp_path / "moved")
        (ws.root / "provenance" / "sample").symlink_to(outside, target_is_directory=True)
        code, _, err = run_cli("sample", "--n", 2, "--split", "all", "-w", ws.root, "--name", "new")
        assert_clean_error(code, err, "refusing to write")
    assert list(outside.iterdir()) == []


# ---------------------------------------------------------------- 3. "up to date" trusts the record, not the files
def _edit_rewards(path: Path) -> None:
    """Change one reward and write the shard back: still valid Parquet, same schema and metadata."""
    t = pq.read_table(path)
    col = t.column("reward").to_pylist()
    col[0] = 0.5 if col[0] != 0.5 else 0.25
    field = t.schema.field("reward")
    t = t.set_column(t.column_names.index("reward"), field, pa.array(col, field.type))
    pq.write_table(t, path)


@pytest.mark.parametrize("damage", ["delete", "copy", "edit"])
def test_a_rollout_set_whose_shards_changed_is_refused_by_readers_and_redone_by_a_rerun(env, damage):
    from adqa_data.stages.rollout.contract import load_rollout_groups

    ws, _ = env
    first = rollout(ws, scripted(), name="r")
    out = ws.table_dir(ROLLOUTS.name, DS, "r")
    parts = sorted(out.glob("part-*.parquet"))
    assert len(parts) == 2 and first.rows == 4 * N_PROMPTS
    if damage == "delete":
        parts[1].unlink()
    elif damage == "copy":
        shutil.copy(parts[0], out / "part-00002.parquet")
    else:
        _edit_rewards(parts[0])
    with pytest.raises(UserError, match="does not match the record"):
        load_rollout_groups(ws, DS, ["r"])  # what `train` reads
    again = rollout(ws, scripted(), name="r")
    assert not again.up_to_date and again.rows == 4 * N_PROMPTS
    groups, _ = load_rollout_groups(ws, DS, ["r"])
    assert len(groups) == N_PROMPTS and sum(len(g.completions) for g in groups) == 4 * N_PROMPTS
    assert rollout(ws, scripted(), name="r").up_to_date


def test_an_edited_code_cache_entry_is_refused_and_encode_force_recomputes_it(env, tmp_path):
    from adqa_data.codecs.cache import open_codes
    from adqa_data.stages.encode import encode
    from adqa_data.testing.codecs import build_tiny_codec

    ws, _ = env
    codec = str(build_tiny_codec("mimi", tmp_path / "mimi"))
    encode(ws, codec=codec)
    ids = open_codes(ws, DS).item_ids[:3]
    good = open_codes(ws, DS).load_codes(ids)
    part = sorted((ws.root / "cache" / "codes").rglob("part-*.parquet"))[0]
    t = pq.read_table(part)
    codes = t.column("codes").to_pylist()
    codes = [[(v + 1) % 2048 for v in c] if c is not None else None for c in codes]
    field = t.schema.field("codes")
    pq.write_table(t.set_column(t.column_names.index("codes"), field, pa.array(codes, field.type)), part)
    with pytest.raises(UserError, match="do not match their key"):
        open_codes(ws, DS).load_codes(ids)
    res = encode(ws, codec=codec, force=True)
    assert res.cache_hits == 0 and res.encoded == res.distinct_audio
    for a, b in zip(open_codes(ws, DS).load_codes(ids), good):
        assert (a == b).all()


# ---------------------------------------------------------------- 4. a provenance record of the wrong shape
@pytest.mark.parametrize(
    "summary", [None, {"items": "lots", "quarantined": -5, "input_rows": 3}, {"reasons": ["x"]}]
)
def test_an_invalid_provenance_record_is_absent_with_a_warning_and_never_echoed(env, summary):
    ws, root = env
    path = ws.provenance_path("download", DS)
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "summary": summary}))
    code, out, err = run_cli("info", "-w", ws.root, "--json")
    assert code == 0 and "Traceback" not in err, err
    assert json.loads(out)["datasets"][DS]["input_rows"] is None  # nothing taken from the bad record
    code, out, err = run_cli("download", "--from-dir", root, "-w", ws.root, "--workers", 1)
    assert code == 0 and "warning" in err and "not valid" in err, err
    assert "lots" not in out and "-5" not in out and "up to date" not in err
    assert isinstance(json.loads(path.read_text())["summary"]["items"], int)  # redone and recorded


# ---------------------------------------------------------------- 5. --json names a folder that is gone
def test_a_replaced_set_reports_its_final_folder(env):
    ws, _ = env
    rollout(ws, scripted(), name="r")
    res = rollout(ws, scripted(temperature=0.7), name="r", force=True)  # written aside, then swapped in
    final = ws.table_dir(ROLLOUTS.name, DS, "r")
    assert Path(res.out_dir) == final and final.is_dir()


# ---------------------------------------------------------------- 6. validate-submission: terminal, FIFO, devices
def test_validate_submission_escapes_control_characters_in_what_it_prints(planted, tmp_path):
    f = tmp_path / "s.csv"
    f.write_bytes(b"question,answer\n\x1b]0;owned\x07,x\n\x1b[2J\xe2\x80\xaeid,y\n")
    code, out, _ = run_cli("validate-submission", f, "-w", planted.root)
    assert code == 1 and "extra_id" in out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "\\x1b]0;owned\\x07" in out


def test_validate_submission_reads_regular_files_only_and_within_a_bound(planted, tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    for target in (fifo, "/dev/zero", tmp_path):
        proc = cli("validate-submission", target, "-w", planted.root, timeout=60, memory_mb=2048)
        assert_clean_error(proc.returncode, proc.stderr, "not a regular file")
    big = tmp_path / "big.csv"
    with open(big, "wb") as fh:
        fh.truncate((64 << 20) + 1)  # sparse: over the bound without using the disk
    proc = cli("validate-submission", big, "-w", planted.root, timeout=60, memory_mb=2048)
    assert_clean_error(proc.returncode, proc.stderr, "larger than")


# ---------------------------------------------------------------- 7. a read-only workspace
def test_stats_prints_its_tables_when_the_plots_cannot_be_written(planted):
    (planted.root / "stats").write_text("a file where the plot folder should be")
    code, out, err = run_cli("stats", "-w", planted.root)
    assert code == 0 and "warning" in err and "plots not written" in err, err
    assert "items" in out and "Traceback" not in err


def test_work_a_read_only_workspace_cannot_do_exits_1_as_the_readme_says(env, monkeypatch):
    import errno

    from filelock import FileLock

    ws, _ = env

    def read_only(self, *a, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(self.lock_file))

    monkeypatch.setattr(FileLock, "acquire", read_only)
    code, _, err = run_cli("sample", "--n", 2, "--split", "all", "-w", ws.root, "--name", "more")
    assert_clean_error(code, err, "read-only", exit_code=1)


# ---------------------------------------------------------------- 8. quarantine details that differ per run
def test_quarantine_details_are_the_same_on_every_run(demo_roots, tmp_path):
    details = []
    for name in ("a", "b"):  # two workspaces, two processes' worth of objects
        ws = Workspace(tmp_path / name)
        assert run_cli("download", "--from-dir", demo_roots[DS], "-w", ws.root, "--workers", 1)[0] == 0
        rows = ws.read(QUARANTINE, DS, "download").to_pylist()
        assert any(r["reason"] == "audio_unreadable" for r in rows)
        for r in rows:
            assert " at 0x" not in (r["detail"] or ""), r["detail"]
        details.append(sorted((r["row_index"], r["reason"], r["detail"]) for r in rows))
    assert details[0] == details[1]
