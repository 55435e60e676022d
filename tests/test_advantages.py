"""Group-relative advantages against hand-computed values."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from adqa_data.advantages import group_advantages


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
        got = group_advantages(rewards, eps=0.0)
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
    scaled = group_advantages(r, baseline="leave_one_out").advantages
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
