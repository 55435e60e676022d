"""Group-relative advantages against hand-computed values, TRL's own computation, and the noise case of
a group whose answers are all correct and differ only by attention noise."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

from adqa_data.mcq.advantages import DEFAULT_MIN_SPREAD, group_advantages, spread_warning
from adqa_data.rewards import DEFAULT_WEIGHTS


def test_one_right_of_four_sample_std() -> None:
    # mean 0.25; deviations 0.75, -0.25 x3; sample var (0.5625 + 3 * 0.0625) / 3 = 0.25, std 0.5
    got = group_advantages([[1.0, 0.0, 0.0, 0.0]], eps=0.0)
    np.testing.assert_allclose(got.advantages, [[1.5, -0.5, -0.5, -0.5]])
    assert not got.all_equal.any()


def test_population_std_and_eps() -> None:
    # population var 0.75 / 4 = 0.1875
    got = group_advantages([[1.0, 0.0, 0.0, 0.0]], std="population", eps=0.0)
    np.testing.assert_allclose(got.advantages[0, 0], 0.75 / np.sqrt(0.1875))
    got = group_advantages([[1.0, 0.0, 0.0, 0.0]])  # default eps 1e-4 divides by std + eps
    np.testing.assert_allclose(got.advantages[0, 0], 0.75 / (0.5 + 1e-4))


def test_equal_rewards_give_zero_and_the_flag() -> None:
    rewards = [[1.25, 1.25, 1.25, 1.25], [0.0, 1.0, 0.0, 1.0], [0.5, 0.5, 0.5 + 1e-8, 0.5]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 0/0 on the way, even with eps = 0
        got = group_advantages(rewards, scale="group", eps=0.0)
    np.testing.assert_array_equal(got.advantages[[0, 2]], 0.0)
    np.testing.assert_array_equal(got.all_equal, [[True] * 4, [False] * 4, [True] * 4])
    # 0/1/0/1: mean 0.5, sample std sqrt(1/3)
    np.testing.assert_allclose(got.advantages[1], np.array([-1, 1, -1, 1]) * 0.5 / np.sqrt(1 / 3))


def test_leave_one_out() -> None:
    # baselines: 0 for the 1; (1 + 0 + 0) / 3 for each 0
    got = group_advantages([[1.0, 0.0, 0.0, 0.0]], baseline="leave_one_out", scale="none")
    np.testing.assert_allclose(got.advantages, [[1.0, -1 / 3, -1 / 3, -1 / 3]])
    rng = np.random.default_rng(0)
    r = rng.normal(size=(5, 4))
    loo = group_advantages(r, baseline="leave_one_out", scale="none").advantages
    np.testing.assert_allclose(loo, 4 / 3 * (r - r.mean(axis=1, keepdims=True)))  # K/(K-1) (r - mean)
    scaled = group_advantages(r, baseline="leave_one_out", scale="group", min_spread=0.0).advantages
    np.testing.assert_allclose(scaled, loo / (r.std(axis=1, ddof=1, keepdims=True) + 1e-4))


def test_mean_baseline_unscaled_is_the_centred_reward() -> None:
    got = group_advantages([[2.0, 1.0, 0.0]], scale="none")
    np.testing.assert_allclose(got.advantages, [[1.0, 0.0, -1.0]])


def test_flat_ids_match_the_grid_and_may_interleave() -> None:
    rng = np.random.default_rng(1)
    grid = rng.uniform(size=(3, 4))
    grid[1] = 0.7  # one zero-signal group
    order = rng.permutation(12)
    ids = np.repeat(np.array(["g0", "g1", "g2"]), 4)[order]
    flat = group_advantages(grid.reshape(-1)[order], ids)
    expected = group_advantages(grid)
    np.testing.assert_allclose(flat.advantages, expected.advantages.reshape(-1)[order])
    np.testing.assert_array_equal(flat.all_equal, expected.all_equal.reshape(-1)[order])


def test_groups_of_different_sizes_and_singletons() -> None:
    got = group_advantages([3.0, 1.0, 5.0, 2.0, 2.0], ["a", "a", "b", "c", "c"], scale="none")
    np.testing.assert_allclose(got.advantages, [1.0, -1.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(got.all_equal, [False, False, True, True, True])


def test_bad_inputs() -> None:
    with pytest.raises(ValueError):
        group_advantages([1.0, 0.0])  # flat without ids
    with pytest.raises(ValueError):
        group_advantages([1.0, 0.0], ["a"])
    with pytest.raises(ValueError):
        group_advantages([[1.0, np.nan]])
    with pytest.raises(ValueError):
        group_advantages([[1.0, 0.0]], std="unbiased")  # type: ignore[arg-type]


# ------------------------------------------------------------------------- scales, as TRL computes them
def _trl_advantages(rewards: np.ndarray, k: int, scale: str) -> np.ndarray:
    """TRL 1.16 GRPOTrainer's advantages ("sum_then_normalize"), the same torch ops on the same values."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("trl")  # the dev extra installs it on Python >= 3.11 only
    from trl.trainer.utils import nanstd

    r = torch.tensor(rewards.reshape(-1), dtype=torch.float64)
    mean_grouped = torch.nanmean(r.view(-1, k), dim=1).repeat_interleave(k, dim=0)
    if scale in ("group", "none"):
        std = nanstd(r.view(-1, k), dim=1).repeat_interleave(k, dim=0)
    else:
        std = nanstd(r).expand_as(r)
    adv = r - mean_grouped
    if scale != "none":
        adv = adv / (std + 1e-4)
    return adv.numpy().reshape(rewards.shape)


