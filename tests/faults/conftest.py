"""Fixtures of the fault-injection tests: no ADQA_DEBUG, the demo workspace template and its per-test copy,
and the tiny trained run (each module-scoped fixture is built once per module that uses it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.faults import DS, N_PROMPTS, _trainer, scripted

from adqa_data.core.workspace import Workspace
from adqa_data.stages.download import download
from adqa_data.stages.rollout import rollout
from adqa_data.stages.sample import sample


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch):
    monkeypatch.delenv("ADQA_DEBUG", raising=False)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """Demo data, downloaded and sampled (--split all) once; `env` copies both per test."""
    from adqa_data.testing.data import write_demo

    base = tmp_path_factory.mktemp("faults")
    roots = write_demo(base / "data", n_clips=6)
    ws = Workspace(base / "w")
    download(ws, from_dir=roots["audiomcq"], workers=1)
    sample(ws, n=N_PROMPTS, split="all", seed=0)
    return base


@pytest.fixture
def env(template, tmp_path) -> tuple[Workspace, Path]:
    """A private copy of the template: (workspace, AudioMCQ dataset root), the registry pointing at it."""
    shutil.copytree(template, tmp_path / "t", symlinks=True)
    ws = Workspace(tmp_path / "t" / "w")
    root = tmp_path / "t" / "data" / "audiomcq"
    reg = json.loads((ws.root / "datasets.json").read_text())
    for rec in reg.values():
        rec["root"] = str(tmp_path / "t" / "data" / Path(rec["root"]).name)
    (ws.root / "datasets.json").write_text(json.dumps(reg))
    return ws, root


@pytest.fixture(scope="module")
def trained(tmp_path_factory, clean_demo_roots) -> dict:
    """A tiny random Qwen2-Audio, scripted rollouts of the demo data, and a 4-step run with checkpoints
    at steps 2 and 4 and a completions table every step."""
    pytest.importorskip("transformers")
    from adqa_data.testing.models import build_tiny_qwen2_audio
    from adqa_data.train.loop import train

    base = tmp_path_factory.mktemp("faults_train")
    model = build_tiny_qwen2_audio(base / "qwen2-audio")
    ws = Workspace(base / "w")
    download(ws, from_dir=clean_demo_roots[DS], workers=1)
    sample(ws, n=N_PROMPTS, split="all", seed=0)
    rollout(ws, scripted(), name="r")
    trainer, groups = _trainer(base / "w", model, base / "run")
    history = train(trainer, groups)
    trainer.close()
    return {"model": model, "ws": base / "w", "run": base / "run", "history": history}
