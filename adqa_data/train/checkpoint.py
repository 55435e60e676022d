"""A run's checkpoints and exports: save, resume, prune, average, and the policy a rollout backend loads.

Checkpoints (`<run>/checkpoints/step-NNNNNN/`): the trainable weights (`trainable.safetensors`: the full
decoder and head, or the LoRA adapter only), optimizer, scheduler, every process's RNG state and the
data position (stream, batch, iteration — and the batch's recomputed old log-probs when a checkpoint
falls between two iterations of one batch). Resuming from one gives the same next step as the run that
wrote it never stopped (tested exactly). Under DeepSpeed the optimizer and RNG go through
`accelerator.save_state`, which knows the sharded layout. Reading them back (no pickled code, a broken
newest one skipped, the logs cut back to the resumed step) is `checkpoint_files`'.

Exports: `export_policy` writes the current policy as a checkpoint a rollout backend loads, LoRA merged
from the weights alone; `average_into` loads the mean of the last N checkpoints' trainable weights and
exports that (`policy-avg/`, the averaged weights the DCASE 2025 system submitted). Weights that are not
finite are never written (checkpoint or policy).

`Checkpointing` holds these as methods of the `Trainer` (it reads the trainer's accelerator, module,
optimizer, scheduler and state); the free functions need no trainer.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ..core.atomic_files import ensure_folder, write_text_atomic
from ..core.errors import UserError
from .checkpoint_files import (
    CHECKPOINTS,
    WEIGHTS,
    BrokenCheckpoint,
    CheckpointData,
    list_checkpoints,
    read_checkpoint,
    refuse_nonfinite,
    rng_state,
    set_aside,
    set_rng_state,
    truncate_run_logs,
)
from .config import TrainConfig
from .policy import LoadedPolicy, PolicyModule


@dataclass
class TrainState:
    """Where the run is: enough to resume exactly."""

    step: int = 0  # optimizer steps taken
    stream: str = "offline"  # the data stream the position refers to ("round-3" for online round 3)
    batch: int = 0  # batches of the stream finished
    iteration: int = 0  # optimizer steps taken on the current batch (0 .. num_iterations - 1)
    tokens: int = 0  # tokens through the model (prompt + completions, gradient passes)
    seconds: float = 0.0  # training time, summed over resumes
    nonfinite_steps: int = 0  # steps skipped for a non-finite loss or gradient (no update), over resumes


class Checkpointing:
    """Checkpoint and export methods of the `Trainer` (module docstring); the attributes are the trainer's."""

    cfg: TrainConfig
    run_dir: Path
    model_path: str
    accelerator: Any
    deepspeed: bool
    policy: LoadedPolicy
    module: Any
    optimizer: Any
    scheduler: Any
    state: TrainState
    _batch_cache: dict[str, Any] | None

    @property
    def unwrapped(self) -> PolicyModule:
        return self.accelerator.unwrap_model(self.module)

    def checkpoints(self) -> list[Path]:
        """The run's complete checkpoints, oldest first."""
        return list_checkpoints(self.run_dir)

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """The trainable parameters by name (under ZeRO-3 gathered from every process)."""
        names = [n for n, p in self.unwrapped.named_parameters() if p.requires_grad]
        if self.deepspeed:
            full = self.accelerator.get_state_dict(self.module)
            return {n: full[n].detach().float().cpu() for n in names if n in full}
        params = dict(self.unwrapped.named_parameters())
        return {n: params[n].detach().cpu().clone() for n in names}

    def save_checkpoint(self) -> Path:
        """Write `checkpoints/step-NNNNNN/` whole (a temporary folder renamed at the end), never with
        non-finite weights."""
        from safetensors.torch import save_file

        acc = self.accelerator
        final = self.run_dir / CHECKPOINTS / f"step-{self.state.step:06d}"
        tmp = final.with_name(final.name + ".tmp")
        weights = self.trainable_state()
        refuse_nonfinite(weights, f"checkpoint {final.name}")  # before anything is written
        if acc.is_main_process:
            ensure_folder(final.parent, self.run_dir)  # checkpoints/ may not be a link out of the run
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        acc.wait_for_everyone()
        if self.deepspeed:
            acc.save_state(str(tmp / "accelerate"))
        else:
            torch.save(rng_state(), tmp / f"rng-{acc.process_index}.pt")
        if acc.is_main_process:
            save_file(weights, str(tmp / WEIGHTS))
            if not self.deepspeed:
                torch.save(self.optimizer.state_dict(), tmp / "optimizer.pt")
            torch.save(self.scheduler.state_dict(), tmp / "scheduler.pt")
            if self._batch_cache is not None:
                torch.save(self._batch_cache, tmp / "batch_cache.pt")
            state = {**asdict(self.state), "model": self.model_path, "lora": self.cfg.lora}
            write_text_atomic(tmp / "state.json", json.dumps(state, indent=2) + "\n", inside=self.run_dir)
        acc.wait_for_everyone()
        if acc.is_main_process:
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            self._prune_checkpoints()
        acc.wait_for_everyone()
        return final

    def _prune_checkpoints(self) -> None:
        limit = self.cfg.save_total_limit
        if limit is None:
            return
        keep = max(limit, self.cfg.average_last)
        for old in self.checkpoints()[:-keep]:
            shutil.rmtree(old, ignore_errors=True)

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore weights, optimizer, schedule, RNG and data position from a checkpoint: every file is
        read (without unpickling code) and checked before any is applied (`checkpoint_files`)."""
        self._apply_checkpoint(read_checkpoint(Path(path), self.accelerator.process_index, self.deepspeed))

    def _apply_checkpoint(self, data: CheckpointData) -> None:
        acc = self.accelerator
        if self.deepspeed:  # weights, optimizer and RNG from DeepSpeed's own (sharded, fp32) checkpoint
            acc.load_state(str(data.path / "accelerate"))
        else:
            assert data.weights is not None and data.optimizer is not None and data.rng is not None
            self.load_trainable(data.weights)
            self.optimizer.load_state_dict(data.optimizer)
            set_rng_state(data.rng)
        self.scheduler.load_state_dict(data.scheduler)
        saved = data.state
        self.state = TrainState(**{k: saved[k] for k in asdict(TrainState()) if k in saved})
        self._batch_cache = data.batch_cache

    def load_trainable(self, weights: dict[str, torch.Tensor]) -> None:
        params = {n: p for n, p in self.unwrapped.named_parameters() if p.requires_grad}
        missing = sorted(set(params) - set(weights))
        if missing:
            raise UserError(
                f"checkpoint lacks {len(missing)} trainable weights (e.g. {missing[0]}): it was written by "
                "a run with other model settings",
                fix="resume with the settings that wrote it",
            )
        gather = nullcontext()
        if self.deepspeed:  # ZeRO-3 holds a shard of each parameter: gather, write on rank 0, re-shard
            import deepspeed

            gather = deepspeed.zero.GatheredParameters(list(params.values()), modifier_rank=0)
        with torch.no_grad(), gather:
            if self.accelerator.is_main_process or not self.deepspeed:
                for name, p in params.items():
                    p.copy_(weights[name].to(p.device, p.dtype))

    def resume(self) -> bool:
        """Continue from the newest checkpoint of the run folder that reads back whole, if there is one. A
        broken one (a truncated file, a bad state.json) is named in a warning and set aside as
        `step-N.broken`; what the killed run logged after the resumed step is dropped."""
        acc = self.accelerator
        chosen = None
        for path in reversed(self.checkpoints()):
            try:
                chosen = read_checkpoint(path, acc.process_index, self.deepspeed)
            except BrokenCheckpoint as e:
                warnings.warn(
                    f"checkpoint {path.name} is unusable ({e.file.name}: {e.problem}); resuming from the "
                    f"one before it (kept as {path.name}.broken)",
                    stacklevel=2,
                )
                acc.wait_for_everyone()
                if acc.is_main_process:
                    set_aside(path)
                acc.wait_for_everyone()
                continue
            break
        if chosen is not None:
            self._apply_checkpoint(chosen)
        if acc.is_main_process:
            truncate_run_logs(self.run_dir, self.state.step)
        return chosen is not None

    # ======================================================================================= export
    def policy_state_dict(self) -> dict[str, torch.Tensor]:
        """The checkpoint module's weights with the training applied, keyed as the checkpoint's own module
        names them. LoRA is merged from the weights alone (W + B @ A x alpha / r), so it works on the
        gathered state of a DeepSpeed run too and leaves the training module untouched."""
        if self.deepspeed:
            full = self.accelerator.get_state_dict(self.module)
            state = {k.removeprefix("net.").removeprefix("base_model.model."): v for k, v in full.items()}
        else:
            state = {k: v.detach() for k, v in self.policy.model.module.state_dict().items()}
        if not self.cfg.lora:
            return state
        scale = self.cfg.lora_alpha / self.cfg.lora_r
        merged = {}
        for k, v in state.items():
            if "lora_" in k:
                continue
            if ".base_layer." in k and k.endswith(".weight"):
                layer = k[: -len(".base_layer.weight")]
                a, b = state[f"{layer}.lora_A.default.weight"], state[f"{layer}.lora_B.default.weight"]
                v = v + (b.float() @ a.float() * scale).to(v.dtype)
            merged[k.replace(".base_layer.", ".")] = v
        return merged

    def export_policy(self, out_dir: str | Path) -> Path:
        """Write the current policy as a checkpoint a rollout backend loads (weights, config, tokenizer and
        processor files of the starting checkpoint). Every process must call it; the main one writes."""
        out = Path(out_dir)
        state = self.policy_state_dict()
        refuse_nonfinite(state, f"policy {out.name}")
        if self.accelerator.is_main_process:
            export_weights(self.policy.model, state, self.model_path, out)
        self.accelerator.wait_for_everyone()
        return out

    def average_into(self, out: Path, last: int) -> Path:
        """Load the mean of the last `last` checkpoints' trainable weights and export it to `out`."""
        self.load_trainable(average_checkpoints(self.checkpoints()[-last:]))
        return self.export_policy(out)