def test_the_trl_replica_is_what_the_installed_trl_runs() -> None:
    spec = importlib.util.find_spec("trl.trainer.grpo_trainer")
    if spec is None or spec.origin is None:
        pytest.skip("trl is not installed")
    source = " ".join(Path(spec.origin).read_text().split())
    for line in (
        "mean_grouped_rewards = torch.nanmean(rewards.view(-1, num_generations), dim=1)",
        "std_rewards = nanstd(rewards.view(-1, num_generations), dim=1)",
        'elif self.scale_rewards == "batch":',
        "std_rewards = nanstd(rewards).expand_as(rewards)",
        "advantages = rewards - mean_grouped_rewards",
        'if self.scale_rewards != "none": advantages = advantages / (std_rewards + 1e-4)',
    ):
        assert line in source, line


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_every_scale_matches_trl_on_random_rewards(scale: str) -> None:
    rng = np.random.default_rng(7)
    for groups, k in ((1, 2), (6, 4), (9, 8)):
        rewards = rng.normal(size=(groups, k)) * rng.uniform(0.1, 3.0, size=(groups, 1))
        rewards[-1] = 0.75  # an all-equal group: 0 in both
        ours = group_advantages(rewards, scale=scale, min_spread=0.0)  # type: ignore[arg-type]
        np.testing.assert_allclose(ours.advantages, _trl_advantages(rewards, k, scale), atol=1e-12)
        assert ours.all_equal[-1].all() and not ours.all_equal[:-1].any()


def test_batch_scale_is_one_divisor_over_the_batch() -> None:
    rng = np.random.default_rng(3)
    r = rng.uniform(size=(5, 4))
    got = group_advantages(r, scale="batch", min_spread=0.0, eps=0.0).advantages
    np.testing.assert_allclose(got * r.std(ddof=1), r - r.mean(axis=1, keepdims=True))
    pop = group_advantages(r, scale="batch", std="population", min_spread=0.0, eps=0.0).advantages
    np.testing.assert_allclose(pop * r.std(), r - r.mean(axis=1, keepdims=True))
    group = group_advantages(r, scale="group", min_spread=0.0, eps=0.0).advantages
    np.testing.assert_allclose(group.std(axis=1, ddof=1), 1.0)  # group: unit variance in every group


def test_batches_are_scaled_separately_and_hold_whole_groups() -> None:
    rng = np.random.default_rng(4)
    r = rng.uniform(size=12)
    ids = np.repeat(["a", "b", "c"], 4)
    batches = np.array(["x"] * 8 + ["y"] * 4)
    joint = group_advantages(r, ids, batches=batches, min_spread=0.0).advantages
    first = group_advantages(r[:8], ids[:8], min_spread=0.0).advantages
    second = group_advantages(r[8:], ids[8:], min_spread=0.0).advantages
    np.testing.assert_allclose(joint, np.concatenate([first, second]))
    assert not np.allclose(joint, group_advantages(r, ids, min_spread=0.0).advantages)  # one batch differs
    with pytest.raises(ValueError, match="one batch"):
        group_advantages(r, ids, batches=np.array(["x"] * 6 + ["y"] * 6))
    with pytest.raises(ValueError, match="shape"):
        group_advantages(r, ids, batches=np.array(["x"] * 11))


