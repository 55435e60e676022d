"""A run's checkpoint files: listed, read without running code, a broken one skipped, the logs cut back.

A checkpoint (`checkpoints/step-NNNNNN/`) is written whole into `step-NNNNNN.tmp/` and renamed into place
(`Trainer.save_checkpoint`), so a folder named `step-N` is complete as written; `list_checkpoints` never
counts a `.tmp` one. Its files are still files on a disk: `read_checkpoint` reads every one of them into
memory before anything is applied, and a file that is truncated or unreadable (or weights that are not
finite) is a `BrokenCheckpoint` naming the file, so `Trainer.resume` warns and takes the previous one.

Nothing here unpickles code: the weights are safetensors, `state.json` is JSON, and the optimizer,
scheduler, RNG and batch-cache files are read with `torch.load(weights_only=True)`, which accepts tensors
and plain containers only (the numpy RNG state is stored as a tensor for that reason). A file that holds
anything else — a crafted pickle with a `__reduce__` — is refused with a `UserError`, never run.

Weights holding an inf or NaN are never written: `refuse_nonfinite` is checked before a checkpoint or a
policy is saved, and such weights read back are a broken checkpoint.

A resumed run continues from the checkpoint's step, so what the killed run logged after it would appear
twice: `truncate_run_logs` cuts `metrics.jsonl` back to that step and removes later completions tables.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.atomic_files import write_text_atomic
from ..core.errors import UserError

CHECKPOINTS = "checkpoints"
WEIGHTS = "trainable.safetensors"
STATE = "state.json"
_STEP_DIR = re.compile(r"step-\d+")
_COMPLETIONS = re.compile(r"step-(\d+)\.parquet")


class BrokenCheckpoint(Exception):
    """A checkpoint file that cannot be read back (truncated, corrupt, missing); `file` names it."""

    def __init__(self, file: Path, problem: str):
        self.file, self.problem = file, problem
        super().__init__(f"{file}: {problem}")


@dataclass
class CheckpointData:
    """Everything a checkpoint holds, read into memory (None where it was not written)."""

    path: Path
    state: dict[str, Any]
    weights: dict[str, torch.Tensor] | None
    optimizer: dict[str, Any] | None
    scheduler: dict[str, Any]
    rng: dict[str, Any] | None
    batch_cache: dict[str, Any] | None


def list_checkpoints(run_dir: Path) -> list[Path]:
    """The complete checkpoint folders of a run, oldest first (`step-N` only: never `.tmp`, `.broken`)."""
    root = run_dir / CHECKPOINTS
    if not root.is_dir():
        return []
    return sorted(
        (p for p in root.iterdir() if _STEP_DIR.fullmatch(p.name) and p.is_dir()),
        key=lambda p: int(p.name.removeprefix("step-")),
    )


def load_tensors(path: Path) -> Any:
    """A `torch.save` file read with `weights_only=True`: tensors and plain containers only. A file that
    holds other pickled objects is refused (loading it could run code); one that does not read back is
    a `BrokenCheckpoint`."""
    if not path.is_file():
        raise BrokenCheckpoint(path, "missing")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported" not in str(e):
            raise BrokenCheckpoint(path, _first_line(e)) from None
        raise UserError(
            f"checkpoint file {path} holds pickled objects other than tensors; refused, nothing in it was "
            "run (a checkpoint written by an older adqa-data, or by something else)",
            fix="delete that checkpoint folder if you did not write it, or start the run again with --force",
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise BrokenCheckpoint(path, _first_line(e)) from None


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """`trainable.safetensors`, every tensor finite."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise BrokenCheckpoint(path, "missing")
    try:
        weights = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise BrokenCheckpoint(path, _first_line(e)) from None
    bad = nonfinite_names(weights)
    if bad:
        raise BrokenCheckpoint(path, f"{len(bad)} weight(s) are not finite (e.g. {bad[0]})")
    return weights


def load_state(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise BrokenCheckpoint(path, "missing")
    try:
        state = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BrokenCheckpoint(path, _first_line(e)) from None
    step = state.get("step") if isinstance(state, dict) else None
    if type(step) is not int or not 0 <= step < 2**63:  # bool is an int to isinstance; a step is a count
        raise BrokenCheckpoint(path, "not a checkpoint state (no step count: a non-negative integer 'step')")
    return state


def read_checkpoint(path: Path, process_index: int, deepspeed: bool) -> CheckpointData:
    """Every file of a checkpoint, read and checked before any is applied. Under DeepSpeed the weights,
    optimizer and RNG are in `accelerate/` (DeepSpeed's own layout, loaded by accelerate)."""
    state = load_state(path / STATE)
    cache = path / "batch_cache.pt"
    return CheckpointData(
        path=path,
        state=state,
        weights=None if deepspeed else load_weights(path / WEIGHTS),
        optimizer=None if deepspeed else load_tensors(path / "optimizer.pt"),
        scheduler=load_tensors(path / "scheduler.pt"),
        rng=None if deepspeed else load_tensors(path / f"rng-{process_index}.pt"),
        batch_cache=load_tensors(cache) if cache.exists() else None,
    )


def set_aside(path: Path) -> Path:
    """Rename a broken checkpoint folder out of the list (kept, for a look): `step-N.broken[-k]`."""
    target = path.with_name(path.name + ".broken")
    k = 1
    while target.exists():
        k += 1
        target = path.with_name(f"{path.name}.broken-{k}")
    os.replace(path, target)
    return target


def truncate_run_logs(run_dir: Path, step: int) -> None:
    """Drop what a killed run logged after `step`, the step it resumes from: `metrics.jsonl` lines of later
    steps (and a line cut short by the kill), and completions tables of later steps. Rewritten aside and
    renamed, so a second kill leaves either log whole."""
    metrics = run_dir / "metrics.jsonl"
    if metrics.is_file():
        kept = []
        for line in metrics.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= step:
                kept.append(line + "\n")
        write_text_atomic(metrics, "".join(kept), inside=run_dir)
    completions = run_dir / "completions"
    if completions.is_dir():
        for f in completions.iterdir():
            m = _COMPLETIONS.fullmatch(f.name)
            if m and int(m.group(1)) > step:
                f.unlink()


def nonfinite_names(tensors: dict[str, torch.Tensor]) -> list[str]:
    """The names of the tensors holding an inf or NaN, sorted."""
    return sorted(k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all())


def refuse_nonfinite(tensors: dict[str, torch.Tensor], what: str) -> None:
    """Never write weights holding an inf or NaN: a one-line error instead (nothing written)."""
    bad = nonfinite_names(tensors)
    if bad:
        raise UserError(
            f"refusing to write {what}: {len(bad)} weight(s) are not finite (e.g. {bad[0]})",
            fix="the training diverged: lower the learning rate or check the data; earlier checkpoints "
            "are intact",
        )


# ------------------------------------------------------------------------------------------------ RNG
def rng_state() -> dict[str, Any]:
    """Python's, numpy's, torch's (and CUDA's) RNG states as tensors and plain values (weights_only-safe)."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__
