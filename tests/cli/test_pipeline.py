"""Pipelines: YAML steps become command lines, run in order, are checked before anything runs, and a rerun
is up to date; the demo pipeline tells its story in order."""

import pytest
from typer.testing import CliRunner

from adqa_data.cli import app
from adqa_data.cli.pipeline import load, plan, run, to_argv
from adqa_data.core.errors import UserError
from adqa_data.core.schema import PROMPTS
from adqa_data.core.workspace import Workspace

runner = CliRunner()


def test_to_argv_maps_yaml_to_options():
    argv = to_argv(
        "download", {"from_dir": "d", "strict": True, "force": False, "map": ["a=b", "c=d"]}, set()
    )
    assert argv == ["download", "--from-dir", "d", "--strict", "--no-force", "--map", "a=b", "--map", "c=d"]


def test_pipeline_runs_steps_and_rerun_is_up_to_date(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths in a pipeline, the workspace's too, are from the cwd
    demo = tmp_path / "demo"
    (tmp_path / "p.yaml").write_text(f"""
workspace: work
steps:
  - demo-data: {{out: {demo}, clips: 9}}
  - download: {{from_dir: {demo}/audiomcq}}
  - download: {{from_dir: {demo}/dcase2026-dev}}
  - sample: {{dataset: audiomcq, n: 6, split: all, seed: 1}}
""")
    res = runner.invoke(app, ["run", str(tmp_path / "p.yaml")])
    assert res.exit_code == 0, res.output
    ws = Workspace(tmp_path / "work")
    assert set(ws.datasets()) == {"audiomcq", "dcase2026-dev"}
    assert ws.read(PROMPTS, "audiomcq", "all-6-seed1").num_rows == 6
    # the run ends with each step's wall and CPU seconds: where a pipeline's time goes
    table = res.output[res.output.index("step times") :]
    assert all(c in table for c in ("wall s", "CPU s", "demo-data", "sample", "total"))
    res = runner.invoke(app, ["run", str(tmp_path / "p.yaml")])
    assert res.exit_code == 0 and res.output.count("up to date") == 3


def test_pipeline_is_checked_before_anything_runs(tmp_path):
    (tmp_path / "bad.yaml").write_text("steps:\n  - download: {from_dir: x}\n  - frobnicate: {}\n")
    with pytest.raises(UserError, match="unknown command 'frobnicate'"):
        run(tmp_path / "bad.yaml")
    (tmp_path / "bad2.yaml").write_text("steps:\n  - download: {from_dir: x, colour: red}\n")
    with pytest.raises(UserError, match="unknown option 'colour'"):
        run(tmp_path / "bad2.yaml")
    (tmp_path / "bad3.yaml").write_text("steps:\n  - {download: {}, info: {}}\n")
    with pytest.raises(UserError, match="exactly one command"):
        load(tmp_path / "bad3.yaml")
    assert not (tmp_path / "adqa-work").exists()


def test_workspace_and_engine_are_passed_to_every_step(tmp_path):
    (tmp_path / "p.yaml").write_text(
        "workspace: w\nengine: ray\nsteps:\n  - download: {from_dir: d}\n  - info: {}\n"
    )
    argvs = plan(load(tmp_path / "p.yaml"))
    assert argvs[0] == ["download", "--from-dir", "d", "--workspace", "w", "--engine", "ray"]
    assert argvs[1] == ["info", "--workspace", "w"]


def test_the_demo_pipeline_tells_the_story_in_order():
    """pipelines/demo.yaml is valid as written (every command and option known) and runs the story's
    steps in order: designed data, the prior panel, filter, a format-only warm start, eval before, online GRPO,
    eval after, the trained policy's replies with the anchoring pass (the report's attention strips), the
    submission, the report page, and last the summary read from the workspace (it says where the page
    is)."""
    from pathlib import Path

    argvs = plan(load(Path(__file__).resolve().parents[2] / "pipelines" / "demo.yaml"))
    commands = [a[0] for a in argvs]
    assert argvs[0][:3] == ["demo-data", "demo-data", "--design"] and "--priors" in argvs[1]
    order = ["filter", "sample", "train", "eval", "train", "eval", "rollout", "eval", "submit", "report"]
    at = 0
    for c in order:  # each command after the previous one (index raises when it is missing)
        at = commands.index(c, at) + 1
    assert commands[-1] == "demo-summary"  # the demo ends with its figures and where the page is
    sft, grpo = [a for a in argvs if a[0] == "train"]
    assert sft[sft.index("--dataset") + 1] == "format" and "--online" in grpo  # format-only warm start
    assert grpo[grpo.index("--split" if "--split" in grpo else "--prompts") + 1] == "strong"
    assert grpo[grpo.index("--model") + 1] == f"adqa-work/runs/format/{sft[sft.index('--name') + 1]}/policy"
    assert [a[a.index("--name") + 1] for a in argvs if a[0] == "eval"] == ["before", "after", "after"]
    (shown,) = [a for a in argvs if a[0] == "rollout"]  # the trained policy, its attention profiles kept
    assert shown[shown.index("--model") + 1] == grpo[grpo.index("--model") + 1].replace(
        "format/" + sft[sft.index("--name") + 1], "audiomcq/" + grpo[grpo.index("--name") + 1]
    )
    assert "anchoring=0.25" in shown
