"""What a run is built from besides the policy: the accelerator, the optimizer and its schedule.

Gradient accumulation, DDP and DeepSpeed go through accelerate's `Accelerator` (`accelerate launch
--config_file pipelines/accelerate/zero3.yaml ...`); the optimizer is AdamW with weight decay on matrices
only and the schedule the HF trainers define (warm-up, then cosine or linear decay, or constant).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..inference.factory import default_device
from .config import TrainConfig


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


def make_optimizer(module: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters; biases and norms without weight decay, as the HF trainers do."""
    params = [p for p in module.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.learning_rate,
        betas=(cfg.adam_beta1, cfg.adam_beta2),
        eps=cfg.adam_epsilon,
    )
