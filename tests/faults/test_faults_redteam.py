"""Fault injection, second red-team round: the probes of a fresh hostile or careless user that failed.

Each test is one probe through the command line as a user types it (in-process, `run_cli`): a link
where the workspace keeps its locks or its default output folders, an output folder named inside the
workspace's own tables, an export folder the user added files to, a shard edited without changing its
size, a checkpoint state with an impossible step, a negative seed. The data is the demo data, made in a
temporary folder; the rollout set comes from the model-free scripted backend, so the module is fast.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.faults import _copy_run, _trainer, assert_clean_error, run_cli

from adqa_data.core.errors import UserError
from adqa_data.core.workspace import Workspace
from adqa_data.stages.download import download
from adqa_data.stages.rollout import load_config, rollout
from adqa_data.stages.sample import sample

DS = "audiomcq"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """Demo data downloaded, a prompt set and a scripted rollout set, once; `ws` copies it per test."""
    from adqa_data.testing.data import write_demo

    base = tmp_path_factory.mktemp("redteam")
    roots = write_demo(base / "data", n_clips=6)
    ws = Workspace(base / "w")
    download(ws, from_dir=roots["audiomcq"], workers=1)
    sample(ws, n=4, split="all", seed=0)
    rollout(ws, config=load_config(None, backend="scripted", shard_size=2), name="r")
    return base


@pytest.fixture
def ws(template, tmp_path, monkeypatch) -> Path:
    """A private copy of the template workspace (the registry's dataset roots point at the copy)."""
    shutil.copytree(template, tmp_path / "t", symlinks=True)
    root = tmp_path / "t" / "w"
    reg = json.loads((root / "datasets.json").read_text())
    for rec in reg.values():
        rec["root"] = str(tmp_path / "t" / "data" / Path(rec["root"]).name)
    (root / "datasets.json").write_text(json.dumps(reg))
    monkeypatch.chdir(tmp_path)
    return root


def _outside(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return folder


# ------------------------------------------------------------------ links where the workspace writes
def test_a_locks_folder_linked_out_of_the_workspace_is_refused(ws, tmp_path):
    outside = _outside(tmp_path, "elsewhere")
    shutil.rmtree(ws / "locks")
    (ws / "locks").symlink_to(outside)
    code, _, err = run_cli("sample", "-w", ws, "-d", DS, "--split", "all", "--n", 3)
    assert_clean_error(code, err, "locks")
    assert list(outside.iterdir()) == []


def test_a_lock_file_that_is_a_link_is_replaced_never_followed(ws, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    lock = ws / "locks" / f"sample.{DS}.all-3-seed0.lock"
    lock.parent.mkdir(exist_ok=True)
    lock.symlink_to(victim)
    code, _, err = run_cli("sample", "-w", ws, "-d", DS, "--split", "all", "--n", 3)
    assert code == 0, err
    assert victim.read_text() == "precious"
    assert not lock.is_symlink()


def test_a_default_submissions_folder_linked_out_of_the_workspace_is_refused(ws, tmp_path):
    outside = _outside(tmp_path, "elsewhere")
    assert run_cli("download", "--from-dir", tmp_path / "t" / "data" / "dcase2026-eval", "-w", ws)[0] == 0
    assert run_cli("eval", "-w", ws, "-d", "dcase2026-eval", "--backend", "scripted")[0] == 0
    (ws / "submissions").symlink_to(outside)
    code, _, err = run_cli("submit", "-w", ws, "-d", "dcase2026-eval")
    assert_clean_error(code, err, "outside")
    assert list(outside.iterdir()) == []


def test_a_default_report_folder_linked_out_of_the_workspace_is_refused(ws, tmp_path):
    pytest.importorskip("plotly")
    outside = _outside(tmp_path, "elsewhere")
    (ws / "report").symlink_to(outside)
    code, _, err = run_cli("report", "-w", ws, "--audio", "none")
    assert_clean_error(code, err, "outside")
    assert list(outside.iterdir()) == []


# ---------------------------------------------------------- --out inside the workspace's own tables
@pytest.mark.parametrize(
    "command",
    [
        ("stats", "--out", "{ws}/items/audiomcq"),
        ("stats", "--out", "{ws}"),
        ("export", "--table", "items", "--out", "{ws}/rollouts/audiomcq/new"),
        ("export", "--table", "items", "--out", "{ws}/items/new"),
        ("report", "--audio", "none", "--out", "{ws}/rollouts/audiomcq/new"),
    ],
)
def test_an_out_folder_inside_the_workspace_tables_is_refused(ws, command):
    if command[0] == "report":
        pytest.importorskip("plotly")
    before = sorted(p.relative_to(ws) for p in ws.rglob("*") if "locks" not in p.parts)
    args = [a.format(ws=ws) for a in command]
    code, _, err = run_cli(args[0], "-w", ws, "-d", DS, *args[1:])
    assert_clean_error(code, err, "inside workspace")
    after = sorted(p.relative_to(ws) for p in ws.rglob("*") if "locks" not in p.parts)
    assert after == before


# ------------------------------------------------------------------- deletion of what it did not make
def test_an_export_folder_holding_files_the_user_added_is_not_replaced(ws, tmp_path):
    out = tmp_path / "exp"
    assert run_cli("export", "-w", ws, "-d", DS, "--table", "items", "--out", out)[0] == 0
    (out / "notes.md").write_text("my notes")
    (out / "figures").mkdir()
    (out / "figures" / "f.png").write_bytes(b"png")
    code, _, err = run_cli("export", "-w", ws, "-d", DS, "--table", "items", "--out", out)
    assert_clean_error(code, err, "notes.md")
    assert (out / "notes.md").read_text() == "my notes"
    assert (out / "figures" / "f.png").exists()
    # a marker copied into a project folder does not make the project an export
    project = _outside(tmp_path, "project")
    (project / "main.py").write_text("print(1)")
    shutil.copy(out / ".adqa-export.json", project)
    code, _, err = run_cli("export", "-w", ws, "-d", DS, "--table", "items", "--out", project)
    assert_clean_error(code, err, "main.py")
    assert (project / "main.py").read_text() == "print(1)"
    # the export's own files, unchanged, are still replaced
    (out / "notes.md").unlink()
    shutil.rmtree(out / "figures")
    assert run_cli("export", "-w", ws, "-d", DS, "--table", "items", "--out", out)[0] == 0


# ---------------------------------------------------------------- files against their records
def test_a_shard_edited_without_changing_its_size_is_not_up_to_date(ws):
    shard = ws / "rollouts" / DS / "r" / "part-00000.parquet"
    data = bytearray(shard.read_bytes())
    at = data.rfind(b"parquet-cpp-arrow")
    assert at > 0
    data[at] = ord("P")  # still valid Parquet, same size, other bytes
    shard.write_bytes(bytes(data))
    code, _, err = run_cli(
        "rollout", "-w", ws, "-d", DS, "--backend", "scripted", "--shard-size", 2, "--name", "r"
    )
    assert code == 0, err
    assert "does not match" in err and "up to date" not in err, err
    code, _, err = run_cli(
        "export", "-w", ws, "-d", DS, "--format", "groups", "--rollouts", "r", "--out", "g"
    )
    assert code == 0, err  # the redone set matches its record again


def test_a_checkpoint_state_with_an_impossible_step_is_broken(tmp_path):
    from adqa_data.train.checkpoint_files import BrokenCheckpoint, load_state

    for step in (-3, True, 10**30):
        path = tmp_path / "state.json"
        path.write_text(json.dumps({"step": step}))
        with pytest.raises(BrokenCheckpoint):
            load_state(path)
    path.write_text(json.dumps({"step": 4}))
    assert load_state(path)["step"] == 4


# ------------------------------------------------------------------------------- one-line errors
def test_a_negative_seed_is_a_one_line_error(ws):
    code, _, err = run_cli("sample", "-w", ws, "-d", DS, "--split", "all", "--n", 2, "--seed", -5)
    assert_clean_error(code, err, "--seed")


# ------------------------------------------------------------------ training logs never follow a link
def test_training_logs_are_rewritten_and_appended_without_following_links(tmp_path):
    from adqa_data.core.atomic_files import append_text
    from adqa_data.train.checkpoint_files import truncate_run_logs

    run = tmp_path / "run"
    run.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (run / "metrics.jsonl").write_text('{"step": 1}\n{"step": 2}\n{"step": 3}\n')
    (run / ".metrics.jsonl.tmp").symlink_to(victim)  # where the resume used to write its cut log
    truncate_run_logs(run, 2)
    assert victim.read_text() == "precious"
    assert (run / "metrics.jsonl").read_text() == '{"step": 1}\n{"step": 2}\n'
    (run / "metrics.jsonl").unlink()
    (run / "metrics.jsonl").symlink_to(victim)
    append_text(run / "metrics.jsonl", '{"step": 3}\n', inside=run)
    assert victim.read_text() == "precious"
    assert (run / "metrics.jsonl").read_text() == '{"step": 3}\n'
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (run / "logs").symlink_to(outside)
    with pytest.raises(UserError):
        append_text(run / "logs" / "metrics.jsonl", "x\n", inside=run)
    assert list(outside.iterdir()) == []


@pytest.mark.slow
def test_a_run_writes_no_checkpoint_or_metrics_through_a_link(trained, tmp_path):
    """A resumed run whose `checkpoints/` is a link out of the run folder stops before writing there; a
    `metrics.jsonl` that is a link is replaced by the log, its target left alone."""
    from adqa_data.train.loop import train

    run = _copy_run(trained, tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (run / "metrics.jsonl").unlink()
    (run / "metrics.jsonl").symlink_to(victim)
    shutil.rmtree(run / "checkpoints" / "step-000004")
    outside = tmp_path / "elsewhere"
    shutil.move(run / "checkpoints", outside)
    (run / "checkpoints").symlink_to(outside)
    trainer, groups = _trainer(trained["ws"], trained["model"], run)
    assert trainer.resume() and trainer.state.step == 2
    with pytest.raises(UserError, match="outside"):
        train(trainer, groups)
    trainer.close()
    assert sorted(p.name for p in outside.iterdir()) == ["step-000002"]
    assert victim.read_text() == "precious"
    assert not (run / "metrics.jsonl").is_symlink()


# ---------------------------------------------------------------------------------- poisoned audio
def test_float_audio_of_absurd_magnitude_is_refused_like_inf(tmp_path):
    """1e30 is finite, but squared into a power spectrum it is inf: refused at probe time."""
    import numpy as np
    import soundfile as sf

    from adqa_data.audio.clips import AudioError, probe_audio

    loud = tmp_path / "loud.wav"
    sf.write(loud, np.full(16000, 1e30, np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioError) as e:
        probe_audio(loud)
    assert e.value.reason == "audio_nonfinite"
    hot = tmp_path / "hot.wav"  # a float file a little over full scale is still a recording
    sf.write(hot, np.full(16000, 1.5, np.float32), 16000, subtype="FLOAT")
    assert probe_audio(hot).num_frames == 16000


def test_the_tools_own_warnings_are_one_line_not_a_source_listing(ws, monkeypatch):
    """A warning raised inside adqa-data (a broken checkpoint set aside, say) is one `warning:` line."""
    import warnings

    import adqa_data.stages.sample as stage

    def warn_and_stop(*a, **kw):
        warnings.warn("checkpoint step-000006 is unusable; resuming from the one before it", stacklevel=2)
        return real(*a, **kw)

    real = stage.run
    monkeypatch.setattr(stage, "run", warn_and_stop)
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # main installs its own; restored
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, _, err = run_cli("sample", "-w", ws, "-d", DS, "--split", "all", "--n", 2)
    assert code == 0, err
    assert "warning: checkpoint step-000006 is unusable" in err, err
    assert "UserWarning" not in err and "warnings.warn(" not in err, err


@pytest.mark.parametrize("where", ["datasets.json", "provenance/sample/audiomcq.all-4-seed0.json"])
def test_json_nested_too_deep_in_the_workspace_is_a_one_line_error(ws, where):
    (ws / where).write_text("[" * 100_000 + "]" * 100_000)
    code, _, err = run_cli("sample", "-w", ws, "-d", DS, "--split", "all", "--n", 4)
    assert_clean_error(code, err, where.split("/")[-1])


def test_a_parts_file_that_is_a_fifo_a_device_or_nested_too_deep_is_a_one_line_error(tmp_path):
    import os

    from adqa_data.core.errors import UserError as Refused
    from adqa_data.stages.eval.parts import load_parts_file

    fifo = tmp_path / "parts.csv"
    os.mkfifo(fifo)
    deep = tmp_path / "parts.json"
    deep.write_text("{" + '"a":{' * 100_000 + "}" * 100_001)
    for path, needle in ((fifo, "FIFO"), ("/dev/zero", "device"), (deep, "not valid JSON")):
        with pytest.raises(Refused, match=needle):
            load_parts_file(path)


def test_a_manifest_line_nested_too_deep_is_quarantined_and_the_download_goes_on(tmp_path):
    from adqa_data.testing.data import write_demo

    root = write_demo(tmp_path / "data", n_clips=4)["audiomcq"]
    manifest = root / "data.jsonl"
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join([*lines, '{"x":' * 100_000 + "1" + "}" * 100_000]) + "\n")
    code, out, err = run_cli("download", "--from-dir", root, "-w", tmp_path / "w", "--workers", 1, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["items"] == len(lines) and summary["quarantined"] == 1, summary


@pytest.mark.parametrize("split", ["../../../escaped", "a b", "", "dev-1"])
def test_an_export_split_name_is_one_plain_split_name(ws, tmp_path, split):
    code, _, err = run_cli(
        "export", "-w", ws, "-d", DS, "--table", "items", "--out", "x", "--split-name", split
    )
    assert_clean_error(code, err, "--split-name")
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".x.*"))


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (("train", "--rollouts", "r", "--beta", "inf"), "beta"),
        (("train", "--rollouts", "r", "--lr", "inf"), "learning_rate"),
    ],
)
def test_settings_are_finite_numbers(ws, command, option):
    code, _, err = run_cli(command[0], "-w", ws, "-d", DS, *command[1:])
    assert_clean_error(code, err, option)
