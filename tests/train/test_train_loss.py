"""The GRPO policy loss: equal to TRL 1.16's GRPOTrainer._compute_loss, and the behaviour that defines it."""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch

from adqa_data.train.loss import policy_loss, truncated_importance_weights

B, T = 6, 7
LENGTHS = [7, 3, 1, 5, 0, 6]  # one empty row: it must contribute nothing anywhere
ADVANTAGES = [1.2, -0.7, 0.5, -1.5, 0.9, 0.0]


def _batch(seed: int = 0, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    old = -torch.rand(B, T, generator=g, dtype=dtype) * 3 - 0.05
    # Log-ratios of spread 0.3: many tokens fall outside 1 +- 0.2 on both sides.
    logp = old + torch.randn(B, T, generator=g, dtype=dtype) * 0.3
    ref = old + torch.randn(B, T, generator=g, dtype=dtype) * 0.2
    mask = (torch.arange(T)[None, :] < torch.tensor(LENGTHS)[:, None]).to(dtype)
    return {
        "logp": logp,
        "old": old,
        "ref": ref,
        "mask": mask,
        "adv": torch.tensor(ADVANTAGES, dtype=dtype),
        "is_token": torch.exp(torch.randn(B, T, generator=g, dtype=dtype) * 0.4).clamp(max=3.0),
        "is_seq": torch.tensor([[0.0], [1.3], [0.8], [2.5], [1.0], [0.0]], dtype=dtype),
    }


# ----------------------------------------------------------------------------------------------- TRL oracle


class _OneProcess:
    """The accelerator calls `_compute_loss` makes, for one process."""

    num_processes = 1

    def reduce(self, x, reduction="sum"):
        return x

    def gather(self, x):
        return x

    gather_for_metrics = gather


def _trl_loss(
    d,
    *,
    loss_type,
    beta=0.0,
    epsilon_high=None,
    is_ratio=None,
    bias_kl=None,
    max_completion_length=None,
    num_items=None,
    num_processes=1,
    grad_accum=1,
    steps_per_generation=1,
):
    """TRL's loss, metrics and gradient wrt the current log-probs, on the tensors of `d`."""
    from trl import GRPOConfig, GRPOTrainer

    # The attributes `_compute_loss` reads, from GRPOConfig's own defaults where it reads the config.
    defaults = {f.name: f.default for f in dataclasses.fields(GRPOConfig)}
    args = SimpleNamespace(**defaults)
    args.steps_per_generation = steps_per_generation
    if bias_kl is not None:
        args.use_bias_correction_kl = bias_kl
    trainer = object.__new__(GRPOTrainer)
    trainer.args = args
    trainer.loss_type = loss_type
    trainer.beta = beta
    trainer.epsilon_low = args.epsilon
    trainer.epsilon_high = epsilon_high if epsilon_high is not None else args.epsilon
    trainer.importance_sampling_level = args.importance_sampling_level
    trainer.top_entropy_quantile = args.top_entropy_quantile
    trainer.off_policy_mask_threshold = args.off_policy_mask_threshold
    trainer.aux_loss_enabled = False
    trainer._entropy_bonus_enabled = False
    trainer.use_vllm = is_ratio is not None
    trainer.vllm_importance_sampling_correction = is_ratio is not None
    trainer.max_completion_length = max_completion_length
    trainer.current_gradient_accumulation_steps = grad_accum
    trainer.accelerator = _OneProcess()
    trainer.accelerator.num_processes = num_processes
    trainer.model = SimpleNamespace(training=True)
    trainer._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}

    logp = d["logp"].clone().requires_grad_(True)
    trainer._get_per_token_logps_and_entropies = lambda *a, **k: (logp, torch.zeros_like(logp), None)
    inputs = {
        "prompt_ids": torch.zeros(B, 2, dtype=torch.long),
        "prompt_mask": torch.ones(B, 2, dtype=torch.long),
        "completion_ids": torch.zeros(B, T, dtype=torch.long),
        "completion_mask": d["mask"],
        "advantages": d["adv"],
        "old_per_token_logps": d["old"],
        "num_items_in_batch": torch.tensor(
            float(d["mask"].sum()) if num_items is None else float(num_items), dtype=d["logp"].dtype
        ),
    }
    if beta != 0.0:
        inputs["ref_per_token_logps"] = d["ref"]
    if is_ratio is not None:
        inputs["importance_sampling_ratio"] = is_ratio
    loss = trainer._compute_loss(None, inputs)
    loss.backward()
    metrics = {k: v[-1] for k, v in trainer._metrics["train"].items() if k != "entropy"}
    return loss.detach(), metrics, logp.grad


