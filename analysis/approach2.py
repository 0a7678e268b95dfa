"""Approach 2 (IsoFLOP): per budget, a parabola of loss in log N and its minimum; then
power laws N_opt = k C^a and D_opt = C / (6 N_opt) = k_D C^b fitted in log space.

Runs are grouped into budgets by C = 6 N D with the TOTAL N (the compute the sweep spent; sorted
log10 C values split where the gap exceeds ``tol_dex``: sweeps place budgets far apart, while
actual N and rounding move C slightly).  With ``params='nonembedding'`` the parabola is in log
N_nonembedding, D at its minimum comes from the curve's own log D against log N (a straight line;
exact for total N, where D = C / 6N), and the budget is C = 6 N_opt D_opt with that count, so the
power laws use the same convention as approach 3 (``RunTable.c``).
Data without IsoFLOP budgets (fewer than 2 budgets with 3+ sizes, or most runs on none: an
N x D grid) is refused with one InputError rather than fitted to accidental "budgets".  A
budget with fewer than 3 distinct sizes, or whose parabola opens downwards, is skipped, all of
a group's skips in one warning line; a minimum outside the sizes tried is kept but flagged (an
extrapolation), and makes the verdict `weak`.
Bootstrap: runs resampled with replacement *within each budget* (the IsoFLOP design fixes the
budgets), parabolas and power laws refitted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from analysis.bootstrap import interval
from runstore import InputError, flops_6nd, tokens_for_flops
from analysis.fit_settings import reporting_budgets
from analysis.identify import IDENTIFIED, WEAK, Verdict
from analysis.load import AnalysisWarning, RunTable
from analysis.result import FitResult


@dataclass(frozen=True)
class PowerLaw:
    """y = k x^exponent, fitted by least squares in log space."""

    k: float
    exponent: float

    def __call__(self, x: Any) -> Any:
        return self.k * np.asarray(x, dtype=float) ** self.exponent


@dataclass(frozen=True)
class PowerAllocation:
    """Approaches 1 and 2's law: N_opt = k C^a and D_opt = k_D C^b, with the methods of a
    ParametricLaw's allocation (n_opt, d_opt, tokens_per_param, a, b)."""

    n_law: PowerLaw
    d_law: PowerLaw

    @property
    def a(self) -> float:
        return self.n_law.exponent

    @property
    def b(self) -> float:
        return self.d_law.exponent

    def n_opt(self, C: Any) -> Any:
        return self.n_law(C)

    def d_opt(self, C: Any) -> Any:
        return self.d_law(C)

    def tokens_per_param(self, C: Any) -> Any:
        return self.d_law(C) / self.n_law(C)


def fit_power_law(x: np.ndarray, y: np.ndarray) -> PowerLaw:
    """Least squares of log y on log x."""
    slope, icpt = np.polyfit(np.log(x), np.log(y), 1)
    return PowerLaw(k=float(np.exp(icpt)), exponent=float(slope))


def group_budgets(c: np.ndarray, tol_dex: float = 0.05) -> np.ndarray:
    """Budget label per run: runs whose log10 C are within tol_dex of a neighbour share one."""
    order = np.argsort(c)
    lc = np.log10(c[order])
    labels_sorted = np.concatenate([[0], np.cumsum(np.diff(lc) > tol_dex)])
    labels = np.empty(len(c), dtype=int)
    labels[order] = labels_sorted
    return labels


def parabola_min(logn: np.ndarray, loss: np.ndarray, w: np.ndarray | None = None
                 ) -> tuple[float, np.ndarray] | None:
    """Minimum (log N*) of loss = p0 x^2 + p1 x + p2, or None if it opens downwards."""
    if len(np.unique(logn)) < 3:
        return None
    p = np.polyfit(logn, loss, 2, w=None if w is None else np.sqrt(w))
    if not p[0] > 0:
        return None
    return float(-p[1] / (2 * p[0])), p


