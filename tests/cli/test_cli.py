"""The command line as a user meets it: --help without importing torch, one-line errors, --json output."""

import json
import subprocess
import sys

from support.faults import assert_clean_error, run_cli
from typer.testing import CliRunner

from adqa_data.cli import app

runner = CliRunner()


def test_help_does_not_import_torch():
    code = (
        "import sys; from adqa_data.cli import app; from typer.main import get_command; get_command(app); "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"
    out = subprocess.run(
        [sys.executable, "-m", "adqa_data", "--help"], capture_output=True, text=True, check=True
    )
    assert "download" in out.stdout


def test_download_info_json_strict(demo_roots, tmp_path):
    ws = str(tmp_path / "w")
    res = runner.invoke(app, ["download", "--from-dir", str(demo_roots["audiomcq"]), "-w", ws, "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["items"] + summary["quarantined"] == summary["input_rows"]
    res = runner.invoke(app, ["info", "-w", ws, "--json"])
    report = json.loads(res.stdout)
    assert {"items", "quarantined", "quarantine_reasons"} <= set(report)
    assert report["items"] == summary["items"]
    assert sum(report["quarantine_reasons"].values()) == report["quarantined"]
    res = runner.invoke(app, ["download", "--from-dir", str(demo_roots["audiomcq"]), "-w", ws, "--strict"])
    assert res.exit_code == 1  # up to date, but the dataset still has quarantined rows
    assert "up to date" in res.output


def test_user_error_is_a_clean_message_not_a_traceback(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "adqa_data",
            "download",
            "--from-dir",
            str(tmp_path / "missing"),
            "-w",
            str(tmp_path / "w"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_demo_data_command(tmp_path):
    res = runner.invoke(app, ["demo-data", str(tmp_path / "demo"), "--clips", "6"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "demo" / "audiomcq" / "data.jsonl").is_file()
    assert (tmp_path / "demo" / "dcase2026-dev" / "dev.jsonl").is_file()
    assert (tmp_path / "demo" / "dcase2026-eval" / "eval-noanswer.jsonl").is_file()


def test_demo_models_writes_a_loadable_panel(tmp_path):
    from adqa_data.inference.panel import load_panel

    res = runner.invoke(app, ["demo-models", str(tmp_path / "m")])
    assert res.exit_code == 0, res.output
    panel = load_panel(tmp_path / "m" / "panel.yaml")
    assert len(panel.members) == 3 and panel.min_correct == 2
    for m in panel.members:
        assert (tmp_path / "m" / m.model.rsplit("/", 1)[1] / "config.json").is_file()
        assert m.model.startswith(str(tmp_path))  # relative paths resolved against the panel file


def test_demo_models_reuses_only_a_folder_of_its_own_recipe(tmp_path):
    """An up-to-date rerun is a no-op, but a folder built by another recipe (other options, or an older
    adqa-data that recorded none) is refused with one line, not silently taken for the asked-for models,
    and nothing in it is touched."""
    out = tmp_path / "m"
    assert runner.invoke(app, ["demo-models", str(out)]).exit_code == 0
    assert json.loads((out / "recipe.json").read_text()) == {"models": "random", "size": "tiny"}
    weights = {p: p.stat().st_mtime_ns for p in out.rglob("*.safetensors")}
    again = runner.invoke(app, ["demo-models", str(out)])
    assert again.exit_code == 0 and "already built" in again.output
    code, _, err = run_cli("demo-models", out, "--priors")  # the story's models, not these
    assert_clean_error(code, err, "another recipe", "delete")
    (out / "recipe.json").unlink()  # as an older version left it
    code, _, err = run_cli("demo-models", out)
    assert_clean_error(code, err, "none recorded")
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.safetensors")} == weights


def test_json_stdout_holds_only_the_json_object(tmp_path, monkeypatch):
    """A library that prints on stdout mid-command (DeepSpeed's import-time warnings, a model's print)
    must not break `--json`: such lines go to stderr, stdout parses as one JSON object."""
    import adqa_data.stages.info as stage

    real = stage.run

    def noisy(*args, **kwargs):
        print("[WARNING] a library speaking on stdout")
        return real(*args, **kwargs)

    monkeypatch.setattr(stage, "run", noisy)
    (tmp_path / "w").mkdir()
    res = CliRunner().invoke(app, ["info", "-w", str(tmp_path / "w"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["datasets"] == {}
    assert "a library speaking" in res.stderr
    plain = CliRunner().invoke(app, ["info", "-w", str(tmp_path / "w")])  # tables: stdout as before
    assert "a library speaking" in plain.stdout