# -------------------------------------------------------------------------------- noise and real signal
def _totals(anchoring: list[float | None], fmt: float = 1.0) -> list[float]:
    """Totals at the default weights: anchoring None = a wrong answer (no anchoring, it is gated)."""
    w = DEFAULT_WEIGHTS
    return [
        w["correctness"] * (a is not None) + w["format"] * fmt + w["anchoring"] * (a or 0.0)
        for a in anchoring
    ]


NOISE = [0.30, 0.31, 0.32, 0.33]  # four correct answers, attention noise between them


def test_attention_noise_is_not_amplified_under_the_defaults() -> None:
    noise = [_totals(NOISE)]
    # per-group std scaling with no spread rule: the full-size advantages
    amplified = group_advantages(noise, scale="group", min_spread=0.0).advantages
    np.testing.assert_allclose(amplified, [[-1.14, -0.38, 0.38, 1.14]], atol=0.01)
    for scale in ("group", "batch", "none"):
        got = group_advantages(noise, scale=scale)  # type: ignore[arg-type]
        np.testing.assert_array_equal(got.advantages, 0.0)
        assert got.all_equal.all() and got.below_spread.all()
    # beside real signal in the batch, batch scaling keeps the noise small even without the spread rule
    shard = [_totals(NOISE), _totals([0.40, 0.42, None, None]), _totals([0.5, None, None, None])]
    batch = group_advantages(shard, min_spread=0.0).advantages
    assert np.abs(batch[0]).max() < 0.05
    # and a group at the spread but with the numbers reversed reads the same
    assert group_advantages([_totals(NOISE[::-1])]).all_equal.all()


def test_a_right_wrong_split_keeps_full_size_advantages() -> None:
    split = _totals([0.30, 0.33, None, None])
    alone = group_advantages([split])
    np.testing.assert_allclose(
        alone.advantages, group_advantages([split], scale="group").advantages
    )  # a batch of one group: its own std
    assert (alone.advantages[0, :2] > 0.8).all() and (alone.advantages[0, 2:] < -0.8).all()
    # in a shard beside all-correct noise groups and other splits, the split still moves at full size
    shard = np.array(
        [_totals(NOISE), split, _totals([0.6, None, None, None]), _totals([0.2, 0.25, 0.3, None])]
    )
    got = group_advantages(shard)
    assert not got.all_equal[1:].any() and got.all_equal[0].all()
    assert (got.advantages[1, :2] > 0.8).all() and (got.advantages[1, 2:] < -0.8).all()
    assert got.advantages[2, 0] > 1.0 and got.advantages[3, 3] < -1.0


def test_min_spread_is_in_total_reward_units() -> None:
    r = [[0.0, 0.25, 0.0, 0.0], [0.0, 0.125, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]
    got = group_advantages(r, scale="none", min_spread=0.25)
    np.testing.assert_allclose(
        got.advantages[0], [-0.0625, 0.1875, -0.0625, -0.0625]
    )  # at the threshold: kept
    np.testing.assert_array_equal(got.advantages[1:], 0.0)
    np.testing.assert_array_equal(got.all_equal[:, 0], [False, True, True])
    np.testing.assert_array_equal(got.below_spread[:, 0], [False, True, False])  # below spread vs equal
    kept = group_advantages(r, scale="none", min_spread=0.0)  # 0: only exactly equal groups are zeroed
    np.testing.assert_array_equal(kept.all_equal[:, 0], [False, False, True])
    assert not kept.below_spread.any()
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="min_spread"):
            group_advantages(r, min_spread=bad)
    with pytest.raises(ValueError, match="scale"):
        group_advantages(r, scale="std")  # type: ignore[arg-type]


def test_spread_warning_names_a_threshold_that_would_zero_a_split() -> None:
    assert spread_warning(DEFAULT_MIN_SPREAD, DEFAULT_WEIGHTS) is None
    assert spread_warning(0.5, {"correctness": 0.5, "format": 0.1}) is not None
    assert spread_warning(0.0, {}) is None
