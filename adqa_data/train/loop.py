"""The training loop, readable top to bottom: setup, one batch of GRPO (or SFT), the loop over batches,
checkpoints, export. No callbacks: what happens at a step is written where it happens.

One job, kept in one module (hence its length): the training loop, kept in one file on purpose so it reads top to bottom.

A batch is `micro_batch_groups x gradient_accumulation_steps x processes` whole groups, taken from an
endless stream of seeded epochs (`data.batch_groups`), so every batch is full and a run's data order
depends only on the seed. Each batch gets `num_iterations` optimizer steps (GRPO's mu): the ratio
pi_theta / pi_old is 1 on the first (up to the sampler's rounding, when old = the stored sampler
log-probs) and moves from the second on. Gradient accumulation, DDP and DeepSpeed go through
accelerate's `Accelerator` (`accelerate launch --config_file pipelines/accelerate/zero3.yaml ...`).

Checkpoints (`<run>/checkpoints/step-NNNNNN/`): the trainable weights (`trainable.safetensors`: the full
decoder and head, or the LoRA adapter only), optimizer, scheduler, every process's RNG state and the
data position (stream, batch, iteration — and the batch's recomputed old log-probs when a checkpoint
falls between two iterations of one batch). Resuming from one gives the same next step as the run that
wrote it never stopped (tested exactly). Under DeepSpeed the optimizer and RNG go through
`accelerator.save_state`, which knows the sharded layout. Reading them back (no pickled code, a broken
newest one skipped, the logs cut back to the resumed step) is `checkpoint_files`'.

Non-finite steps: a step whose loss or gradient is inf/NaN on any process is skipped (no optimizer or
schedule step, gradients zeroed) and counted; `max_nonfinite_steps` in a row stop the run, and weights
that are not finite are never written (checkpoint or policy).

Online rounds: `train_round(trainer, groups, round_index)` trains one pass over a round's groups with
the policy kept in memory; `Trainer.export_policy(dir)` writes weights a rollout backend can load.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic_files import append_text, ensure_folder, write_atomic, write_text_atomic
from ..errors import UserError
from ..inference.factory import default_device
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
from .data import Batch, Collator, Group, SamplingInfo, batch_groups
from .loss import policy_loss, truncated_importance_weights
from .policy import LoadedPolicy, PolicyModule, batch_inputs, load_policy, load_reference


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


# =========================================================================================== setup
def lr_multiplier(step: int, total: int, cfg: TrainConfig) -> float:
    """The schedule as the HF trainers define it: linear warm-up from 0 over ceil(warmup_ratio x total)
    steps, then cosine (or linear) decay to `min_lr_ratio`, or constant."""
    warm = math.ceil(cfg.warmup_ratio * total)
    if step < warm:
        return step / max(1, warm)
    if cfg.lr_scheduler == "constant":
        return 1.0
    progress = min(1.0, (step - warm) / max(1, total - warm))
    decay = 0.5 * (1.0 + math.cos(math.pi * progress)) if cfg.lr_scheduler == "cosine" else 1.0 - progress
    return cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * decay


def make_accelerator(cfg: TrainConfig) -> Any:
    """The run's `Accelerator`: one process, or what `accelerate launch` set up (DDP, DeepSpeed). bf16
    autocast on a GPU unless precision says otherwise; accumulation steps as configured."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    device = default_device(cfg.device)
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device == "cuda")
    acc = Accelerator(
        cpu=device == "cpu",
        mixed_precision="bf16" if bf16 else "no",
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=cfg.train_audio)],
    )
    plugin = acc.state.deepspeed_plugin
    if plugin is not None:  # no dataloader is prepared: DeepSpeed learns the batch layout from us
        plugin.deepspeed_config.update(
            train_micro_batch_size_per_gpu=cfg.micro_batch_groups,
            gradient_accumulation_steps=cfg.gradient_accumulation_steps,
            gradient_clipping=cfg.max_grad_norm,
        )
        acc.gradient_accumulation_steps = cfg.gradient_accumulation_steps
    return acc