def _ours(d, **kw):
    logp = d["logp"].clone().requires_grad_(True)
    loss, metrics = policy_loss(logp, d["old"], d["adv"], d["mask"], **kw)
    loss.backward()
    return loss.detach(), metrics, logp.grad


def _assert_same(ours, theirs):
    (l1, m1, g1), (l2, m2, g2) = ours, theirs
    torch.testing.assert_close(l1, l2, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(g1, g2, rtol=1e-6, atol=1e-6)
    assert set(m2) <= set(m1), f"TRL logs {sorted(set(m2) - set(m1))} that we do not"
    for key in m2:
        assert m1[key] == pytest.approx(m2[key], rel=1e-6, abs=1e-6, nan_ok=True), key


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo"])
@pytest.mark.parametrize("beta", [0.0, 0.04])
@pytest.mark.parametrize("epsilon_high", [None, 0.28])
@pytest.mark.parametrize("importance", [None, "token", "sequence"])
def test_equals_trl(loss_type, beta, epsilon_high, importance):
    pytest.importorskip("trl")
    d = _batch()
    is_ratio = None if importance is None else d["is_token"] if importance == "token" else d["is_seq"]
    common = {
        "beta": beta,
        "epsilon_high": epsilon_high,
        "max_completion_length": 9 if loss_type == "dr_grpo" else None,
    }
    ours = _ours(
        d, loss_type=loss_type, ref_logp=d["ref"] if beta else None, importance_weights=is_ratio, **common
    )
    theirs = _trl_loss(d, loss_type=loss_type, is_ratio=is_ratio, **common)
    _assert_same(ours, theirs)
    if beta:
        assert ours[1]["kl"] > 0


@pytest.mark.parametrize("bias_kl", [True, False])
def test_kl_bias_correction_equals_trl(bias_kl):
    """Off policy (r != 1) both value and gradient depend on whether the KL is multiplied by r."""
    pytest.importorskip("trl")
    d = _batch(seed=1)
    ours = _ours(d, loss_type="bnpo", beta=0.1, ref_logp=d["ref"], kl_bias_correction=bias_kl)
    _assert_same(ours, _trl_loss(d, loss_type="bnpo", beta=0.1, bias_kl=bias_kl))
    other = _ours(d, loss_type="bnpo", beta=0.1, ref_logp=d["ref"], kl_bias_correction=not bias_kl)
    assert not torch.allclose(ours[0], other[0])


def test_dapo_denominator_maps_to_trls_accumulation_and_processes():
    """TRL divides dapo's token sum by num_items / processes * grad_accum / steps_per_generation."""
    pytest.importorskip("trl")
    d = _batch(seed=2)
    n_generation_batch, processes, grad_accum, spg = 500, 2, 2, 4
    theirs = _trl_loss(
        d,
        loss_type="dapo",
        num_items=n_generation_batch,
        num_processes=processes,
        grad_accum=grad_accum,
        steps_per_generation=spg,
    )
    ours = _ours(d, loss_type="dapo", num_items_in_batch=n_generation_batch / processes * grad_accum / spg)
    _assert_same(ours, theirs)


def test_defaults_are_trls_defaults():
    trl = pytest.importorskip("trl")
    fields = {f.name: f.default for f in dataclasses.fields(trl.GRPOConfig)}
    loss_params = inspect.signature(policy_loss).parameters
    assert loss_params["epsilon_low"].default == fields["epsilon"]
    assert loss_params["epsilon_high"].default == fields["epsilon_high"]
    assert loss_params["beta"].default == fields["beta"]
    assert loss_params["kl_bias_correction"].default == fields["use_bias_correction_kl"]
    is_params = inspect.signature(truncated_importance_weights).parameters
    assert is_params["mode"].default == fields["vllm_importance_sampling_mode"]
    assert is_params["cap"].default == fields["vllm_importance_sampling_clip_max"]
    assert is_params["cap_min"].default == fields["vllm_importance_sampling_clip_min"]


# ------------------------------------------------------------------------------------------------ behaviour


def test_on_policy_grpo_is_minus_mean_advantage_and_bnpo_weighs_tokens():
    d = _batch(dtype=torch.float64)
    adv, lengths = d["adv"], torch.tensor(LENGTHS, dtype=torch.float64)
    rows = lengths > 0
    grpo, m = policy_loss(d["old"][rows], d["old"][rows], adv[rows], d["mask"][rows], loss_type="grpo")
    assert float(grpo) == pytest.approx(-float(adv[rows].mean()), abs=1e-12)
    # An empty sequence still counts in the mean over sequences, with loss 0 (TRL: sum / max(length, 1)).
    grpo, m = policy_loss(d["old"].clone(), d["old"], adv, d["mask"], loss_type="grpo")
    assert float(grpo) == pytest.approx(-float(adv[rows].sum()) / B, abs=1e-12)
    assert m["ratio_mean"] == pytest.approx(1.0) and m["clip_ratio/region_mean"] == 0.0
    bnpo, _ = policy_loss(d["old"].clone(), None, adv, d["mask"], loss_type="bnpo")
    assert float(bnpo) == pytest.approx(-float((adv * lengths).sum() / lengths.sum()), abs=1e-12)
    dr, _ = policy_loss(d["old"].clone(), None, adv, d["mask"], loss_type="dr_grpo", max_completion_length=10)
    assert float(dr) == pytest.approx(-float((adv * lengths).sum()) / (B * 10), abs=1e-12)


def test_on_policy_gradient_is_minus_advantage_over_length():
    d = _batch(dtype=torch.float64)
    logp = d["old"].clone().requires_grad_(True)
    loss, _ = policy_loss(logp, d["old"], d["adv"], d["mask"], loss_type="grpo")
    loss.backward()
    lengths = torch.tensor(LENGTHS, dtype=torch.float64).clamp(min=1)
    expected = -(d["adv"] / lengths / B)[:, None] * d["mask"]  # d r / d logp = r = 1
    torch.testing.assert_close(logp.grad, expected)


@pytest.mark.parametrize(
    ("advantage", "ratio", "clipped", "metric"),
    [
        (+1.0, 1.2 + 1e-3, True, "clip_ratio/high_mean"),
        (+1.0, 1.2 - 1e-3, False, None),
        (+1.0, 0.5, False, None),  # A > 0 and r below 1 - eps: the unclipped term is the smaller one
        (-1.0, 0.8 - 1e-3, True, "clip_ratio/low_mean"),
        (-1.0, 0.8 + 1e-3, False, None),
        (-1.0, 1.7, False, None),  # A < 0 and r above 1 + eps: unclipped (no upper bound on a loss)
    ],
)
def test_clipping_starts_exactly_beyond_one_plus_minus_epsilon(advantage, ratio, clipped, metric):
    old = torch.tensor([[-1.0, -2.0]], dtype=torch.float64)
    logp = (old + math.log(ratio)).requires_grad_(True)
    mask = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    adv = torch.tensor([advantage], dtype=torch.float64)
    loss, m = policy_loss(logp, old, adv, mask, epsilon_low=0.2)
    loss.backward()
    bound = (1.2 if advantage > 0 else 0.8) if clipped else ratio
    assert float(loss.detach()) == pytest.approx(-bound * advantage, abs=1e-12)
    grad = float(logp.grad[0, 0])
    assert (grad == 0.0) if clipped else grad == pytest.approx(-advantage * ratio, abs=1e-12)
    for key in ("clip_ratio/low_mean", "clip_ratio/high_mean"):
        assert m[key] == (1.0 if key == metric else 0.0)
    assert m["clip_ratio/region_mean"] == (1.0 if clipped else 0.0)
    assert m["ratio_mean"] == pytest.approx(ratio)


def test_epsilon_high_moves_only_the_upper_bound():
    old = torch.zeros(1, 2, dtype=torch.float64)
    logp = torch.log(torch.tensor([[1.25, 0.75]], dtype=torch.float64))
    mask = torch.ones(1, 2, dtype=torch.float64)
    _, sym = policy_loss(logp, old, torch.tensor([1.0]), mask, epsilon_low=0.2)
    _, asym = policy_loss(logp, old, torch.tensor([1.0]), mask, epsilon_low=0.2, epsilon_high=0.28)
    assert sym["clip_ratio/high_mean"] == 0.5 and asym["clip_ratio/high_mean"] == 0.0
    _, neg = policy_loss(logp, old, torch.tensor([-1.0]), mask, epsilon_low=0.2, epsilon_high=0.28)
    assert neg["clip_ratio/low_mean"] == 0.5  # 0.75 < 1 - 0.2 whatever epsilon_high is


def test_clip_metrics_count_per_token_and_per_sequence():
    old = torch.zeros(2, 4)
    logp = torch.log(torch.tensor([[2.0, 2.0, 1.0, 1.0], [2.0, 1.0, 1.0, 9.0]]))
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]])
    _, m = policy_loss(logp, old, torch.tensor([1.0, 1.0]), mask)
    assert m["clip_ratio/high_mean"] == pytest.approx(3 / 7)  # the masked 9.0 is not counted
    assert m["clip_ratio/high_max"] == pytest.approx(1 / 2)
    assert m["clip_ratio/low_min"] == 0.0


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo"])
@pytest.mark.parametrize("junk", [1e3, -math.inf, math.nan])
def test_masked_tokens_never_contribute(loss_type, junk):
    d = _batch(seed=3, dtype=torch.float64)
    kw = {
        "loss_type": loss_type,
        "beta": 0.05,
        "epsilon_high": 0.28,
        "max_completion_length": T,
        "kl_bias_correction": True,
    }

    def run(logp, old, ref, iw):
        logp = logp.clone().requires_grad_(True)
        loss, m = policy_loss(logp, old, d["adv"], d["mask"], ref_logp=ref, importance_weights=iw, **kw)
        loss.backward()
        return loss.detach(), m, logp.grad

    clean = run(d["logp"], d["old"], d["ref"], d["is_token"])
    off = d["mask"] == 0

    def spoil(x):
        return torch.where(off, torch.full_like(x, junk), x)

    dirty = run(spoil(d["logp"]), spoil(d["old"]), spoil(d["ref"]), spoil(d["is_token"]))
    torch.testing.assert_close(dirty[0], clean[0], rtol=0, atol=0)
    torch.testing.assert_close(dirty[2], clean[2], rtol=0, atol=0)
    assert dirty[1] == clean[1]
    assert torch.all(clean[2][off] == 0)


