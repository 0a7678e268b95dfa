"""Bootstrap over runs: seeded resampling and percentile intervals.

A resample draws M runs with replacement from M; it is represented as a vector of counts
(how many times each run was drawn), which the fitters use as per-run weights -- the same as
refitting on the resampled list, but with fixed array shapes, so all resamples can run as one
batch.  Intervals are percentile intervals at ``level`` (default 80%).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

#: Budgets (FLOPs) at which fits report allocation: small scale to Chinchilla's 5.76e23.
DEFAULT_BUDGETS: tuple[float, ...] = (1e17, 1e18, 1e19, 1e20, 1e22, 5.76e23)

#: Default interval level (two-sided, percentile).
DEFAULT_LEVEL = 0.8


def resample_counts(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) counts of each run in each resample (rows sum to n); seeded."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)


def resample_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) indices of runs drawn with replacement; seeded."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def interval(samples: Sequence[float] | np.ndarray, level: float = DEFAULT_LEVEL) -> list[float]:
    """Central percentile interval [lo, hi] of the finite samples (NaNs if none)."""
    s = np.asarray(samples, dtype=float)
    s = s[np.isfinite(s)]
    if s.size == 0:
        return [float("nan"), float("nan")]
    lo, hi = np.quantile(s, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]
