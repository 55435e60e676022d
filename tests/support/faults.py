"""Helpers of the fault-injection tests (tests/faults/): the command line in-process, the clean one-line
error check, the scripted rollout settings, quarantine reasons, and the trainer of the faults' tiny run."""

from __future__ import annotations

import contextlib
import io
import shutil
import sys
from pathlib import Path

from adqa_data.core.schema import QUARANTINE
from adqa_data.core.workspace import Workspace
from adqa_data.stages.rollout import load_config

DS = "audiomcq"

N_PROMPTS = 4


def run_cli(*args: object) -> tuple[int, str, str]:
    """`adqa-data ARGS` through the real entry point (`main`), in-process: (exit code, stdout, stderr)."""
    from adqa_data.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    argv, sys.argv = sys.argv, ["adqa-data", *map(str, args)]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


def assert_clean_error(code: int, err: str, *needles: str, exit_code: int = 2) -> None:
    """A non-zero exit with an `error:` line (and the needles), never a traceback."""
    assert code == exit_code, err
    assert "error:" in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def scripted(**kw):
    return load_config(None, backend="scripted", shard_size=2, **kw)


def quarantine_reasons(ws: Workspace, *sub: str) -> dict[str, str]:
    return {r["item_id"]: r["reason"] for r in ws.read(QUARANTINE, "audiomcq", *sub).to_pylist()}


SETTINGS = {
    "old_logp": "recompute",  # scripted rollouts store no sampler log-probs
    "beta": 0.0,
    "learning_rate": 1e-3,
    "warmup_ratio": 0.0,
    "max_steps": 4,
    "micro_batch_groups": 2,
    "save_steps": 2,
    "completions_steps": 1,
}


def _trainer(ws_root: Path, model: Path, run: Path, **overrides):
    from adqa_data.stages.rollout.contract import load_rollout_groups
    from adqa_data.train.config import load_config
    from adqa_data.train.loop import Trainer

    groups, info = load_rollout_groups(Workspace(ws_root), DS, ["r"])
    cfg = load_config(None, model=str(model), **{**SETTINGS, **overrides})
    trainer = Trainer(cfg, run, model=str(model), sampling=info, total_steps=cfg.max_steps)
    return trainer, groups


def _copy_run(trained: dict, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(trained["run"], run)
    return run