def test_beta_zero_ignores_ref_logp():
    d = _batch(seed=4)
    none, m_none = policy_loss(d["logp"], d["old"], d["adv"], d["mask"], loss_type="dapo")
    garbage = torch.full((3, 3), math.nan)  # not even the right shape: never read
    with_ref, m_ref = policy_loss(
        d["logp"], d["old"], d["adv"], d["mask"], loss_type="dapo", ref_logp=garbage
    )
    assert torch.equal(none, with_ref) and m_none == m_ref and "kl" not in m_none
    with pytest.raises(ValueError, match="ref_logp"):
        policy_loss(d["logp"], d["old"], d["adv"], d["mask"], beta=0.1)


def test_kl_is_the_k3_estimator_and_zero_at_the_reference():
    logp = torch.tensor([[-1.0, -2.0]], dtype=torch.float64)
    ref = torch.tensor([[-1.5, -2.0]], dtype=torch.float64)
    mask = torch.ones(1, 2, dtype=torch.float64)
    zero_adv = torch.zeros(1, dtype=torch.float64)
    loss, m = policy_loss(logp, logp, zero_adv, mask, beta=0.5, ref_logp=ref, loss_type="bnpo")
    k3 = math.exp(-0.5) + 0.5 - 1
    assert m["kl"] == pytest.approx(k3 / 2) and float(loss) == pytest.approx(0.5 * k3 / 2)
    _, m0 = policy_loss(logp, logp, zero_adv, mask, beta=0.5, ref_logp=logp.clone())
    assert m0["kl"] == 0.0


