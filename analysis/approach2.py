"""Approach 2 (IsoFLOP): per budget, a parabola of loss in log N and its minimum; then
power laws N_opt = k C^a and D_opt = C / (6 N_opt) = k_D C^b fitted in log space.

Runs are grouped into budgets by C = 6 N D: sorted log10 C values split where the gap exceeds
``tol_dex`` (sweeps place budgets far apart, while actual N and rounding move C slightly).
A budget with fewer than 3 distinct sizes, or whose parabola opens downwards, is skipped with
a warning; a minimum outside the sizes tried is kept but flagged (it is an extrapolation).
Bootstrap: runs resampled with replacement *within each budget* (the IsoFLOP design fixes the
budgets), parabolas and power laws refitted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from analysis.bootstrap import DEFAULT_BUDGETS, interval
from analysis.errors import AnalysisInputError
from analysis.load import AnalysisWarning, RunTable


@dataclass(frozen=True)
class PowerLaw:
    """y = k x^exponent, fitted by least squares in log space."""

    k: float
    exponent: float

    def __call__(self, x: Any) -> Any:
        return self.k * np.asarray(x, dtype=float) ** self.exponent


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


@dataclass(frozen=True)
class IsoFlopFit:
    """Result of approach 2 (frozen)."""

    group: tuple[str, str]
    params: str
    budgets: tuple[float, ...]
    """Budget C of each used IsoFLOP curve (geometric mean of its runs' 6ND)."""
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

    @property
    def a(self) -> float:
        """Exponent of N_opt in C."""
        return self.n_law.exponent

    @property
    def b(self) -> float:
        """Exponent of D_opt in C."""
        return self.d_law.exponent

    def n_opt_at(self, C: Any) -> Any:
        return self.n_law(C)

    def d_opt_at(self, C: Any) -> Any:
        return self.d_law(C)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (fits/approach2-*.json)."""
        return {
            "approach": 2, "group": {"objective": self.group[0], "tokenizer": self.group[1]},
            "params": self.params, "a": self.a, "b": self.b,
            "n_law": {"k": self.n_law.k, "exponent": self.n_law.exponent},
            "d_law": {"k": self.d_law.k, "exponent": self.d_law.exponent},
            "minima": [{"flops": c, "n_opt": n, "d_opt": d, "extrapolated": e,
                        "parabola": list(p), "n": list(cv[0]), "loss": list(cv[1])}
                       for c, n, d, e, p, cv in zip(self.budgets, self.n_opt, self.d_opt,
                                                    self.extrapolated, self.parabolas, self.curves)],
            "bootstrap": self.bootstrap, "level": self.level, "intervals": self.intervals,
            "allocation": [dict(r) for r in self.allocation],
            "bytes_per_token": self.bytes_per_token,
        }

    def plot(self, ax: Any = None) -> Any:
        """IsoFLOP curves with their parabolas and minima."""
        from analysis import plots

        return plots.plot_isoflop(self, ax=ax)


def _minima(logn: np.ndarray, loss: np.ndarray, c: np.ndarray, labels: np.ndarray,
            warn: bool) -> list[tuple[float, float, bool, np.ndarray, np.ndarray]]:
    out = []
    for lab in np.unique(labels):
        m = labels == lab
        cb = float(np.exp(np.mean(np.log(c[m]))))
        res = parabola_min(logn[m], loss[m])
        if res is None:
            if warn:
                warnings.warn(f"IsoFLOP budget {cb:.3g}: skipped (fewer than 3 sizes or the "
                              "parabola opens downwards)", AnalysisWarning, stacklevel=3)
            continue
        x_star, p = res
        extrap = not (logn[m].min() <= x_star <= logn[m].max())
        out.append((cb, float(np.exp(x_star)), extrap, p, m))
    return out


def isoflop(runs: RunTable, params: str = "total", tol_dex: float = 0.05, bootstrap: int = 0,
            level: float = 0.8, seed: int = 0, budgets: Sequence[float] = DEFAULT_BUDGETS,
            ) -> IsoFlopFit:
    """Approach 2 on one group of runs (one objective/tokenizer)."""
    groups = runs.groups()
    if len(groups) != 1:
        raise AnalysisInputError(f"isoflop got groups {sorted(groups)}. Fix: fit one "
                                 "objective/tokenizer at a time (runs.groups())")
    (group,) = groups
    n = runs.n(params)
    c = 6.0 * n * runs["tokens"]
    logn, loss = np.log(n), runs["loss"]
    labels = group_budgets(c, tol_dex)
    mins = _minima(logn, loss, c, labels, warn=True)
    if len(mins) < 2:
        raise AnalysisInputError(
            f"approach 2 needs at least 2 IsoFLOP budgets with 3+ sizes each, found {len(mins)}. "
            "Fix: run an IsoFLOP sweep (flops: [...] x params: [...]) or use --approach 3")
    cb = np.array([m[0] for m in mins])
    nb = np.array([m[1] for m in mins])
    db = cb / (6.0 * nb)
    n_law, d_law = fit_power_law(cb, nb), fit_power_law(cb, db)
    intervals = None
    alloc_samples: dict[str, list[np.ndarray]] = {}
    if bootstrap:
        rng = np.random.default_rng(seed)
        a_s, b_s = [], []
        used = [m[4] for m in mins]
        for _ in range(bootstrap):
            ci, ni = [], []
            for (cbud, _, _, _, m) in mins:
                idx = np.flatnonzero(m)
                pick = rng.choice(idx, size=idx.size, replace=True)
                res = parabola_min(logn[pick], loss[pick])
                if res is not None:
                    ci.append(cbud)
                    ni.append(np.exp(res[0]))
            if len(ci) < 2:
                continue
            ci_a, ni_a = np.array(ci), np.array(ni)
            nl, dl = fit_power_law(ci_a, ni_a), fit_power_law(ci_a, ci_a / (6 * ni_a))
            a_s.append(nl.exponent)
            b_s.append(dl.exponent)
            for C in budgets:
                alloc_samples.setdefault(f"{C:g}", []).append(
                    np.array([nl(C), dl(C), dl(C) / nl(C)]))
        del used
        intervals = {"a": interval(a_s, level), "b": interval(b_s, level),
                     "n_resamples_used": len(a_s)}
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
    return IsoFlopFit(
        group=group, params=params, budgets=tuple(map(float, cb)), n_opt=tuple(map(float, nb)),
        d_opt=tuple(map(float, db)), extrapolated=tuple(bool(m[2]) for m in mins),
        parabolas=tuple(tuple(map(float, m[3])) for m in mins),
        curves=tuple((tuple(map(float, n[m[4]])), tuple(map(float, loss[m[4]]))) for m in mins),
        n_law=n_law, d_law=d_law, bootstrap=bootstrap, level=level, intervals=intervals,
        allocation=tuple(allocation), bytes_per_token=bpt_val,
    )
