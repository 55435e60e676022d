"""The training loop, readable top to bottom: setup, one batch of GRPO (or SFT), the loop over batches.
No callbacks: what happens at a step is written where it happens; the I/O around it (checkpoints and
exports, `checkpoint`; the metrics log, `metrics`; the loss, `loss.step_loss`) lives in its own module.

A batch is `micro_batch_groups x gradient_accumulation_steps x processes` whole groups, taken from an
endless stream of seeded epochs (`groups.batch_groups`), so every batch is full and a run's data order
depends only on the seed. Each batch gets `num_iterations` optimizer steps (GRPO's mu): the ratio
pi_theta / pi_old is 1 on the first (up to the sampler's rounding, when old = the stored sampler
log-probs) and moves from the second on. Gradient accumulation, DDP and DeepSpeed go through
accelerate's `Accelerator` (`setup.make_accelerator`).

Non-finite steps: a step whose loss or gradient is inf/NaN on any process is skipped (no optimizer or
schedule step, gradients zeroed) and counted; `max_nonfinite_steps` in a row stop the run, and weights
that are not finite are never written (checkpoint or policy).

Entry points: `train(trainer, groups)` runs offline to `total_steps` with a final checkpoint;
`train_round(trainer, groups, round_index)` trains one online round's pass with the policy kept in
memory; `average_run` makes `policy-avg/` of a finished run from its checkpoints.
"""

from __future__ import annotations

import math
import random
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.errors import UserError
from ..inference.factory import default_device
from .checkpoint import Checkpointing, TrainState
from .collate import Batch, Collator
from .config import TrainConfig
from .groups import Group, SamplingInfo, batch_groups
from .loss import sampler_logps, step_loss
from .metrics import MetricsLog, accumulate, as_float, batch_metrics, mean_over_processes
from .policy import LoadedPolicy, PolicyModule, batch_inputs, frozen_reference, load_model, load_policy
from .setup import lr_multiplier, make_accelerator, make_optimizer

OnStep = Callable[[TrainState, dict[str, float]], None]