def test_gradients_flow_into_logp_only():
    d = _batch(seed=5)
    logp = d["logp"].clone().requires_grad_(True)
    others = {k: d[k].clone().requires_grad_(True) for k in ("old", "ref", "adv", "is_token")}
    loss, _ = policy_loss(
        logp,
        others["old"],
        others["adv"],
        d["mask"],
        beta=0.1,
        ref_logp=others["ref"],
        importance_weights=others["is_token"],
    )
    loss.backward()
    assert logp.grad is not None and logp.grad.abs().sum() > 0
    assert all(t.grad is None for t in others.values())


def test_dapo_uses_the_global_token_count():
    d = _batch(seed=6)
    n = float(d["mask"].sum())
    local, _ = policy_loss(d["logp"], d["old"], d["adv"], d["mask"], loss_type="dapo")
    bnpo, _ = policy_loss(d["logp"], d["old"], d["adv"], d["mask"], loss_type="bnpo")
    glob, _ = policy_loss(
        d["logp"], d["old"], d["adv"], d["mask"], loss_type="dapo", num_items_in_batch=4 * n
    )
    torch.testing.assert_close(local, bnpo)
    torch.testing.assert_close(glob, local / 4)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"old_logp": torch.zeros(B, T + 1)}, r"old_logp .*\[B, T\] = \[6, 7\].*got \[6, 8\]"),
        ({"mask": torch.ones(B)}, r"mask .*got \[6\]"),
        ({"advantages": torch.zeros(B, 1)}, r"advantages must have shape \[B\] = \[6\].*got \[6, 1\]"),
        ({"importance_weights": torch.ones(B, 2)}, r"importance_weights .*got \[6, 2\]"),
        ({"beta": 0.1, "ref_logp": torch.zeros(B - 1, T)}, r"ref_logp .*got \[5, 7\]"),
        ({"loss_type": "dr_grpo"}, "max_completion_length"),
        ({"loss_type": "ppo"}, "unknown loss_type 'ppo'"),
        ({"logp": torch.zeros(B, T, 1)}, r"logp .*\[B, T\].*got \[6, 7, 1\]"),
    ],
)
def test_bad_inputs_say_what_and_which(change, message):
    d = _batch()
    kw = {"logp": d["logp"], "old_logp": d["old"], "advantages": d["adv"], "mask": d["mask"], **change}
    with pytest.raises(ValueError, match=message):
        policy_loss(**kw)