def export_weights(model: Any, state: dict[str, torch.Tensor], base: str, out: Path) -> None:
    """Save `state` with the checkpoint's config via `save_pretrained`, then copy the starting checkpoint's
    tokenizer / processor files beside it."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    # transformers writes the key layout of the checkpoint it loaded (the hub layout vLLM loads)
    model.module.save_pretrained(str(tmp), state_dict={k: v.contiguous() for k, v in state.items()})
    src = Path(base)
    if src.is_dir():
        for f in src.iterdir():
            if (
                f.is_file()
                and not (tmp / f.name).exists()
                and not f.name.endswith((".safetensors", ".bin", ".index.json"))
            ):
                shutil.copy2(f, tmp / f.name)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)


def average_checkpoints(paths: Sequence[str | Path]) -> dict[str, torch.Tensor]:
    """The element-wise mean of the trainable weights of several checkpoints (float64 sums)."""
    from safetensors.torch import load_file

    if not paths:
        raise UserError("no checkpoints to average", fix="train with save_steps small enough to write some")
    total: dict[str, torch.Tensor] = {}
    for p in paths:
        for k, v in load_file(str(Path(p) / WEIGHTS)).items():
            total[k] = total[k] + v.double() if k in total else v.double()
    return {k: (v / len(paths)).float() for k, v in total.items()}
