"""The reporting budgets a fit's allocation table uses by default: the data's own.

An IsoFLOP sweep's budgets are its design (1e11, 3e11, 1e12 FLOPs; 1.25e16 ... 2.56e19), so the
table reports at exactly those: each budget's C is the geometric mean of its runs' C (with the
N count fitted), given with the fewest significant digits that stay within 0.1% of it -- the
sweep's own round number when it had one, never a neighbour past the data (rounding to two
digits turned 2.56e19 into 2.6e19).  So does data with at most MAX_TRAINED distinct budgets
(trained at 1e11, 3e11 and 1e12, it reports there, not at a geometric middle 3.2e11).  Other
data (an N x D grid of many C values) reports at its smallest, geometric-middle and largest C.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def group_budgets(c: np.ndarray, tol_dex: float = 0.05) -> np.ndarray:
    """Budget label per run: runs whose log10 C are within tol_dex of a neighbour share one."""
    order = np.argsort(c)
    lc = np.log10(c[order])
    labels_sorted = np.concatenate([[0], np.cumsum(np.diff(lc) > tol_dex)])
    labels = np.empty(len(c), dtype=int)
    labels[order] = labels_sorted
    return labels


def snap(x: float, rel: float = 1e-3) -> float:
    """x with the fewest significant digits (1 to 12) within `rel` of it."""
    for digits in range(1, 13):
        y = float(f"{x:.{digits - 1}e}")
        if abs(y / x - 1) <= rel:
            return y
    return float(x)


#: Data whose C values fall into at most this many budgets reports at each of them (the
#: trained budgets), even when they are not IsoFLOP curves of 3+ sizes.
MAX_TRAINED = 6


def data_budgets(runs: Any, params: str = "total") -> tuple[float, ...]:
    """The runs' own budgets (see the module docstring), smallest first."""

    c_total, c = runs.c("total"), runs.c(params)
    labels = group_budgets(c_total)
    logn = np.round(np.log(runs.n("total")), 6)
    sizes = [len(np.unique(logn[labels == lab])) for lab in np.unique(labels)]
    if sum(k >= 3 for k in sizes) >= 2 or len(sizes) <= MAX_TRAINED:
        out = {snap(float(np.exp(np.mean(np.log(c[labels == lab]))))) for lab in np.unique(labels)}
        return tuple(sorted(out))
    lo, hi = float(np.min(c)), float(np.max(c))
    return tuple(sorted({snap(lo), snap((lo * hi) ** 0.5), snap(hi)}))
