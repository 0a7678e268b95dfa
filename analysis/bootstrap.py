"""Bootstrap over runs: seeded resampling and percentile intervals.

A resample draws M runs with replacement from M; it is represented as a vector of counts
(how many times each run was drawn), which the fitters use as per-run weights -- the same as
refitting on the resampled list, but with fixed array shapes, so all resamples can run as one
batch.  Intervals are central intervals at ``level`` (default 80%): percentile ones, or, given
the point estimate, bias-corrected percentile ones (BC, Efron 1981): the quantile levels are
shifted by the share of draws below the estimate, so a bootstrap distribution that sits off
to one side of its estimate does not carry the interval with it.  BC is what approach 3 uses
(measured coverage in analysis/parametric.py's bootstrap_thetas).
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Sequence

import numpy as np

#: Budgets (FLOPs) at which fits report allocation: small scale to Chinchilla's 5.76e23.
DEFAULT_BUDGETS: tuple[float, ...] = (1e17, 1e18, 1e19, 1e20, 1e22, 5.76e23)

#: Default interval level (two-sided).
DEFAULT_LEVEL = 0.8

#: Interval constructions: 'bc' (bias-corrected percentile; needs the estimate), 'percentile'.
INTERVAL_METHODS = ("bc", "percentile")


def resample_counts(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) counts of each run in each resample (rows sum to n); seeded."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)


def resample_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) indices of runs drawn with replacement; seeded."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def bc_quantiles(samples: np.ndarray, estimate: float, level: float) -> tuple[float, float]:
    """Quantile levels of the bias-corrected percentile interval (BC) of finite `samples`.

    z0 = Phi^-1(share of draws below the estimate, ties counted half); the levels are
    Phi(2 z0 +- z_(1+level)/2).  The share is kept within half a draw of 0 and 1 so that an
    estimate beyond every draw gives the most extreme levels B draws can resolve, not +-inf.
    """
    s = np.asarray(samples, dtype=float)
    share = (np.sum(s < estimate) + 0.5 * np.sum(s == estimate)) / s.size
    half = 0.5 / s.size
    phi = NormalDist()  # the standard normal (stdlib: no scipy import on the CLI's path)
    z0 = phi.inv_cdf(float(np.clip(share, half, 1 - half)))
    z = phi.inv_cdf((1 + level) / 2)
    return phi.cdf(2 * z0 - z), phi.cdf(2 * z0 + z)


def interval(samples: Sequence[float] | np.ndarray, level: float = DEFAULT_LEVEL,
             estimate: float | None = None) -> list[float]:
    """Central interval [lo, hi] of the finite samples (NaNs if none): percentile, or
    bias-corrected percentile (bc_quantiles) when the point `estimate` is given."""
    s = np.asarray(samples, dtype=float)
    s = s[np.isfinite(s)]
    if s.size == 0:
        return [float("nan"), float("nan")]
    if estimate is None or not np.isfinite(estimate):
        q = [(1 - level) / 2, (1 + level) / 2]
    else:
        q = list(bc_quantiles(s, float(estimate), level))
    lo, hi = np.quantile(s, q)
    return [float(lo), float(hi)]
