"""Approach 2 (IsoFLOP parabolas) recovers the allocation exponents of a known law."""

import numpy as np
import pytest

from analysis.approach2 import fit_power_law, group_budgets, isoflop, parabola_min
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
