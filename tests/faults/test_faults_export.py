"""Fault injection for `export`: it replaces only folders it wrote, never loses the old export, and checks
the Hub before writing anything.

`export --out DIR` used to delete any folder holding a README.md (a project folder, `.`, a git clone of a
dataset repo, a Hub snapshot) and deleted the old export before writing the new one, so a failure midway
left neither; `--push-to-hub` without a network wrote the folder first and failed after. Each test here
runs the real command line on the planted workspace (tests/support/planted_workspace.py).
"""

from __future__ import annotations

import errno
import json
import os

import pytest
from support.faults import assert_clean_error, run_cli
from support.planted_workspace import build_workspace

from adqa_data.export.folder import MARKER


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch):
    monkeypatch.delenv("ADQA_DEBUG", raising=False)


@pytest.fixture(scope="module")
def ws_root(tmp_path_factory):
    return build_workspace(tmp_path_factory.mktemp("faults_export")).root


def export_cli(ws_root, out, *extra):
    return run_cli("export", "-w", ws_root, "-f", "groups", "--out", out, *extra)


def snapshot(folder):
    """Every file under `folder` (relative path -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_project_folder_with_a_readme_is_refused(ws_root, tmp_path):
    paper = tmp_path / "paper"
    (paper / "figures").mkdir(parents=True)
    (paper / "README.md").write_text("# my paper\n")
    (paper / "figures" / "fig1.png").write_bytes(b"\x89PNG")
    before = snapshot(paper)
    code, _, err = export_cli(ws_root, paper)
    assert_clean_error(code, err, "not an adqa-data export")
    assert snapshot(paper) == before


def test_the_current_folder_is_refused(ws_root, tmp_path, monkeypatch):
    here = tmp_path / "project"
    here.mkdir()
    (here / "README.md").write_text("# project\n")
    (here / "notes.txt").write_text("keep")
    monkeypatch.chdir(here)
    code, _, err = export_cli(ws_root, ".")
    assert_clean_error(code, err, "--out")
    assert sorted(p.name for p in here.iterdir()) == ["README.md", "notes.txt"]


@pytest.mark.parametrize("kind", ["git clone", "hub snapshot"])
def test_a_dataset_repo_checkout_is_refused(ws_root, tmp_path, kind):
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "README.md").write_text("---\nconfigs: []\n---\n# someone's dataset\n")
    (repo / "data" / "train-00000-of-00001.parquet").write_bytes(b"PAR1 not ours")
    if kind == "git clone":
        (repo / ".git").mkdir()
        (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    else:
        (repo / ".cache" / "huggingface").mkdir(parents=True)
    before = snapshot(repo)
    code, _, err = export_cli(ws_root, repo)
    assert_clean_error(code, err, "not an adqa-data export")
    assert snapshot(repo) == before


def test_a_forged_or_foreign_marker_is_not_enough(ws_root, tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "README.md").write_text("# x\n")
    (folder / MARKER).write_text(json.dumps({"created_by": "someone-else", "format": "groups"}))
    code, _, err = export_cli(ws_root, folder)
    assert_clean_error(code, err, "not an adqa-data export")
    assert (folder / "README.md").read_text() == "# x\n"


def test_an_export_folder_is_marked_and_replaced(ws_root, tmp_path):
    out = tmp_path / "exp"
    assert export_cli(ws_root, out)[0] == 0
    marker = json.loads((out / MARKER).read_text())
    assert marker["created_by"] == "adqa-data" and marker["format"] == "groups"
    assert marker["dataset"] == "demo" and marker["configs"] == ["default"]
    (out / "stale.txt").write_text("from an older export")  # listed in the marker: the export's own
    (out / MARKER).write_text(json.dumps({**marker, "files": [*marker["files"], "stale.txt"]}))
    code, _, err = run_cli("export", "-w", ws_root, "-f", "native", "--table", "items", "--out", out)
    assert code == 0, err
    assert json.loads((out / MARKER).read_text())["table"] == "items"
    assert not (out / "stale.txt").exists()  # replaced whole, not merged
    assert [p.name for p in tmp_path.iterdir()] == ["exp"]  # no staging or set-aside folder left


def test_a_failure_mid_export_keeps_the_old_export(ws_root, tmp_path, monkeypatch):
    out = tmp_path / "exp"
    assert export_cli(ws_root, out)[0] == 0
    before = snapshot(out)
    import datasets

    def disk_full(self, *a, **kw):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(datasets.Dataset, "to_parquet", disk_full)
    code, _, err = run_cli("export", "-w", ws_root, "-f", "sft", "--out", out)
    assert_clean_error(code, err, exit_code=1)
    assert snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["exp"]


class OfflineHub:
    """HfApi as it behaves without a network: every call fails to connect."""

    def __getattr__(self, name):
        def call(*a, **kw):
            raise ConnectionError("Failed to establish a new connection: [Errno 111] Connection refused")

        return call


@pytest.mark.parametrize("offline", ["HF_HUB_OFFLINE", "unreachable"])
def test_push_to_hub_checks_the_hub_before_writing(ws_root, tmp_path, monkeypatch, offline):
    import huggingface_hub

    if offline == "HF_HUB_OFFLINE":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(huggingface_hub, "HfApi", OfflineHub)
    out = tmp_path / "exp"
    code, _, err = export_cli(ws_root, out, "--push-to-hub", "me/adqa")
    assert_clean_error(code, err, "cannot push")
    assert len(err.strip().splitlines()) <= 3, err  # the error line, where and fix
    assert not out.exists()