@dataclass(frozen=True, repr=False)
class IsoFlopFit(FitResult):
    """Result of approach 2 (frozen)."""

    approach = 2
    group: tuple[str, str]
    params: str
    flops: tuple[float, ...]
    """Budget C of each used curve: geometric mean of its runs' 6ND (total N), else 6 N_opt D_opt."""
    n_opt: tuple[float, ...]
    """Parabola minimum per budget."""
    d_opt: tuple[float, ...]
    extrapolated: tuple[bool, ...]
    parabolas: tuple[tuple[float, float, float], ...]
    """Coefficients (of log N) per budget."""
    curves: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]
    """(N, loss) of the runs of each budget."""
    n_law: PowerLaw
    d_law: PowerLaw
    bootstrap: int = 0
    level: float = 0.8
    intervals: dict[str, Any] | None = None
    allocation: tuple[dict[str, Any], ...] = ()
    bytes_per_token: float | None = None
    verdict: Verdict = Verdict(IDENTIFIED)

    @property
    def law(self) -> PowerAllocation:
        return PowerAllocation(self.n_law, self.d_law)

    def n_opt_at(self, C: Any) -> Any:
        return self.n_law(C)

    def d_opt_at(self, C: Any) -> Any:
        return self.d_law(C)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (fits/approach2-*.json)."""
        return {
            **self._common_dict(),
            "n_law": {"k": self.n_law.k, "exponent": self.n_law.exponent},
            "d_law": {"k": self.d_law.k, "exponent": self.d_law.exponent},
            "minima": [{"flops": c, "n_opt": n, "d_opt": d, "extrapolated": e,
                        "parabola": list(p), "n": list(cv[0]), "loss": list(cv[1])}
                       for c, n, d, e, p, cv in zip(self.flops, self.n_opt, self.d_opt,
                                                    self.extrapolated, self.parabolas, self.curves)],
            **self._tail_dict(),
        }

    def plot(self, ax: Any = None) -> Any:
        """IsoFLOP curves with their parabolas and minima."""
        from analysis import plots

        return plots.plot_isoflop(self, ax=ax)


def _vertex(logn: np.ndarray, logd: np.ndarray, loss: np.ndarray, exact_c: float | None
            ) -> tuple[float, float, np.ndarray] | None:
    """(N_opt, D_opt, parabola) of one curve; D_opt = C / 6 N_opt when the curve's C is exact."""
    res = parabola_min(logn, loss)
    if res is None:
        return None
    x_star, p = res
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        n_opt = np.exp(x_star)
        if exact_c is not None:
            d_opt = tokens_for_flops(exact_c, n_opt)
        else:
            slope, icpt = np.polyfit(logn, logd, 1)
            d_opt = np.exp(icpt + slope * x_star)
    # a nearly flat parabola (a bootstrap resample of a shallow curve) can put the vertex
    # beyond float range: no usable minimum
    if not (np.isfinite(n_opt) and np.isfinite(d_opt) and n_opt > 0 and d_opt > 0):
        return None
    return float(n_opt), float(d_opt), p


def _require_isoflop(logn: np.ndarray, c_group: np.ndarray, labels: np.ndarray) -> None:
    """Refuse data that has no IsoFLOP budgets instead of inventing them from coincidences."""
    sizes = {lab: len(np.unique(np.round(logn[labels == lab], 6))) for lab in np.unique(labels)}
    good = [lab for lab, k in sizes.items() if k >= 3]
    on_curves = int(np.isin(labels, good).sum())
    if len(good) >= 2 and on_curves * 2 >= len(labels):
        return
    raise InputError(
        f"no IsoFLOP budgets: {len(sizes)} distinct C values among {len(labels)} runs, "
        f"{len(good)} with 3+ sizes holding {on_curves} runs (approach 2 needs 2+ budgets "
        "of 3+ sizes holding most runs)", key="approach",
        fix="run an IsoFLOP sweep (grid: flops: [...] x params: [...]) or use --approach 3")


def _minima(logn: np.ndarray, logd: np.ndarray, loss: np.ndarray, c_group: np.ndarray,
            labels: np.ndarray, total: bool, warn: str | None) -> list[tuple]:
    """Per budget: (C, N_opt, D_opt, extrapolated, parabola, mask); skipped budgets are named
    in one warning line (`warn`: the group's name; None: silent)."""
    out, skipped = [], []
    for lab in np.unique(labels):
        m = labels == lab
        cb = float(np.exp(np.mean(np.log(c_group[m]))))
        res = _vertex(logn[m], logd[m], loss[m], cb if total else None)
        if res is None:
            skipped.append(f"{cb:.2g}")
            continue
        n_opt, d_opt, p = res
        extrap = not (logn[m].min() <= np.log(n_opt) <= logn[m].max())
        out.append((flops_6nd(n_opt, d_opt), n_opt, d_opt, extrap, p, m))
    if skipped and warn:
        warnings.warn(f"approach 2, {warn}: skipped {len(skipped)} of {len(skipped) + len(out)} "
                      f"IsoFLOP budgets (C {', '.join(skipped)}: fewer than 3 sizes or a parabola "
                      "opening downwards)", AnalysisWarning, stacklevel=3)
    return out


