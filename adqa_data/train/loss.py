"""The GRPO policy loss as a pure function of per-token log-probs, so it can be checked on its own.

It computes what TRL 1.16's `GRPOTrainer._compute_loss` computes for the loss types grpo, bnpo, dr_grpo
and dapo with token-level importance ratios (the tests hold it to TRL to 1e-6, gradients included).
Per completion token t of sequence i, with r = exp(logp - old_logp) and A_i the sequence's advantage:

    loss_t = -min(r * A_i, clip(r, 1 - eps_low, 1 + eps_high) * A_i) * w_t  +  beta * kl_t
    kl_t   = exp(ref - logp) - (ref - logp) - 1       (the k3 estimator of KL(pi || ref): unbiased, >= 0)
             multiplied by r when kl_bias_correction  (TRL's use_bias_correction_kl, on by default)

`step_loss` is the trainer's call: one micro-batch's loss under a `TrainConfig` (GRPO, or SFT's negative
log-likelihood), the importance weights computed from the batch's stored sampler log-probs.

`w_t` are optional importance weights for the mismatch between the sampler (e.g. vLLM) and the trainer;
they scale the policy term only, never the KL. The loss types differ only in how token losses are
averaged, and that decides how much each token weighs:

- grpo: mean over each sequence's tokens, then over sequences. Every sequence weighs the same, so a token
  of a short sequence weighs more than one of a long sequence: short right answers and long wrong ones
  are favoured (the length bias the Dr. GRPO and DAPO papers point out).
- bnpo: token sum / masked tokens in this batch. Tokens weigh the same within a batch, but the value
  depends on how an optimizer step is split into micro-batches.
- dr_grpo: token sum / (B * max_completion_length), a constant: no length bias (Dr. GRPO paper).
- dapo: token sum / tokens in the global batch (all micro-batches of an optimizer step, on all
  processes), so every token of the step weighs the same whatever the split (DAPO paper).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from ..core.errors import UserError
from .config import IMPORTANCE_MODES, LOSS_TYPES, ImportanceMode, LossType

if TYPE_CHECKING:  # pragma: no cover
    from .collate import Batch
    from .config import TrainConfig


def _check_2d(name: str, t: torch.Tensor, shape: tuple[int, int] | None, what: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of {what}, got {type(t).__name__}")
    if t.dim() != 2 or (shape is not None and tuple(t.shape) != shape):
        expected = "[B, T]" if shape is None else f"[B, T] = {list(shape)} like logp"
        raise ValueError(f"{name} ({what}) must have shape {expected}, got {list(t.shape)}")


def policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    loss_type: LossType = "grpo",
    epsilon_low: float = 0.2,
    epsilon_high: float | None = None,
    beta: float = 0.0,
    ref_logp: torch.Tensor | None = None,
    max_completion_length: int | None = None,
    num_items_in_batch: int | float | torch.Tensor | None = None,
    importance_weights: torch.Tensor | None = None,
    kl_bias_correction: bool = True,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The clipped-surrogate GRPO loss of one micro-batch, and its metrics (floats, detached).

    logp, old_logp, ref_logp, mask: [B, T] per-token log-probs of the completion tokens under the current
    policy (gradients flow only into it), the policy that sampled them (None: logp detached, i.e. on
    policy), the reference model; mask is 1 for completion tokens that count, 0 for padding.
    advantages: [B], one per sequence. epsilon_high None means epsilon_low.
    loss_type: see the module docstring; note TRL 1.16's GRPOConfig defaults to "dapo", not "grpo".
    beta: KL weight; with 0 the reference is neither needed nor read (TRL's default is 0).
    kl_bias_correction: multiply the k3 KL by the (differentiable) ratio r, which makes its gradient the
    unbiased reverse-KL gradient off policy (DeepSeek-V3.2 report). True is TRL 1.16's default
    (`use_bias_correction_kl=True`); it changes the KL gradient even on policy, where r == 1.
    importance_weights: [B, T] or [B, 1] weights on the policy term (see `truncated_importance_weights`).
    num_items_in_batch: the dapo denominator; None means this batch's masked token count (= bnpo).

    Gradient accumulation and processes, as TRL does it: the returned loss is not divided by the number
    of accumulation steps. TRL divides grpo, bnpo and dr_grpo by it; for dapo it does not, and divides the
    token sum by (tokens of the generation batch on all processes) / processes * accumulation_steps /
    steps_per_generation, i.e. the tokens of one optimizer step on all processes over the number of
    processes (DDP then averages gradients over processes). Pass that number as `num_items_in_batch`.

    Metrics (masked means over tokens, TRL's names): clip_ratio/low_mean (r < 1 - eps_low with A < 0),
    clip_ratio/high_mean (r > 1 + eps_high with A > 0), clip_ratio/region_mean (either),
    clip_ratio/low_min and clip_ratio/high_max (over sequences of the per-sequence fraction; NaN when no
    sequence has a token), ratio_mean (r), and, when beta != 0, kl (the per-token KL term as it enters
    the loss before beta, so times r under kl_bias_correction, as TRL logs it).

    Tokens with mask 0 never contribute, to the value or to any gradient, even if their log-probs are
    inf or NaN (they are replaced before use; where TRL would turn those into NaN this does not).
    """
    _check_2d("logp", logp, None, "current per-token log-probs")
    if not logp.is_floating_point():
        raise ValueError(f"logp must be a floating-point tensor, got {logp.dtype}")
    shape = (logp.shape[0], logp.shape[1])
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(
            f"logp is an empty batch: shape {list(shape)}, need B >= 1 sequences and T >= 1 tokens"
        )
    _check_2d("mask", mask, shape, "completion mask")
    if old_logp is not None:
        _check_2d("old_logp", old_logp, shape, "sampling-time per-token log-probs")
    if not isinstance(advantages, torch.Tensor) or tuple(advantages.shape) != (shape[0],):
        got = list(advantages.shape) if isinstance(advantages, torch.Tensor) else type(advantages).__name__
        raise ValueError(f"advantages must have shape [B] = [{shape[0]}] (one per sequence), got {got}")
    if importance_weights is not None:
        _check_2d("importance_weights", importance_weights, None, "per-token importance weights")
        if tuple(importance_weights.shape) not in (shape, (shape[0], 1)):
            raise ValueError(
                f"importance_weights must have shape [B, T] = {list(shape)} or [B, 1] = [{shape[0]}, 1], "
                f"got {list(importance_weights.shape)}"
            )
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"unknown loss_type {loss_type!r}; choose one of {', '.join(LOSS_TYPES)}")
    if loss_type == "dr_grpo" and (max_completion_length is None or max_completion_length <= 0):
        raise ValueError(
            f"loss_type 'dr_grpo' divides by B * max_completion_length: pass a positive max_completion_length "
            f"(got {max_completion_length!r})"
        )
    if beta != 0.0:
        if ref_logp is None:
            raise ValueError(f"beta={beta} weighs a KL to the reference model: pass ref_logp ([B, T])")
        _check_2d("ref_logp", ref_logp, shape, "reference per-token log-probs")
    eps_high = epsilon_low if epsilon_high is None else epsilon_high

    dtype = logp.dtype
    zero, one = torch.zeros((), dtype=dtype), torch.ones((), dtype=dtype)
    mask = mask.detach().to(dtype)
    keep = mask != 0
    # Masked positions are set to neutral values before use, so an inf or NaN there (padding scored by
    # nothing) cannot leak into the sum or the gradient through 0 * inf. Everything but logp is a
    # constant of the objective, so it is detached: gradients flow into logp only.
    logp = torch.where(keep, logp, zero)
    old = logp.detach() if old_logp is None else torch.where(keep, old_logp.detach().to(dtype), zero)
    adv = advantages.detach().to(dtype).unsqueeze(1)

    ratio = torch.exp(logp - old)
    clipped = torch.clamp(ratio, 1 - epsilon_low, 1 + eps_high)
    per_token = -torch.min(ratio * adv, clipped * adv)
    if importance_weights is not None:
        per_token = per_token * torch.where(keep, importance_weights.detach().to(dtype), one)
    kl = None
    if beta != 0.0:
        assert ref_logp is not None
        diff = torch.where(keep, ref_logp.detach().to(dtype), zero) - logp
        kl = torch.exp(diff) - diff - 1
        if kl_bias_correction:
            kl = kl * ratio
        per_token = per_token + beta * kl

    masked = per_token * mask
    if loss_type == "grpo":
        loss = (masked.sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    elif loss_type == "bnpo":
        loss = masked.sum() / mask.sum().clamp(min=1.0)
    elif loss_type == "dr_grpo":
        assert max_completion_length is not None
        loss = masked.sum() / (shape[0] * max_completion_length)
    else:  # dapo
        if num_items_in_batch is None:
            denom = mask.sum().clamp(min=1.0)
        else:
            denom = torch.as_tensor(num_items_in_batch, dtype=dtype, device=logp.device).clamp(min=1.0)
        loss = masked.sum() / denom

    return loss, _metrics(
        ratio.detach(), adv, mask, epsilon_low, eps_high, None if kl is None else kl.detach()
    )


def _metrics(
    ratio: torch.Tensor,
    adv: torch.Tensor,
    mask: torch.Tensor,
    eps_low: float,
    eps_high: float,
    kl: torch.Tensor | None,
) -> dict[str, float]:
    def token_mean(x: torch.Tensor) -> float:
        return float((x * mask).sum() / mask.sum().clamp(min=1.0))

    def seq_fractions(x: torch.Tensor) -> torch.Tensor:
        counts = mask.sum(-1)
        return torch.where(counts > 0, (x * mask).sum(-1) / counts.clamp(min=1.0), float("nan"))

    def nan_reduce(x: torch.Tensor, fn) -> float:
        x = x[~torch.isnan(x)]
        return float(fn(x)) if x.numel() else math.nan

    low = ((ratio < 1 - eps_low) & (adv < 0)).to(mask.dtype)
    high = ((ratio > 1 + eps_high) & (adv > 0)).to(mask.dtype)
    metrics = {
        "clip_ratio/low_mean": token_mean(low),
        "clip_ratio/high_mean": token_mean(high),
        "clip_ratio/region_mean": token_mean(torch.maximum(low, high)),
        "clip_ratio/low_min": nan_reduce(seq_fractions(low), torch.min),
        "clip_ratio/high_max": nan_reduce(seq_fractions(high), torch.max),
        "ratio_mean": token_mean(ratio),
    }
    if kl is not None:
        metrics["kl"] = token_mean(kl)
    return metrics


@torch.no_grad()
def truncated_importance_weights(
    trainer_old_logp: torch.Tensor,
    sampler_logp: torch.Tensor,
    mask: torch.Tensor,
    cap: float | None = 3.0,
    mode: ImportanceMode = "sequence_mask",
    cap_min: float | None = None,
) -> torch.Tensor:
    """Weights [B, T] that correct for sampling with another engine than the trainer (e.g. vLLM).

    The sampler's log-probs differ from the trainer's on the same tokens (kernels, precision), so the
    completions are off policy for the trainer. The ratio rho = pi_trainer / pi_sampler, taken per token
    (`token_*`) or per sequence as exp(sum of the token log-ratios) (`sequence_*`, broadcast to every
    token), is bounded to [cap_min, cap]: `*_truncate` clamps it there, `*_mask` sets it to 0 outside.
    This is TRL 1.16's `vllm_importance_sampling_correction`, and the defaults are its defaults
    (mode "sequence_mask", clip_max 3.0, clip_min None). Tokens with mask 0, or whose sampler log-prob
    is NaN (a token the sampler could not score), get a log-ratio of 0. The result carries no gradient.
    """
    _check_2d("trainer_old_logp", trainer_old_logp, None, "trainer per-token log-probs at sampling time")
    shape = (trainer_old_logp.shape[0], trainer_old_logp.shape[1])
    _check_2d("sampler_logp", sampler_logp, shape, "sampler per-token log-probs")
    _check_2d("mask", mask, shape, "completion mask")
    if mode not in IMPORTANCE_MODES:
        raise ValueError(
            f"unknown importance sampling mode {mode!r}; choose one of {', '.join(IMPORTANCE_MODES)}"
        )
    if mode.endswith("_truncate") and cap is None and cap_min is None:
        raise ValueError(f"mode {mode!r} truncates to [cap_min, cap]: set at least one of them")
    if cap is not None and cap_min is not None and cap_min >= cap:
        raise ValueError(f"cap_min ({cap_min}) must be less than cap ({cap})")

    diff = (trainer_old_logp - sampler_logp) * mask.to(trainer_old_logp.dtype)
    diff = torch.nan_to_num(diff, nan=0.0)
    if mode.startswith("sequence_"):
        diff = diff.sum(dim=-1, keepdim=True)
    rho = torch.exp(diff)
    if mode.endswith("_truncate"):
        rho = torch.clamp(rho, min=cap_min, max=cap)
    else:
        low = -math.inf if cap_min is None else cap_min
        high = math.inf if cap is None else cap
        rho = rho.masked_fill((rho < low) | (rho > high), 0.0)
    return rho.expand(shape).contiguous()


# ------------------------------------------------------------------------------------ the trainer's call
def step_loss(
    cfg: TrainConfig,
    b: Batch,
    logp: torch.Tensor,
    old: torch.Tensor | None,
    ref: torch.Tensor | None,
    step_tokens: float,
    max_completion_length: int | None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """One micro-batch's loss as handed to `accelerator.backward` (which divides by the accumulation
    steps), and its metrics. GRPO: `policy_loss`, with dapo's denominator the whole step's tokens (so
    the division is undone for it, as TRL does). SFT: the negative log-likelihood, every token of the
    step weighing the same. `max_completion_length`: dr_grpo's denominator when the config has none."""
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
            sampler_logps(b),
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
        max_completion_length=cfg.max_completion_length or max_completion_length,
        num_items_in_batch=step_tokens if cfg.loss_type == "dapo" else None,
        importance_weights=weights,
        kl_bias_correction=cfg.kl_bias_correction,
    )
    return (loss * cfg.gradient_accumulation_steps if cfg.loss_type == "dapo" else loss), metrics


def sampler_logps(b: Batch) -> torch.Tensor:
    """The batch's stored sampler log-probs; an error naming the fix when the completions carry none."""
    if b.sampler_logp is None:
        raise UserError(
            "these completions carry no sampler log-probs (scripted rollouts, SFT targets)",
            fix="train with old_logp: recompute and no importance sampling",
        )
    return b.sampler_logp