# --------------------------------------------------------------------------------------- importance weights


def _is_case():
    trainer = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    sampler = torch.tensor(
        [[-math.log(4.0), 0.0, math.nan], [-math.log(1.5), -math.log(1.5), 5.0]], dtype=torch.float64
    )
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]], dtype=torch.float64)
    return trainer, sampler, mask


def test_importance_weights_token_modes():
    trainer, sampler, mask = _is_case()
    trunc = truncated_importance_weights(trainer, sampler, mask, cap=3.0, mode="token_truncate")
    # ratio 4 -> 3; equal log-probs -> 1; NaN sampler log-prob -> 1; masked token -> 1
    torch.testing.assert_close(trunc, torch.tensor([[3.0, 1.0, 1.0], [1.5, 1.5, 1.0]], dtype=torch.float64))
    masked = truncated_importance_weights(trainer, sampler, mask, cap=3.0, mode="token_mask", cap_min=1.2)
    torch.testing.assert_close(masked, torch.tensor([[0.0, 0.0, 0.0], [1.5, 1.5, 0.0]], dtype=torch.float64))


def test_importance_weights_sequence_modes_and_default():
    trainer, sampler, mask = _is_case()
    # sequence ratios: row 0 exp(log 4) = 4, row 1 exp(2 log 1.5) = 2.25, broadcast to every token
    trunc = truncated_importance_weights(trainer, sampler, mask, cap=3.0, mode="sequence_truncate")
    torch.testing.assert_close(trunc, torch.tensor([[3.0] * 3, [2.25] * 3], dtype=torch.float64))
    default = truncated_importance_weights(trainer, sampler, mask)  # sequence_mask, cap 3.0
    torch.testing.assert_close(default, torch.tensor([[0.0] * 3, [2.25] * 3], dtype=torch.float64))
    with pytest.raises(ValueError, match="cap_min"):
        truncated_importance_weights(trainer, sampler, mask, cap=None, mode="token_truncate")


def test_importance_weights_scale_the_policy_term_only():
    d = _batch(seed=7, dtype=torch.float64)
    w = torch.full((B, T), 0.5, dtype=torch.float64)
    base, _ = policy_loss(d["logp"], d["old"], d["adv"], d["mask"], loss_type="bnpo")
    half, _ = policy_loss(d["logp"], d["old"], d["adv"], d["mask"], loss_type="bnpo", importance_weights=w)
    torch.testing.assert_close(half, base / 2)
    kw = {"loss_type": "bnpo", "beta": 0.3, "ref_logp": d["ref"]}
    kl_only = policy_loss(d["logp"], d["old"], torch.zeros(B, dtype=torch.float64), d["mask"], **kw)[0]
    kl_weighted = policy_loss(
        d["logp"], d["old"], torch.zeros(B, dtype=torch.float64), d["mask"], importance_weights=w, **kw
    )[0]
    torch.testing.assert_close(kl_only, kl_weighted)
