"""Approach 3: recovery of a known law, Huber robustness, bootstrap warm starts."""

import functools

import numpy as np
import pytest

from analysis import optim
from analysis.bootstrap import resample_counts
from analysis.laws import ParametricLaw
from analysis.parametric import bootstrap_thetas, fit_parametric, minimize_grid
from analysis.synthetic import synthetic_runs
from runstore import InputError, chinchilla_allocation

HOFFMANN_LIKE = ParametricLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
EQUAL = ParametricLaw(E=1.8, A=500.0, B=600.0, alpha=0.35, beta=0.35)


@functools.lru_cache(maxsize=None)
def _fit(which: str, outliers: int = 0, delta: float = 1e-3):
    law = {"hoffmann": HOFFMANN_LIKE, "equal": EQUAL}[which]
    runs = synthetic_runs(law, noise=0.005, seed=7, n_outliers=outliers)  # 81 runs
    return law, fit_parametric(runs, delta=delta)


@pytest.mark.parametrize("which", ["hoffmann", "equal"])
def test_recovers_known_law(which):
    law, fit = _fit(which)
    assert abs(fit.law.alpha - law.alpha) < 0.02
    assert abs(fit.law.beta - law.beta) < 0.02
    assert abs(fit.law.a - law.a) < 0.03 and abs(fit.law.b - law.b) < 0.03
    assert fit.n_at_best >= 1 and fit.objective > 0
    d = fit.to_dict()
    assert d["law"]["alpha"] == fit.law.alpha and len(d["runs"]["residual"]) == 81


def test_huber_resists_outliers_least_squares_does_not():
    law, huber = _fit("hoffmann", outliers=5)
    _, ls = _fit("hoffmann", outliers=5, delta=10.0)  # delta >> residuals: least squares
    err_h = abs(huber.law.alpha - law.alpha) + abs(huber.law.beta - law.beta)
    err_ls = abs(ls.law.alpha - law.alpha) + abs(ls.law.beta - law.beta)
    assert err_h < 0.04
    assert err_ls > 2 * err_h
    tpp = law.tokens_per_param(1e22)
    assert abs(huber.law.tokens_per_param(1e22) - tpp) < abs(ls.law.tokens_per_param(1e22) - tpp)


def test_batched_objective_no_worse_than_scipy_on_sample_of_starts():
    runs = synthetic_runs(HOFFMANN_LIKE, noise=0.005, seed=7)
    x, y, ll = np.log(runs["n_total"]), np.log(runs["tokens"]), np.log(runs["loss"])
    theta, f, _ = minimize_grid(x, y, ll)
    starts = optim.hoffmann_grid()[::450]  # 10 starts keep the test fast
    best_scipy = min(optim.scipy_minimize(s, x, y, ll, 1e-3)[1] for s in starts)
    assert f <= best_scipy * (1 + 1e-9)
    g = optim.objective_np(theta, x, y, ll, 1e-3)[1]
    assert np.abs(g).max() < 1e-6


def test_bootstrap_warm_start_reaches_full_grid_optimum():
    runs = synthetic_runs(HOFFMANN_LIKE, noise=0.005, seed=7)
    x, y, ll = np.log(runs["n_total"]), np.log(runs["tokens"]), np.log(runs["loss"])
    theta, _, diag = minimize_grid(x, y, ll)
    starts = np.vstack([theta[None], diag["grid"][diag["grid_rows"][:3]]])
    boot = bootstrap_thetas(x, y, ll, 1e-3, starts, n_boot=20, seed=5)
    counts = resample_counts(len(x), 20, 5)
    for i in range(3):  # full 4,500-start grid on three resamples (rows repeated by count)
        idx = np.repeat(np.arange(len(x)), counts[i].astype(int))
        theta_full, f_full, _ = minimize_grid(x[idx], y[idx], ll[idx])
        f_warm = optim.objective_np(boot[i], x, y, ll, 1e-3, w=counts[i])[0]
        # Same optimum: objectives within 1e-5 relative (the batched float64 polish stops a
        # little before scipy's tight polish), parameters within 1e-2.
        assert f_warm <= f_full * (1 + 1e-5)
        assert np.abs(boot[i] - theta_full).max() < 1e-2


def test_bootstrap_intervals_cover_truth():
    runs = synthetic_runs(HOFFMANN_LIKE, noise=0.005, seed=7)
    fit = fit_parametric(runs, bootstrap=40, seed=1, level=0.8)
    for k in ("E", "A", "B", "alpha", "beta", "a", "b"):
        lo, hi = fit.intervals[k]
        assert lo <= hi
    assert fit.law.interval["level"] == 0.8 and len(fit.law.samples) == 40
    row = fit.allocation[1]
    assert row["tokens_per_param_interval"][0] <= row["tokens_per_param"] <= row["tokens_per_param_interval"][1]
    assert fit.intervals["method"] == "pairs" and fit.intervals["interval_method"] == "bc"
    assert fit.intervals["n_resamples_used"] + fit.intervals["n_resamples_failed"] == 40


def test_bc_and_percentile_intervals_come_from_the_same_draws():
    from analysis.bootstrap import interval
    from analysis.laws import ParametricLaw

    runs = synthetic_runs(HOFFMANN_LIKE, noise=0.01, seed=3)
    bc = fit_parametric(runs, bootstrap=30, seed=2, budgets=[1e19])
    pct = fit_parametric(runs, bootstrap=30, seed=2, budgets=[1e19], interval_method="percentile")
    assert bc.law.samples == pct.law.samples and bc.law.a == pct.law.a  # intervals only differ
    s = np.asarray(bc.law.samples)
    a_s = s[:, 4] / (s[:, 3] + s[:, 4])
    assert bc.intervals["a"] == interval(a_s, 0.8, estimate=bc.law.a)
    assert pct.intervals["a"] == interval(a_s, 0.8) and bc.intervals["a"] != pct.intervals["a"]
    assert pct.intervals["interval_method"] == "percentile"
    n, d = chinchilla_allocation(*s.T, 1e19)
    row = bc.allocation[0]
    assert row["tokens_per_param_interval"] == interval(d / n, 0.8, row["tokens_per_param"])
    # the law file keeps the method: a reloaded law gives the same budget intervals
    again = ParametricLaw.from_dict(bc.law.to_dict())
    assert again.optimal(1e19)["tokens_per_param_interval"] == row["tokens_per_param_interval"]
    with pytest.raises(InputError, match="interval_method"):
        fit_parametric(runs, bootstrap=5, interval_method="bca")


def test_outlier_rule_drops_planted_runs():
    law = HOFFMANN_LIKE
    runs = synthetic_runs(law, noise=0.005, seed=7, n_outliers=3, outlier_scale=0.3)
    fit = fit_parametric(runs, outlier_mad=5.0)
    assert len(fit.dropped) == 3 and len(fit.run_ids) == 78
