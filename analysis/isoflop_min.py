"""One IsoFLOP curve's minimum: where loss against log N is lowest, three ways.

An IsoFLOP curve over two or more decades of N is not a parabola: on the Chinchilla form
L = E + A e^(-alpha x) + B' e^(beta x) (x = log N at fixed C) the two sides rise at different
rates, and real curves rise more steeply still on the side of large models trained on few
tokens.  A parabola through every size then puts its vertex off the minimum, by an amount
that changes with where the sizes sit around it -- so the power law through the vertices gets
the wrong exponent.  The estimators (``FitOptions.estimator``):

  window (default)  the parabola through the sizes within ``window_dex`` decades of the
                    empirical minimum (the size of lowest mean loss), at least 5 sizes: locally
                    every smooth minimum is a parabola;
  all               the parabola through every size (the estimator before the window one);
  akima             the minimum of an Akima interpolation of mean loss against log N (what
                    some labs publish), searched between the empirical minimum's neighbours.

How the default was chosen (benchmarks/isoflop_estimators.py; 40 noise draws per cell, twelve
budgets of 12 sizes over 2.5 decades, the optimum moving across the sizes as on a fixed size
grid): the all-points parabola is off by -0.021 to -0.034 in a and +14% to +38% in D/N at
0.3% noise, a +-0.5-decade window by at most 0.001 in a and 2% in D/N; +-0.75 decades has less
scatter but 5% D/N bias on the steeper law, and Akima 4x the scatter of the window.  On the
narrow curves of the committed CPU experiment (under a decade per budget) a +-0.5-decade window
holds nearly every size, so it agrees with the all-points parabola there.

A budget whose empirical minimum is its smallest or largest size, or whose estimated minimum
falls outside its sizes, has no measured minimum (``Minimum.edge``): approach 2 leaves it out of
the power law and names it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ESTIMATORS = ("window", "all", "akima")
DEFAULT_ESTIMATOR = "window"
#: Half-width of the default window, in decades of N around the empirical minimum.
WINDOW_DEX = 0.5
#: Fewest sizes a window holds (the nearest sizes by rank when the decades hold fewer).
MIN_SIZES = 5


@dataclass(frozen=True)
class Minimum:
    """A curve's minimum: x = log N*, the parabola drawn (window or all points: coefficients
    of log N, highest first), which points it used, and whether the minimum is at an edge."""

    x: float
    parabola: np.ndarray
    used: np.ndarray
    edge: bool
    estimator: str


def size_means(logn: np.ndarray, loss: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct log N, mean loss at each, index of each point's size): seeds of one size count once."""
    ux, inv = np.unique(np.round(logn, 9), return_inverse=True)
    means = np.bincount(inv, weights=loss) / np.bincount(inv)
    return ux, means, inv


def _parabola(x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    if len(np.unique(np.round(x, 9))) < 3:
        return None
    p = np.polyfit(x, y, 2)
    return p if p[0] > 0 else None


def window_sizes(ux: np.ndarray, j: int, window_dex: float) -> np.ndarray:
    """Indices of the sizes in the window around size j: within window_dex decades, at least
    MIN_SIZES (the nearest by rank, shifted inwards at an end)."""
    inside = np.flatnonzero(np.abs(ux - ux[j]) <= window_dex * np.log(10) + 1e-9)
    if inside.size >= min(MIN_SIZES, ux.size):
        return inside
    lo = int(np.clip(j - MIN_SIZES // 2, 0, ux.size - MIN_SIZES))
    return np.arange(lo, lo + MIN_SIZES)


def _akima_x(ux: np.ndarray, means: np.ndarray, j: int) -> float:
    from scipy.interpolate import Akima1DInterpolator

    f = Akima1DInterpolator(ux, means)
    grid = np.linspace(ux[max(j - 1, 0)], ux[min(j + 1, ux.size - 1)], 401)
    return float(grid[int(np.argmin(f(grid)))])


def locate(logn: np.ndarray, loss: np.ndarray, estimator: str = DEFAULT_ESTIMATOR,
           window_dex: float = WINDOW_DEX) -> Minimum | None:
    """The minimum of one curve, or None (fewer than 3 sizes, or the parabola opens downwards)."""
    ux, means, inv = size_means(logn, loss)
    if ux.size < 3:
        return None
    j = int(np.argmin(means))
    if estimator == "all":
        used = np.ones(len(logn), dtype=bool)
    else:
        used = np.isin(inv, window_sizes(ux, j, window_dex))
    p = _parabola(logn[used], loss[used])
    if p is None:
        return None
    x = _akima_x(ux, means, j) if estimator == "akima" else float(-p[1] / (2 * p[0]))
    edge = j in (0, ux.size - 1) or not (ux[0] <= x <= ux[-1])
    return Minimum(x=x, parabola=p, used=used, edge=bool(edge), estimator=estimator)


def check_option(key: str, v: object) -> str | None:
    """The problem with a FitOptions value of this module's settings, or None."""
    if key == "estimator":
        return None if v in ESTIMATORS else f"must be one of {', '.join(ESTIMATORS)}"
    if key == "window_dex":
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 10
        return None if ok else "must be a number of decades in (0, 10), e.g. 0.5"
    raise AssertionError(key)