class Trainer(Checkpointing):
    """The policy, its optimizer and schedule, the accelerator, and the run's state and logs.

    `model`: the checkpoint to start from; `sampling`: how the training completions were sampled (the
    temperature the log-probs are taken at); `total_steps`: the schedule's length (all rounds, online).
    """

    def __init__(
        self,
        cfg: TrainConfig,
        run_dir: str | Path,
        *,
        model: str,
        sampling: SamplingInfo,
        total_steps: int,
        family: str | None = None,
        run_name: str | None = None,
        accelerator: Any = None,
    ):
        self.cfg, self.sampling, self.total_steps = cfg, sampling, int(total_steps)
        self.run_dir = Path(run_dir)
        self.model_path = str(model)
        device = default_device(cfg.device)
        self.accelerator = acc = accelerator if accelerator is not None else make_accelerator(cfg)
        self.deepspeed = acc.distributed_type.name == "DEEPSPEED"
        self.seed_everything(cfg.seed + acc.process_index)
        checkpointing = (
            cfg.gradient_checkpointing if cfg.gradient_checkpointing is not None else device == "cuda"
        )
        self.policy: LoadedPolicy = load_policy(
            model,
            family=family,
            device=str(acc.device),
            attn_implementation=cfg.attn_implementation,
            lora=cfg.lora,
            lora_r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            train_audio=cfg.train_audio,
            gradient_checkpointing=checkpointing,
        )
        self.collate = Collator(self.policy.model)
        self.temperature = float(cfg.temperature or sampling.temperature or 1.0)
        for problem in sampling_warnings(cfg, sampling):
            warnings.warn(problem, stacklevel=2)
        # the KL reference: the base with the adapter disabled (LoRA), else a frozen copy of the start
        self.reference: PolicyModule | None = None
        if cfg.method == "grpo" and cfg.beta != 0 and not cfg.lora:
            dtype = "bfloat16" if acc.mixed_precision == "bf16" else "float32"
            start = load_model(model, family, str(acc.device), cfg.attn_implementation, dtype)
            self.reference = frozen_reference(start)
        optimizer = make_optimizer(self.policy.module, cfg)
        self.module, self.optimizer = acc.prepare(self.policy.module, optimizer)
        # stepped once per optimizer step, by us (accelerate would step a prepared one once per process)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: lr_multiplier(s, self.total_steps, cfg)
        )
        if self.reference is not None:
            if self.deepspeed:
                from trl.models.utils import prepare_deepspeed

                self.reference = prepare_deepspeed(self.reference, acc)
            else:
                self.reference = acc.prepare_model(self.reference, evaluation_mode=True)
        self.state = TrainState()
        self.log = MetricsLog(self.run_dir, cfg, acc.is_main_process, run_name or self.run_dir.name)
        self._batch_cache: dict[str, Any] | None = None  # recomputed old log-probs of a half-done batch
        self._nonfinite_streak = 0  # skipped steps in a row; max_nonfinite_steps of them stop the run

    @staticmethod
    def seed_everything(seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed % (2**32))
        torch.manual_seed(seed)

    @property
    def groups_per_batch(self) -> int:
        return self.cfg.groups_per_step(self.accelerator.num_processes)

    @property
    def done(self) -> bool:
        return self.state.step >= self.total_steps

    # ======================================================================================= one batch
    def train_batch(self, groups: Sequence[Group]) -> list[dict[str, float]]:
        """`num_iterations` optimizer steps on one batch of whole groups (from `state.iteration` on, when
        resuming); returns each step's metrics."""
        cfg, acc = self.cfg, self.accelerator
        started = time.perf_counter()  # a step's time includes collation and the old and reference passes
        micro = self._micro_batches(groups)
        # fixed for the whole batch: the old and reference log-probs, and dapo's (and SFT's) token count
        step_tokens = acc.reduce(
            torch.tensor(float(sum(b.completion_tokens for b in micro)), device=acc.device), "sum"
        )
        step_tokens = step_tokens.item() / acc.num_processes
        old: list[torch.Tensor | None] = [None] * len(micro)
        ref: list[torch.Tensor | None] = [None] * len(micro)
        if cfg.method == "grpo":
            old = self._old_logps(micro)
            if cfg.beta != 0:
                ref = [self._reference_logps(b) for b in micro]
        history = []
        while self.state.iteration < cfg.num_iterations and not self.done:
            totals: dict[str, float] = {}
            finite_loss = True
            for i, b in enumerate(micro):
                with acc.accumulate(self.module):  # DDP syncs (DeepSpeed steps) on the last micro-batch only
                    logp, audio = self.module(batch_inputs(b), self.temperature)
                    if audio is not None and not cfg.train_audio:
                        b.audio_embeds = audio  # frozen audio side: encode each clip once per batch
                    loss, metrics = self.loss(b, logp, old[i], ref[i], step_tokens)
                    finite_loss = finite_loss and bool(torch.isfinite(loss.detach()))
                    acc.backward(loss)
                loss_share = float(loss.detach()) / cfg.gradient_accumulation_steps
                accumulate(totals, {"loss": loss_share, **metrics}, len(micro))
            grad_norm = as_float(acc.clip_grad_norm_(self.module.parameters(), cfg.max_grad_norm))
            lr = self.scheduler.get_last_lr()[0]
            if self._finite_step(finite_loss, grad_norm):
                self.optimizer.step()
                self.scheduler.step()  # not on a skipped step, as the HF trainers do
            self.optimizer.zero_grad(set_to_none=True)
            self.state.step += 1
            self.state.iteration += 1
            history.append(self._after_step(micro, totals, lr, grad_norm, step_tokens, started, old))
            started = time.perf_counter()
        self.state.batch += 1
        self.state.iteration = 0
        self._batch_cache = None
        return history

    def loss(
        self,
        b: Batch,
        logp: torch.Tensor,
        old: torch.Tensor | None,
        ref: torch.Tensor | None,
        step_tokens: float,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """One micro-batch's loss and metrics (`loss.step_loss`; dr_grpo's length defaults to the
        rollout's max_new_tokens)."""
        return step_loss(self.cfg, b, logp, old, ref, step_tokens, self.sampling.max_new_tokens)

    def _micro_batches(self, groups: Sequence[Group]) -> list[Batch]:
        """This process's share of the batch, collated into micro-batches on its device."""
        acc, m = self.accelerator, self.cfg.micro_batch_groups
        per_process = len(groups) // acc.num_processes
        mine = list(groups[acc.process_index * per_process : (acc.process_index + 1) * per_process])
        return [self.collate(mine[i : i + m]).to(acc.device) for i in range(0, len(mine), m)]

    def _after_step(
        self,
        micro: list[Batch],
        totals: dict[str, float],
        lr: float,
        grad_norm: float,
        step_tokens: float,
        started: float,
        old: list[torch.Tensor | None],
    ) -> dict[str, float]:
        """The step's bookkeeping: its metrics (over every process) logged, the divergence check, the
        completions table and the checkpoint when they are due."""
        cfg, acc = self.cfg, self.accelerator
        seconds = time.perf_counter() - started
        tokens = sum(b.tokens for b in micro)
        self.state.tokens += tokens
        self.state.seconds += seconds
        totals.update(
            batch_metrics(micro, acc),
            lr=lr,
            grad_norm=grad_norm,
            step_seconds=seconds,
            tokens_per_s=tokens * acc.num_processes / max(seconds, 1e-9),
            completion_tokens_per_s=step_tokens * acc.num_processes / max(seconds, 1e-9),
        )
        if self.state.nonfinite_steps:  # skipped steps so far (this one too, when it was)
            totals["nonfinite_steps"] = float(self.state.nonfinite_steps)
        totals = mean_over_processes(totals, acc)
        self.log.step(self.state.step, totals)
        self._stop_if_diverged()
        if self.state.step % cfg.completions_steps == 0:
            self.log.completions(self.state.step, micro, self.policy.model)
        if self.state.step % cfg.save_steps == 0:
            # a checkpoint between two passes over a batch keeps the batch's pre-update log-probs
            mid = self.state.iteration < cfg.num_iterations and cfg.old_logp == "recompute"
            self._batch_cache = {"old": [None if o is None else o.cpu() for o in old]} if mid else None
            self.save_checkpoint()
        return totals

    def _finite_step(self, finite_loss: bool, grad_norm: float) -> bool:
        """Whether this step's loss and gradient are finite on every process. A step that is not is
        skipped (no optimizer update; the caller zeroes the gradients) and counted."""
        bad = torch.tensor(
            float(not (finite_loss and math.isfinite(grad_norm))), device=self.accelerator.device
        )
        if self.accelerator.num_processes > 1:
            bad = self.accelerator.reduce(bad, "sum")
        if bad.item() == 0:
            self._nonfinite_streak = 0
            return True
        self._nonfinite_streak += 1
        self.state.nonfinite_steps += 1
        return False

    def _stop_if_diverged(self) -> None:
        limit = self.cfg.max_nonfinite_steps
        if self._nonfinite_streak >= limit:
            raise UserError(
                f"training stopped at step {self.state.step}: {self._nonfinite_streak} steps in a row had a "
                "non-finite loss or gradient (skipped, no weights written from them)",
                where=str(self.run_dir),
                fix="lower the learning rate, check the data (inf/NaN audio is quarantined as "
                "audio_nonfinite), or raise max_nonfinite_steps; the last checkpoint is intact",
            )

    @torch.no_grad()
    def _old_logps(self, micro: list[Batch]) -> list[torch.Tensor | None]:
        """The ratio's denominator per micro-batch: the sampler's stored log-probs, or the pre-update
        policy's (computed now, before the first step on this batch; None with one iteration, where the
        loss takes the current log-probs, detached, at no extra cost — as TRL does)."""
        cfg = self.cfg
        if cfg.old_logp == "sampler":
            return [sampler_logps(b) for b in micro]
        if cfg.num_iterations == 1:
            return [None] * len(micro)
        if self._batch_cache is not None:  # resumed between two iterations: the saved pre-update values
            return [None if o is None else o.to(self.accelerator.device) for o in self._batch_cache["old"]]
        out = []
        for b in micro:
            logp, audio = self.module(batch_inputs(b), self.temperature)
            if audio is not None and not cfg.train_audio:
                b.audio_embeds = audio
            out.append(logp)
        return out

    @torch.no_grad()
    def _reference_logps(self, b: Batch) -> torch.Tensor:
        if self.reference is None:  # LoRA: the same weights with the adapter switched off
            with self.unwrapped.net.disable_adapter():
                logp, _ = self.module(batch_inputs(b), self.temperature)
            return logp
        with self.accelerator.autocast():
            logp, _ = self.reference(batch_inputs(b), self.temperature)
        return logp

    # ======================================================================================= the loop
    def run_stream(
        self, groups: Sequence[Group], n_batches: int, stream: str, on_step: OnStep | None = None
    ) -> list[dict[str, float]]:
        """Train on batches [state.batch, n_batches) of `stream` (a seeded order over `groups`), stopping
        early at `total_steps`."""
        if self.state.stream != stream:
            self.state.stream, self.state.batch, self.state.iteration = stream, 0, 0
        history = []
        while self.state.batch < n_batches and not self.done:
            batch = batch_groups(groups, self.state.batch, self.groups_per_batch, self.cfg.seed, stream)
            for metrics in self.train_batch(batch):
                history.append(metrics)
                if on_step is not None:
                    on_step(self.state, metrics)
        return history

    def close(self) -> None:
        self.log.close()
        self.accelerator.free_memory()


def sampling_warnings(cfg: TrainConfig, sampling: SamplingInfo) -> list[str]:
    """Settings under which the GRPO ratio compares two different distributions."""
    out = []
    if cfg.method == "grpo" and cfg.temperature is not None and cfg.temperature != sampling.temperature:
        out.append(
            f"log-probs at temperature {cfg.temperature}, but the completions were sampled at "
            f"{sampling.temperature}: the ratio compares two different distributions"
        )
    if cfg.method == "grpo" and cfg.old_logp == "sampler" and sampling.top_p < 1:
        out.append(
            f"the sampler's log-probs are of its top-p {sampling.top_p} nucleus, the trainer's of the "
            "full distribution: the ratio starts above 1 (old_logp: recompute avoids this)"
        )
    return out


# ==================================================================================== entry points
def total_steps_for(cfg: TrainConfig, n_groups: int, processes: int = 1) -> int:
    """Optimizer steps of an offline run: `max_steps`, or `num_epochs` passes x `num_iterations`."""
    if cfg.max_steps is not None:
        return cfg.max_steps
    batches = math.ceil(cfg.num_epochs * n_groups / cfg.groups_per_step(processes))
    return max(1, batches) * cfg.num_iterations


def train(trainer: Trainer, groups: Sequence[Group], on_step: OnStep | None = None) -> list[dict[str, float]]:
    """An offline run over fixed groups to `trainer.total_steps`, resuming where the run folder left off,
    with a final checkpoint."""
    n_batches = math.ceil(trainer.total_steps / trainer.cfg.num_iterations)
    history = trainer.run_stream(groups, n_batches, "offline", on_step)
    if not trainer.checkpoints() or trainer.checkpoints()[-1].name != f"step-{trainer.state.step:06d}":
        trainer.save_checkpoint()
    return history


def train_round(
    trainer: Trainer, groups: Sequence[Group], round_index: int, on_step: OnStep | None = None
) -> list[dict[str, float]]:
    """One online round: a seeded pass over this round's `groups` (ceil(len / groups per batch) batches,
    `num_iterations` steps each), continuing the policy, optimizer and schedule in memory. The state's
    stream is `round-<round_index>`, so a run resumed from a checkpoint knows its round and position."""
    n_batches = math.ceil(len(groups) / trainer.groups_per_batch)
    return trainer.run_stream(groups, n_batches, f"round-{round_index}", on_step)


def average_run(
    run_dir: Path, cfg: TrainConfig, model: str, sampling: SamplingInfo, accelerator: Any = None
) -> Path:
    """`policy-avg/` of a finished run, made from its checkpoints without training (a later
    `average_last` on an up-to-date run). Every process calls it."""
    trainer = Trainer(
        cfg,
        run_dir,
        model=model,
        sampling=sampling,
        total_steps=1,
        family=cfg.family,
        accelerator=accelerator,
    )
    try:
        if not trainer.checkpoints():
            raise UserError(f"run {run_dir} has no checkpoints to average")
        return trainer.average_into(run_dir / "policy-avg", cfg.average_last)
    finally:
        trainer.close()


__all__ = [
    "Trainer",
    "TrainState",
    "average_run",
    "make_accelerator",
    "lr_multiplier",
    "sampling_warnings",
    "total_steps_for",
    "train",
    "train_round",
]
