"""The workspace notebook runs headless (nbclient) so it cannot rot: once on a demo workspace made by the
commands themselves (download, sample, rollout on the model-free scripted backend, stats), once on the
planted workspace that also has filter outputs, votes, a training log and a prediction set, so every cell
runs on data."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from support.planted_workspace import DS, build_workspace
from typer.testing import CliRunner

from adqa_data.cli import app
from adqa_data.core.workspace import Workspace

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "explore_workspace.ipynb"
runner = CliRunner()


def kernel_name() -> str:
    """ipykernel's own spec (`python3`, the interpreter running the tests), installed for the user if missing."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        from ipykernel.kernelspec import install

        install(user=True, kernel_name="python3")
    return "python3"


def execute(workspace: Path, dataset: str, monkeypatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("ADQA_WORKSPACE", str(workspace))
    monkeypatch.setenv("ADQA_DATASET", dataset)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, timeout=180, kernel_name=kernel_name(), resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()
    return nb


def text_of(nb: nbformat.NotebookNode) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", ""))
            out.append(str(o.get("data", {}).get("text/plain", "")))
    return "\n".join(out)


def images_in(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


@pytest.fixture(scope="module")
def demo_workspace(tmp_path_factory, clean_demo_roots) -> Path:
    """The demo chain through the CLI, no model: download, sample, scripted rollout, stats."""
    ws = tmp_path_factory.mktemp("nb") / "w"
    for args in (
        ["download", "--from-dir", str(clean_demo_roots["audiomcq"])],
        ["sample", "--n", "8", "--split", "all"],
        ["rollout", "--backend", "scripted", "--k", "4"],
        ["stats", "--no-plots"],
    ):
        res = runner.invoke(app, [*args, "-w", str(ws)])
        assert res.exit_code == 0, res.output
    return ws


def test_notebook_on_the_demo_workspace(demo_workspace, monkeypatch):
    nb = execute(demo_workspace, "audiomcq", monkeypatch)
    text = text_of(nb)
    assert "32 completions in 8 groups" in text
    assert "skipped panel" in text  # no filter on this workspace: said, not failed
    assert "skipped predictions" in text  # no eval on this workspace
    assert images_in(nb) >= 3  # items, prompts, rollouts plots
    # the rollout set is found by listing (its default name carries a hash of its settings)
    (rollout_set,) = Workspace(demo_workspace).finished_sets("rollout", "rollouts", "audiomcq")
    assert (demo_workspace / "stats" / "audiomcq" / f"rollouts-{rollout_set}.png").exists()


def test_notebook_on_a_workspace_with_every_table(tmp_path, monkeypatch):
    ws = build_workspace(tmp_path)
    nb = execute(ws.root, DS, monkeypatch)
    text = text_of(nb)
    assert "Fleiss' kappa on silence: 0.3333" in text
    assert "20 completions in 5 groups; zero-signal share 0.60" in text
    assert "prediction set e1 (m-planted): accuracy 0.75, silence gap 0.5" in text
    assert "skipped" not in text
    assert images_in(nb) == 8
    assert os.path.exists(ws.root / "stats" / DS / "training-run1.png")
