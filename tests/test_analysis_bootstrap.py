"""Resampling helpers."""

import numpy as np
import pytest

from analysis.bootstrap import bc_quantiles, interval, resample_counts, resample_indices


def test_counts_are_seeded_and_sum_to_n():
    a, b = resample_counts(30, 5, seed=1), resample_counts(30, 5, seed=1)
    np.testing.assert_array_equal(a, b)
    assert (a.sum(axis=1) == 30).all()
    assert not np.array_equal(a, resample_counts(30, 5, seed=2))
    assert resample_indices(10, 3, 0).shape == (3, 10)


def test_interval_level():
    s = np.arange(1001.0)
    assert interval(s, 0.8) == pytest.approx([100.0, 900.0])
    assert interval([np.nan, 1.0, np.inf], 0.5) == [1.0, 1.0]


def _normal_draws(mean, n=20001):
    """n evenly spaced quantiles of N(mean, 1): a bootstrap sample without Monte-Carlo noise."""
    from scipy.stats import norm

    return mean + norm.ppf((np.arange(n) + 0.5) / n)


def test_bc_equals_percentile_when_the_estimate_is_the_median():
    s = np.exp(_normal_draws(0.0))  # skewed (log-normal), median 1
    assert bc_quantiles(s, 1.0, 0.8) == pytest.approx((0.1, 0.9), abs=1e-4)
    assert interval(s, 0.8, estimate=1.0) == pytest.approx(interval(s, 0.8), rel=1e-3)


def test_bc_undoes_a_median_bias_of_the_draws():
    # draws centred 0.3 above the estimate 0 (z0 = -0.3): BC puts the interval 0.3 BELOW it,
    # [-0.3 -+ 1.2816], where the percentile interval sits at [0.3 -+ 1.2816]
    s = _normal_draws(0.3)
    lo_q, hi_q = bc_quantiles(s, 0.0, 0.8)
    from scipy.stats import norm

    assert (lo_q, hi_q) == pytest.approx(norm.cdf(-0.6 + np.array([-1, 1]) * norm.ppf(0.9)),
                                         abs=1e-4)
    assert interval(s, 0.8, estimate=0.0) == pytest.approx([-1.5816, 0.9816], abs=2e-3)
    assert interval(s, 0.8) == pytest.approx([-0.9816, 1.5816], abs=2e-3)


def test_bc_commutes_with_a_monotone_transform():
    s = _normal_draws(0.2)
    lo, hi = interval(s, 0.95, estimate=-0.1)
    assert interval(np.exp(s), 0.95, estimate=np.exp(-0.1)) == pytest.approx(
        [np.exp(lo), np.exp(hi)], rel=1e-3)


def test_bc_with_the_estimate_beyond_every_draw_stays_finite():
    s = np.arange(100.0)
    lo, hi = interval(s, 0.8, estimate=-5.0)
    assert lo == pytest.approx(0.0, abs=1e-6) and 0.0 < hi < 20.0  # pulled to the low end, not NaN or +-inf
    assert interval(s, 0.8, estimate=float("nan")) == interval(s, 0.8)
