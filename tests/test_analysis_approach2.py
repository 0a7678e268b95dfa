"""Approach 2 (IsoFLOP parabolas) recovers the allocation exponents of a known law."""

import numpy as np
import pytest

from analysis.approach2 import fit_power_law, isoflop, parabola_min
from analysis.budgets import group_budgets
from analysis.laws import ParametricLaw
from analysis.synthetic import synthetic_runs


@pytest.mark.parametrize("law", [ParametricLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28),
                                 ParametricLaw(E=1.8, A=500.0, B=600.0, alpha=0.35, beta=0.35)])
def test_recovers_exponents(law):
    runs = synthetic_runs(law, noise=0.003, seed=2, spread=4.0)
    fit = isoflop(runs, bootstrap=50, seed=0)
    assert abs(fit.a - law.a) < 0.03 and abs(fit.b - law.b) < 0.03
    assert fit.a + fit.b == pytest.approx(1.0)
    lo, hi = fit.intervals["a"]
    assert lo <= fit.a <= hi or abs(lo - fit.a) < 0.02
    assert "tokens_per_param_interval" in fit.allocation[0]
    assert fit.to_dict()["minima"][0]["n"]


def test_helpers():
    c = np.array([1e18, 1.05e18, 1e19, 0.98e19, 1e20])
    assert list(group_budgets(c)) == [0, 0, 1, 1, 2]
    x = np.linspace(0, 4, 7)
    assert parabola_min(x, (x - 1.5) ** 2 + 3)[0] == pytest.approx(1.5)
    assert parabola_min(x, -(x**2)) is None
    pl = fit_power_law(np.array([1.0, 10.0, 100.0]), np.array([2.0, 20.0, 200.0]))
    assert pl.exponent == pytest.approx(1.0) and pl.k == pytest.approx(2.0)


def test_window_recovers_wide_curves_where_all_points_does_not():
    """Issue 25: 2.5 decades of N per budget, steep on one side, the optimum moving across
    the sizes; seeds 0-4 at 0.2% noise (analysis/isoflop_min.py has the wider measurement)."""
    import warnings

    from analysis.synthetic import STEEP_LAW, wide_isoflop_runs
    for seed in range(5):
        runs = wide_isoflop_runs(sizes_per_budget=15, noise=0.002, seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            win = isoflop(runs)
            old = isoflop(runs, estimator="all")
        top = max(win.allocation, key=lambda r: r["flops"])
        assert abs(win.a - STEEP_LAW.a) < 0.02
        assert abs(top["tokens_per_param"] / STEEP_LAW.tokens_per_param(top["flops"]) - 1) < 0.12
        assert STEEP_LAW.a - old.a > 0.02
        assert len(win.excluded) == 1 and len(win.flops) == 12


def test_edge_budget_left_out_and_named():
    from analysis import AnalysisWarning
    from analysis.synthetic import wide_isoflop_runs
    runs = wide_isoflop_runs(noise=0.002, seed=0)
    with pytest.warns(AnalysisWarning, match=r"left out 1 of 13 IsoFLOP budgets.*6\.25e\+15"):
        fit = isoflop(runs, estimator="all")
    assert fit.excluded == (pytest.approx(6.25e15),) and 6.25e15 not in fit.flops
    assert "left out of the law" in fit.verdict.short()


def test_locate_estimators():
    from analysis.isoflop_min import locate
    x = np.linspace(-3, 3, 13)
    y = 0.3 * np.exp(-0.4 * x) + 0.05 * np.exp(1.2 * x)  # steep on the right, like real curves
    true = np.log(0.3 * 0.4 / (0.05 * 1.2)) / 1.6
    win, all_, ak = (locate(x, y, e) for e in ("window", "all", "akima"))
    assert abs(win.x - true) < abs(all_.x - true) / 5 and abs(win.x - true) < 0.15
    assert win.used.sum() == 5 and all_.used.all() and abs(ak.x - true) < 0.15
    assert not win.edge and locate(x[x > 0.5], y[x > 0.5]).edge  # minimum at the smallest size
    assert locate(x[:2], y[:2]) is None
