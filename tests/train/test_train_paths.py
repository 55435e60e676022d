"""Trainer paths that a wrong implementation would pass silently: each test here was checked once against
a planted bug (named in its docstring) and fails with it.

- the clip-higher bound of the loss (held otherwise only by the TRL comparison, skipped without TRL);
- `old_logp: recompute` with several iterations computes the pre-update log-probs (else the ratio stays 1
  and clipping is silently off);
- truncated importance sampling weighs the policy term by trainer / sampler, bounded (not inverted, not
  dropped);
- `max_grad_norm` bounds the gradient the optimizer steps with.
"""

from __future__ import annotations

import pytest
import torch
from support.train import _trainer  # `tiny` and `tws`: tests/train/conftest.py

from adqa_data.train.loss import policy_loss, truncated_importance_weights
from adqa_data.train.policy import batch_inputs


# ------------------------------------------------------------------------------------------- no model
@pytest.mark.parametrize("advantage", [1.0, -1.0])
def test_clip_higher_bound_is_its_own(advantage):
    """Planted: epsilon_high ignored (eps_low used on both sides). A ratio between 1 + eps_low and
    1 + eps_high with a positive advantage is inside the trust region (gradient flows); above 1 + eps_high
    it is clipped (no gradient). With a negative advantage the low bound is eps_low whatever eps_high is."""
    old = torch.zeros(1, 4)
    mask = torch.ones(1, 4)
    adv = torch.tensor([advantage])
    # ratios 1.1 (inside both), 1.25 (between 1.2 and 1.3), 1.35 (above 1.3), 0.75 (below 0.8)
    logp = torch.log(torch.tensor([[1.1, 1.25, 1.35, 0.75]])).requires_grad_()
    loss, metrics = policy_loss(logp, old, adv, mask, epsilon_low=0.2, epsilon_high=0.3)
    loss.backward()
    flows = (logp.grad.abs() > 0).squeeze(0).tolist()
    if advantage > 0:  # min(rA, clip(r)A): clipped above 1 + eps_high only
        assert flows == [True, True, False, True]
        assert metrics["clip_ratio/high_mean"] == pytest.approx(0.25)
    else:  # clipped below 1 - eps_low only
        assert flows == [True, True, True, False]
        assert metrics["clip_ratio/low_mean"] == pytest.approx(0.25)
    # the same ratios with a symmetric 0.2: the 1.25 token is clipped too when A > 0
    logp2 = logp.detach().clone().requires_grad_()
    policy_loss(logp2, old, adv, mask, epsilon_low=0.2, epsilon_high=None)[0].backward()
    assert bool(logp2.grad[0, 1].abs() > 0) is (advantage < 0)


# ------------------------------------------------------------------------------------ tiny model paths
@pytest.mark.slow
def test_recomputed_old_logps_make_the_second_iteration_off_policy(tws, tmp_path):  # noqa: F811
    """Planted: `_old_logps` returning None for `old_logp: recompute` (the loss then takes the current
    log-probs detached, so the ratio is 1 on every iteration and clipping never acts)."""
    trainer, groups = _trainer(
        tws,
        tmp_path / "run",
        old_logp="recompute",
        num_iterations=2,
        max_steps=2,
        micro_batch_groups=2,
        rewards={"test_train:parity": 1.0},
    )
    history = trainer.run_stream(groups, 1, "offline")
    assert len(history) == 2
    assert history[0]["ratio_mean"] == pytest.approx(1.0, abs=1e-6)  # before any update: on policy
    assert abs(history[1]["ratio_mean"] - 1.0) > 1e-4  # the pre-update policy is the denominator


@pytest.mark.slow
def test_importance_weights_are_trainer_over_sampler_and_reach_the_loss(tws, tmp_path):  # noqa: F811
    """Planted: the weights inverted (sampler / trainer), or computed and not passed to the loss. The
    trainer's micro-batch loss equals `policy_loss` with exp(trainer - sampler) truncated at the cap."""
    trainer, groups = _trainer(
        tws,
        tmp_path / "run",
        old_logp="recompute",
        importance_sampling="token_truncate",
        importance_cap=2.0,
        max_steps=1,
        micro_batch_groups=2,
        rewards={"test_train:parity": 1.0},
    )
    b = trainer.collate(groups[:2])
    with torch.no_grad():
        logp, _ = trainer.module(batch_inputs(b), trainer.temperature)
    # a sampler that disagrees with the trainer, by tokens in both directions (within and past the cap)
    shift = torch.linspace(-1.0, 1.0, logp.shape[1]).expand_as(logp)
    b.sampler_logp = logp + shift
    got, _ = trainer.loss(b, logp, None, None, float(b.mask.sum()))
    weights = truncated_importance_weights(logp, b.sampler_logp, b.mask, cap=2.0, mode="token_truncate")
    assert not torch.allclose(weights * b.mask, b.mask)  # the weights do matter here
    want, _ = _reference_loss(trainer, b, logp, weights)
    assert float(got) == pytest.approx(float(want), rel=1e-6, abs=1e-9)
    inverted = truncated_importance_weights(b.sampler_logp, logp, b.mask, cap=2.0, mode="token_truncate")
    assert float(got) != pytest.approx(float(_reference_loss(trainer, b, logp, inverted)[0]), rel=1e-4)
    assert float(got) != pytest.approx(float(_reference_loss(trainer, b, logp, None)[0]), rel=1e-4)


@pytest.mark.slow
def test_max_grad_norm_bounds_the_stepped_gradient(tws, tmp_path):  # noqa: F811
    """Planted: `max_grad_norm` not passed to the clipping call. The gradient norm the optimizer sees is
    at most `max_grad_norm`, while the logged (pre-clip) norm is larger."""
    trainer, groups = _trainer(
        tws,
        tmp_path / "run",
        max_grad_norm=1e-3,
        max_steps=1,
        micro_batch_groups=2,
        rewards={"test_train:parity": 1.0},
    )
    seen: list[float] = []
    step = trainer.optimizer.step

    def spy(*args, **kwargs):
        grads = [p.grad.detach().flatten() for p in trainer.module.parameters() if p.grad is not None]
        seen.append(float(torch.cat(grads).norm()))
        return step(*args, **kwargs)

    trainer.optimizer.step = spy
    history = trainer.run_stream(groups, 1, "offline")
    assert seen and history
    assert history[0]["grad_norm"] > 1e-3  # the raw gradient is larger than the bound ...
    assert seen[0] <= 1e-3 * (1 + 1e-4)  # ... and the optimizer stepped with the clipped one


def _reference_loss(trainer, b, logp, weights):
    cfg = trainer.cfg
    return policy_loss(
        logp,
        None,
        b.advantages,
        b.mask,
        loss_type=cfg.loss_type,
        epsilon_low=cfg.epsilon,
        epsilon_high=cfg.epsilon_high,
        beta=cfg.beta,
        max_completion_length=cfg.max_completion_length or trainer.sampling.max_new_tokens,
        num_items_in_batch=float(b.mask.sum()) if cfg.loss_type == "dapo" else None,
        importance_weights=weights,
        kl_bias_correction=cfg.kl_bias_correction,
    )
