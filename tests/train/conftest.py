"""Fixtures of the trainer tests: a tiny random Qwen2-Audio with its own transformers rollouts (module-scoped)
and a private copy of its workspace per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from adqa_data.core.workspace import Workspace
from adqa_data.stages.download import download
from adqa_data.stages.rollout import load_config as rollout_config
from adqa_data.stages.rollout import rollout
from adqa_data.stages.sample import sample

DS = "audiomcq"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, clean_demo_roots) -> tuple[Path, Path]:
    """A tiny random Qwen2-Audio and a workspace with its own transformers rollouts (4 prompts x 4)."""
    pytest.importorskip("transformers")
    from adqa_data.testing.models import build_tiny_qwen2_audio

    base = tmp_path_factory.mktemp("train_tiny")
    model = build_tiny_qwen2_audio(base / "qwen2-audio")
    ws = Workspace(base / "w")
    download(ws, from_dir=clean_demo_roots[DS])
    sample(ws, n=4, split="all", seed=0)
    rollout(
        ws,
        rollout_config(
            None,
            model=str(model),
            k=4,
            max_new_tokens=6,
            rewards={"correctness": 1.0, "test_train:parity": 1.0},
        ),
        name="tf",
    )
    return model, ws.root


@pytest.fixture
def tws(tiny, tmp_path) -> Workspace:
    shutil.copytree(tiny[1], tmp_path / "w")
    return Workspace(tmp_path / "w")
