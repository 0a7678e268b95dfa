"""Intervals that mean what they say: on synthetic IsoFLOP grids from a known law,
the bootstrap's 80% and 95% intervals of a and of D/N cover the truth about that often."""

import warnings

import numpy as np
import pytest

from analysis import approach2
from analysis.laws import ParametricLaw
from analysis.synthetic import synthetic_runs

LAW = ParametricLaw(E=1.82, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658, name="besiroglu")
BUDGETS = tuple(np.logspace(17, 19, 5))


def covered(draws, truth, level):
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return lo <= truth <= hi


def test_approach2_residual_bootstrap_coverage():
    """600 experiments (200 each at 1%, 2% and 3% noise), 200 draws each: ~30 s.  Measured
    on 300 experiments per noise level (seeds 5000+): 80% intervals cover a / D/N in 85/86%
    (1%), 79/82% (2%), 80/79% (3%) of them; 95% intervals in 94-96%."""
    top = BUDGETS[-1]
    hits = {0.8: np.zeros(2), 0.95: np.zeros(2)}
    n = 0
    for noise in (0.01, 0.02, 0.03):
        for e in range(200):
            runs = synthetic_runs(LAW, budgets=BUDGETS, sizes_per_budget=9, spread=8.0,
                                  noise=noise, seed=5000 + e)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = approach2.isoflop(runs, budgets=[top])
            d = approach2.residual_draws(fit, 200, seed=e, report_at=[top])
            assert d["failed"] < 20 # resamples left with fewer than 2 budgets
            for level in hits:
                hits[level] += [covered(d["a"], LAW.a, level),
                                covered(d["alloc"][f"{top:g}"][:, 2], LAW.tokens_per_param(top),
                                        level)]
            n += 1
    a80, dn80 = hits[0.8] / n
    a95, dn95 = hits[0.95] / n
    assert 0.75 <= a80 <= 0.85 and 0.75 <= dn80 <= 0.85, hits
    assert 0.90 <= a95 <= 0.99 and 0.90 <= dn95 <= 0.99, hits


def test_isoflop_intervals_are_the_residual_bootstraps():
    runs = synthetic_runs(LAW, budgets=BUDGETS, sizes_per_budget=9, spread=8.0, noise=0.01, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = approach2.isoflop(runs, bootstrap=300, seed=5)
        plain = approach2.isoflop(runs)
    d = approach2.residual_draws(plain, 300, seed=5)
    assert fit.intervals["method"] == "residuals"
    assert fit.intervals["a"] == pytest.approx(list(np.quantile(d["a"], [0.1, 0.9])))
    assert fit.intervals["n_resamples_used"] + fit.intervals["n_resamples_failed"] == 300
    lo, hi = fit.intervals["a"]
    assert lo < fit.a < hi


@pytest.mark.long
def test_approach3_bootstrap_coverage():
    """Approach 3's default bootstrap (pairs, BC intervals) on 210 experiments (70 each at 1%,
    2%, 3% noise; 5 budgets x 7 sizes; starts around the truth instead of the 4,500-point
    grid: the interval, not the global search, is under test), 100 resamples each; about 35 s
    on 2 cores.  The intervals are the fit's own: fit.intervals['a'] and the allocation row's
    D/N at 80%, the same draws and construction at 95%.

    Measured (hits of 210 for a / D/N): 80%: 170 / 162 (81% / 77%), 95%: 190 / 199 (90.5% /
    95%); no resample failed.  The method was chosen on seeds 9000+ (300 experiments: 78% /
    80%, 94% / 93%), not on these; the percentile and residual variants measured are in
    analysis/parametric.py's bootstrap_thetas.  The bounds are the issue's targets.
    """
    from analysis.bootstrap import interval
    from analysis.parametric import fit_parametric

    theta = np.array([np.log(LAW.E), np.log(LAW.A), np.log(LAW.B), LAW.alpha, LAW.beta])
    step = np.array([0.1, 0.5, 0.5, 0.05, 0.05])
    grid = np.vstack([theta, theta + step, theta - step])
    top = BUDGETS[-1]
    truth = np.array([LAW.a, LAW.tokens_per_param(top)])
    hits = {0.8: np.zeros(2), 0.95: np.zeros(2)}
    n = failed = 0
    for noise in (0.01, 0.02, 0.03):
        for e in range(70):
            runs = synthetic_runs(LAW, budgets=BUDGETS, sizes_per_budget=7, spread=6.0,
                                  noise=noise, seed=7000 + e)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = fit_parametric(runs, grid=grid, bootstrap=100, seed=e, budgets=[top])
                wide = fit.law.optimal(top, level=0.95)["tokens_per_param_interval"]
            assert fit.intervals["method"] == "pairs" and fit.intervals["interval_method"] == "bc"
            failed += fit.intervals["n_resamples_failed"]
            s = np.asarray(fit.law.samples)
            a95 = interval(s[:, 4] / (s[:, 3] + s[:, 4]), 0.95, estimate=fit.law.a)
            for level, ivs in ((0.8, (fit.intervals["a"],
                                      fit.allocation[0]["tokens_per_param_interval"])),
                               (0.95, (a95, wide))):
                hits[level] += [lo <= t <= hi for (lo, hi), t in zip(ivs, truth)]
            n += 1
    c80, c95 = hits[0.8] / n, hits[0.95] / n
    assert failed <= n  # at most 1% of the 100 resamples of each experiment, on average
    assert np.all((0.75 <= c80) & (c80 <= 0.85)), hits
    assert np.all((0.90 <= c95) & (c95 <= 0.99)), hits