def _bootstrap(mins: list[tuple], logn: np.ndarray, logd: np.ndarray, loss: np.ndarray,
               total: bool, bootstrap: int, level: float, seed: int, budgets: Sequence[float]
               ) -> tuple[dict[str, Any], dict[str, list[np.ndarray]]]:
    """Runs resampled within each budget: (intervals of a and b, allocation draws per budget)."""
    rng = np.random.default_rng(seed)
    a_s, b_s = [], []
    alloc_samples: dict[str, list[np.ndarray]] = {}
    for _ in range(bootstrap):
        ci, ni, di = [], [], []
        for (cbud, _, _, _, _, m) in mins:
            idx = np.flatnonzero(m)
            pick = rng.choice(idx, size=idx.size, replace=True)
            res = _vertex(logn[pick], logd[pick], loss[pick], cbud if total else None)
            if res is not None:
                ci.append(flops_6nd(res[0], res[1]))
                ni.append(res[0])
                di.append(res[1])
        if len(ci) < 2:
            continue
        ci_a, ni_a, di_a = np.array(ci), np.array(ni), np.array(di)
        nl, dl = fit_power_law(ci_a, ni_a), fit_power_law(ci_a, di_a)
        a_s.append(nl.exponent)
        b_s.append(dl.exponent)
        for C in budgets:
            alloc_samples.setdefault(f"{C:g}", []).append(
                np.array([nl(C), dl(C), dl(C) / nl(C)]))
    intervals = {"a": interval(a_s, level), "b": interval(b_s, level),
                 "n_resamples_used": len(a_s)}
    return intervals, alloc_samples


def isoflop(runs: RunTable, params: str = "total", tol_dex: float = 0.05, bootstrap: int = 0,
            level: float = 0.8, seed: int = 0, budgets: Sequence[float] | str | None = "data",
            ) -> IsoFlopFit:
    """Approach 2 on one group of runs (one objective/tokenizer).

    budgets: the allocation table's C values; 'data' (default): the runs' own range.
    """
    group = runs.group  # one objective/tokenizer, else an InputError
    n = runs.n(params)
    total = params == "total"
    c_group = flops_6nd(runs.n("total"), runs["tokens"])
    logn, logd, loss = np.log(n), np.log(runs["tokens"]), runs["loss"]
    labels = group_budgets(c_group, tol_dex)
    _require_isoflop(logn, c_group, labels)
    budgets = reporting_budgets(budgets, runs, params)
    mins = _minima(logn, logd, loss, c_group, labels, total, warn=f"{group[0]}/{group[1]}")
    if len(mins) < 2:
        raise InputError(
            f"approach 2 needs at least 2 IsoFLOP budgets with 3+ sizes each, found {len(mins)}",
            fix="run an IsoFLOP sweep (flops: [...] x params: [...]) or use --approach 3")
    cb = np.array([m[0] for m in mins])
    nb = np.array([m[1] for m in mins])
    db = np.array([m[2] for m in mins])
    n_law, d_law = fit_power_law(cb, nb), fit_power_law(cb, db)
    intervals = None
    alloc_samples: dict[str, list[np.ndarray]] = {}
    if bootstrap:
        intervals, alloc_samples = _bootstrap(mins, logn, logd, loss, total, bootstrap, level,
                                              seed, budgets)
    bpt = runs["bytes_per_token"]
    bpt_val = float(np.nanmedian(bpt)) if np.isfinite(bpt).any() else None
    allocation = []
    for C in budgets:
        row: dict[str, Any] = {"flops": float(C), "n_opt": float(n_law(C)), "d_opt": float(d_law(C))}
        row["tokens_per_param"] = row["d_opt"] / row["n_opt"]
        if bpt_val is not None:
            row["bytes_per_param"] = row["tokens_per_param"] * bpt_val
        if f"{C:g}" in alloc_samples:
            s = np.array(alloc_samples[f"{C:g}"])
            for j, key in enumerate(("n_opt", "d_opt", "tokens_per_param")):
                row[key + "_interval"] = interval(s[:, j], level)
        allocation.append(row)
    extrap = [f"{m[0]:.2g}" for m in mins if m[3]]
    verdict = Verdict(WEAK, (f"minimum outside the sizes tried at C {', '.join(extrap)}",)) \
        if extrap else Verdict(IDENTIFIED)
    return IsoFlopFit(
        group=group, params=params, flops=tuple(map(float, cb)), n_opt=tuple(map(float, nb)),
        d_opt=tuple(map(float, db)), extrapolated=tuple(bool(m[3]) for m in mins),
        parabolas=tuple(tuple(map(float, m[4])) for m in mins),
        curves=tuple((tuple(map(float, n[m[5]])), tuple(map(float, loss[m[5]]))) for m in mins),
        n_law=n_law, d_law=d_law, bootstrap=bootstrap, level=level, intervals=intervals,
        allocation=tuple(allocation), bytes_per_token=bpt_val, verdict=verdict,
    )