class Trainer:
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
        if cfg.method == "grpo" and cfg.temperature is not None and cfg.temperature != sampling.temperature:
            warnings.warn(
                f"log-probs at temperature {cfg.temperature}, but the completions were sampled at "
                f"{sampling.temperature}: the ratio compares two different distributions",
                stacklevel=2,
            )
        if cfg.method == "grpo" and cfg.old_logp == "sampler" and sampling.top_p < 1:
            warnings.warn(
                f"the sampler's log-probs are of its top-p {sampling.top_p} nucleus, the trainer's of the "
                "full distribution: the ratio starts above 1 (old_logp: recompute avoids this)",
                stacklevel=2,
            )
        # the KL reference: the base with the adapter disabled (LoRA), else a frozen copy of the start
        self.reference: PolicyModule | None = None
        if cfg.method == "grpo" and cfg.beta != 0 and not cfg.lora:
            self.reference = load_reference(
                model,
                family=family,
                device=str(acc.device),
                attn_implementation=cfg.attn_implementation,
                dtype="bfloat16" if acc.mixed_precision == "bf16" else "float32",
            )
        params = [p for p in self.policy.module.parameters() if p.requires_grad]
        decay = [p for p in params if p.dim() >= 2]
        no_decay = [p for p in params if p.dim() < 2]  # biases and norms, as the HF trainers do
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=cfg.learning_rate,
            betas=(cfg.adam_beta1, cfg.adam_beta2),
            eps=cfg.adam_epsilon,
        )
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
    def unwrapped(self) -> PolicyModule:
        return self.accelerator.unwrap_model(self.module)

    # ======================================================================================= one batch
    def train_batch(self, groups: Sequence[Group]) -> list[dict[str, float]]:
        """`num_iterations` optimizer steps on one batch of whole groups (from `state.iteration` on, when
        resuming); returns each step's metrics."""
        cfg, acc = self.cfg, self.accelerator
        per_process = len(groups) // acc.num_processes
        mine = list(groups[acc.process_index * per_process : (acc.process_index + 1) * per_process])
        m = cfg.micro_batch_groups
        started = time.perf_counter()  # a step's time includes collation and the old and reference passes
        micro = [self.collate(mine[i : i + m]).to(acc.device) for i in range(0, len(mine), m)]
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
                _accumulate(
                    totals,
                    {"loss": float(loss.detach()) / cfg.gradient_accumulation_steps, **metrics},
                    len(micro),
                )
            grad_norm = acc.clip_grad_norm_(self.module.parameters(), cfg.max_grad_norm)
            lr = self.scheduler.get_last_lr()[0]
            if self._finite_step(finite_loss, _float(grad_norm)):
                self.optimizer.step()
                self.scheduler.step()  # not on a skipped step, as the HF trainers do
            self.optimizer.zero_grad(set_to_none=True)
            self.state.step += 1
            self.state.iteration += 1
            seconds = time.perf_counter() - started
            tokens = sum(b.tokens for b in micro)
            self.state.tokens += tokens
            self.state.seconds += seconds
            totals.update(
                self._batch_metrics(micro),
                lr=lr,
                grad_norm=_float(grad_norm),
                step_seconds=seconds,
                tokens_per_s=tokens * acc.num_processes / max(seconds, 1e-9),
                completion_tokens_per_s=step_tokens * acc.num_processes / max(seconds, 1e-9),
            )
            if self.state.nonfinite_steps:  # skipped steps so far (this one too, when it was)
                totals["nonfinite_steps"] = float(self.state.nonfinite_steps)
            totals = self._mean_over_processes(totals)
            history.append(totals)
            self.log.step(self.state.step, totals)
            self._stop_if_diverged()
            if self.state.step % cfg.completions_steps == 0:
                self.log.completions(self.state.step, micro, self.policy.model)
            if self.state.step % cfg.save_steps == 0:
                # a checkpoint between two passes over a batch keeps the batch's pre-update log-probs
                mid = self.state.iteration < cfg.num_iterations and cfg.old_logp == "recompute"
                self._batch_cache = {"old": [None if o is None else o.cpu() for o in old]} if mid else None
                self.save_checkpoint()
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
        """One micro-batch's loss as handed to `accelerator.backward` (which divides by the accumulation
        steps), and its metrics. GRPO: `policy_loss`, with dapo's denominator the whole step's tokens (so
        the division is undone for it, as TRL does). SFT: the negative log-likelihood, every token of the
        step weighing the same."""
        cfg = self.cfg
        if cfg.method == "sft":
            nll = -(logp * b.mask).sum()
            tokens = b.mask.sum().clamp(min=1)
            return nll / max(step_tokens, 1.0) * cfg.gradient_accumulation_steps, {
                "nll": float(nll.detach() / tokens)
            }
        weights = None
        if cfg.importance_sampling != "none":  # trainer / sampler, bounded: the sampler-mismatch correction
            trainer_old = old if old is not None else logp.detach()
            weights = truncated_importance_weights(
                trainer_old,
                self._sampler_logps(b),
                b.mask,
                cap=cfg.importance_cap,
                mode=cfg.importance_sampling,
            )
        loss, metrics = policy_loss(
            logp,
            old,
            b.advantages,
            b.mask,
            loss_type=cfg.loss_type,
            epsilon_low=cfg.epsilon,
            epsilon_high=cfg.epsilon_high,
            beta=cfg.beta,
            ref_logp=ref,
            max_completion_length=cfg.max_completion_length or self.sampling.max_new_tokens,
            num_items_in_batch=step_tokens if cfg.loss_type == "dapo" else None,
            importance_weights=weights,
            kl_bias_correction=cfg.kl_bias_correction,
        )
        return (loss * cfg.gradient_accumulation_steps if cfg.loss_type == "dapo" else loss), metrics

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

    def _sampler_logps(self, b: Batch) -> torch.Tensor:
        if b.sampler_logp is None:
            raise UserError(
                "these completions carry no sampler log-probs (scripted rollouts, SFT targets)",
                fix="train with old_logp: recompute and no importance sampling",
            )
        return b.sampler_logp

    @torch.no_grad()
    def _old_logps(self, micro: list[Batch]) -> list[torch.Tensor | None]:
        """The ratio's denominator per micro-batch: the sampler's stored log-probs, or the pre-update
        policy's (computed now, before the first step on this batch; None with one iteration, where the
        loss takes the current log-probs, detached, at no extra cost — as TRL does)."""
        cfg = self.cfg
        if cfg.old_logp == "sampler":
            return [self._sampler_logps(b) for b in micro]
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

    def _batch_metrics(self, micro: list[Batch]) -> dict[str, float]:
        """Reward, advantage, length and zero-signal statistics of the whole step, over every process."""
        rewards = torch.cat([b.rewards for b in micro]).double()
        adv = torch.cat([b.advantages for b in micro]).double()
        lengths = torch.cat([b.mask.sum(-1) for b in micro]).double()
        groups = {g.group_id: g.zero_signal for b in micro for g, _ in b.refs}
        sums = torch.tensor(
            [
                rewards.numel(),
                rewards.sum(),
                (rewards**2).sum(),
                adv.abs().sum(),
                lengths.sum(),
                len(groups),
                sum(groups.values()),
            ],
            dtype=torch.float64,
            device=self.accelerator.device,
        )
        n, r, r2, a, length, g, zero = self.accelerator.reduce(sums, "sum").tolist()
        var = (r2 - r * r / n) / (n - 1) if n > 1 else 0.0  # the sample variance, as advantages use
        return {
            "reward": r / n,
            "reward_std": math.sqrt(max(var, 0.0)),
            "advantage_abs": a / n,
            "completion_length": length / n,
            "zero_signal_share": zero / max(g, 1),
        }

    def _mean_over_processes(self, metrics: dict[str, float]) -> dict[str, float]:
        if self.accelerator.num_processes == 1:
            return metrics
        keys = sorted(metrics)
        values = torch.tensor([metrics[k] for k in keys], dtype=torch.float64, device=self.accelerator.device)
        values = self.accelerator.reduce(values, "mean")
        return dict(zip(keys, values.tolist()))

    # ======================================================================================= the loop
    @property
    def done(self) -> bool:
        return self.state.step >= self.total_steps

    def run_stream(
        self,
        groups: Sequence[Group],
        n_batches: int,
        stream: str,
        on_step: Callable[[TrainState, dict[str, float]], None] | None = None,
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

    # ================================================================================== checkpoints
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

    def close(self) -> None:
        self.log.close()
        self.accelerator.free_memory()


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


# ==================================================================================== entry points
def total_steps_for(cfg: TrainConfig, n_groups: int, processes: int = 1) -> int:
    """Optimizer steps of an offline run: `max_steps`, or `num_epochs` passes x `num_iterations`."""
    if cfg.max_steps is not None:
        return cfg.max_steps
    batches = math.ceil(cfg.num_epochs * n_groups / cfg.groups_per_step(processes))
    return max(1, batches) * cfg.num_iterations


def train(
    trainer: Trainer,
    groups: Sequence[Group],
    on_step: Callable[[TrainState, dict[str, float]], None] | None = None,
) -> list[dict[str, float]]:
    """An offline run over fixed groups to `trainer.total_steps`, resuming where the run folder left off,
    with a final checkpoint."""
    n_batches = math.ceil(trainer.total_steps / trainer.cfg.num_iterations)
    history = trainer.run_stream(groups, n_batches, "offline", on_step)
    if not trainer.checkpoints() or trainer.checkpoints()[-1].name != f"step-{trainer.state.step:06d}":
        trainer.save_checkpoint()
    return history


def train_round(
    trainer: Trainer,
    groups: Sequence[Group],
    round_index: int,
    on_step: Callable[[TrainState, dict[str, float]], None] | None = None,
) -> list[dict[str, float]]:
    """One online round: a seeded pass over this round's `groups` (ceil(len / groups per batch) batches,
    `num_iterations` steps each), continuing the policy, optimizer and schedule in memory. The state's
    stream is `round-<round_index>`, so a run resumed from a checkpoint knows its round and position."""
    n_batches = math.ceil(len(groups) / trainer.groups_per_batch)
    return trainer.run_stream(groups, n_batches, f"round-{round_index}", on_step)


# ========================================================================================= logging
class MetricsLog:
    """`metrics.jsonl` in the run folder, an optional tracker (trackio, wandb), and completions tables
    (`completions/step-NNNNNN.parquet`). Only the main process writes."""

    def __init__(self, run_dir: Path, cfg: TrainConfig, main: bool, name: str):
        self.run_dir, self.cfg, self.main, self.name = run_dir, cfg, main, name
        self.tracker: Any = None
        if main and cfg.report_to != "none":
            self.tracker = _tracker(cfg.report_to)
            self.tracker.init(project=cfg.project, name=name, config=cfg.model_dump())

    def step(self, step: int, metrics: dict[str, float]) -> None:
        if not self.main or step % self.cfg.logging_steps:
            return
        line = json.dumps({"step": step, **{k: _round(v) for k, v in metrics.items()}}) + "\n"
        append_text(self.run_dir / "metrics.jsonl", line, inside=self.run_dir)
        if self.tracker is not None:
            self.tracker.log(metrics, step=step)

    def completions(self, step: int, micro: list[Batch], model: Any) -> None:
        """A small table of what the policy was trained on at this step."""
        if not self.main:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = []
        for b in micro:
            for g, c in b.refs:
                rows.append(
                    {
                        "step": step,
                        "group_id": g.group_id,
                        "item_id": g.item_id,
                        "prompt": g.prompt or g.question,
                        "completion": c.text,
                        "reward": c.reward,
                        "advantage": c.advantage,
                        "completion_length": len(c.token_ids or []),
                        **{k: v for k, v in c.rewards.items()},
                    }
                )
        table = pa.Table.from_pylist(rows)
        out = self.run_dir / "completions" / f"step-{step:06d}.parquet"
        write_atomic(out, lambda f: pq.write_table(table, f), inside=self.run_dir)

    def close(self) -> None:
        if self.tracker is not None:
            self.tracker.finish()
            self.tracker = None


def _tracker(kind: str) -> Any:
    try:
        return __import__(kind)
    except ImportError:
        raise UserError(
            f"--report-to {kind} needs the Python package '{kind}'", fix=f"pip install {kind}"
        ) from None


# ========================================================================================= helpers
def _accumulate(totals: dict[str, float], metrics: dict[str, float], n: int) -> None:
    """Mean of per-micro-batch metrics (the loss is summed: it is already divided by the step's size)."""
    for k, v in metrics.items():
        if isinstance(v, float) and math.isnan(v):
            continue
        totals[k] = totals.get(k, 0.0) + (v if k == "loss" else v / n)


def _float(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _round(x: float) -> float:
    return float(f"{x:.6g}") if isinstance(x, float) and math.isfinite(x) else x


__all__ = [
    "Trainer",
    "TrainState",
    "make_accelerator",
    "average_checkpoints",
    "export_weights",
    "lr_multiplier",
    "total_steps_for",
    "train",
    "train_round",
]
