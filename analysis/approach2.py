"""Approach 2 (IsoFLOP): per budget, the minimum of loss in log N (by default the parabola
through a window of sizes around the lowest loss: analysis/isoflop_min.py); then power laws N_opt = k C^a and D_opt = C / (6 N_opt) = k_D C^b fitted in log space.

Runs are grouped into budgets by C = 6 N D with the TOTAL N (the compute the sweep spent; sorted
log10 C values split where the gap exceeds ``tol_dex``: sweeps place budgets far apart, while
actual N and rounding move C slightly).  With ``params='nonembedding'`` the parabola is in log
N_nonembedding, D at its minimum comes from the curve's own log D against log N (a straight line;
exact for total N, where D = C / 6N), and the budget is C = 6 N_opt D_opt with that count, so the
power laws use the same convention as approach 3 (``RunTable.c``).
Data without IsoFLOP budgets (fewer than 2 budgets with 3+ sizes, or most runs on none: an
N x D grid) is refused with one InputError rather than fitted to accidental "budgets".  A
budget with fewer than 3 distinct sizes, or whose parabola opens downwards, is skipped, all of
a group's skips in one warning line; a budget whose minimum is at or outside the edge of its
sizes has no measured minimum: it is left out of the power laws, named in that line and in the
verdict (analysis/isoflop_diag.py, which also compares the estimators and the misfit).
Bootstrap: runs resampled with replacement *within each budget* (the IsoFLOP design fixes the
budgets), the same estimator and power laws refitted; resamples with fewer than 2 usable
minima are counted as failed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from analysis.bootstrap import interval
from analysis.budgets import group_budgets
from analysis.fit_settings import check_kwargs, reporting_budgets
from analysis.identify import IDENTIFIED, Verdict, provisional
from analysis.isoflop_boot import residual_bootstrap
from analysis.isoflop_diag import isoflop_verdict
from analysis.isoflop_min import DEFAULT_ESTIMATOR, ESTIMATORS, WINDOW_DEX, locate
from analysis.power_law import PowerAllocation, PowerLaw, fit_power_law
from analysis.result import FitResult
from analysis.table import AnalysisWarning, RunTable
from runstore import InputError, flops_6nd, tokens_for_flops


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
    group: tuple[str, ...]
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
    n_counted: str | None = None
    """What N is, when the input says something other than the total count (a CSV's N)."""
    estimator: str = DEFAULT_ESTIMATOR
    """How each budget's minimum was found (analysis/isoflop_min.py)."""
    window_dex: float = WINDOW_DEX
    excluded: tuple[float, ...] = ()
    """C of the budgets left out: their lowest loss is at the smallest or largest size tried."""
    used: tuple[tuple[bool, ...], ...] = ()
    """Per used budget, per run: whether the parabola went through it (the window)."""
    min_loss: tuple[float, ...] = ()
    """Per used budget: the minimum loss (the estimator's curve at N_opt)."""
    min_loss_interval: tuple[list[float] | None, ...] = ()
    """Per used budget: the bootstrap interval of the minimum loss (empty without one)."""

    @property
    def law(self) -> PowerAllocation:
        """N_opt and D_opt in C, with this fit's verdict and budget range (analysis/power_law.py)."""
        return PowerAllocation(self.n_law, self.d_law, name=f"approach2-{'-'.join(self.group)}",
                               verdict=self.verdict.status,
                               c_range=(min(self.flops), max(self.flops)) if self.flops else None)

    def minima_rows(self) -> list[dict[str, Any]]:
        """Per IsoFLOP budget: flops, n_opt, d_opt, min_loss and its interval (min_loss_lo,
        min_loss_hi; NaN without a bootstrap): ``to_pandas("minima")``."""
        nan = [float("nan")] * 2
        ivs = self.min_loss_interval or [None] * len(self.flops)
        return [{"group": self.name, "flops": c, "n_opt": n, "d_opt": d, "min_loss": m,
                 "min_loss_lo": (iv or nan)[0], "min_loss_hi": (iv or nan)[1]}
                for c, n, d, m, iv in zip(self.flops, self.n_opt, self.d_opt, self.min_loss, ivs)]

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
            "estimator": self.estimator, "window_dex": self.window_dex,
            "minima": [{"flops": c, "n_opt": n, "d_opt": d, "extrapolated": e,
                        "parabola": list(p), "n": list(cv[0]), "loss": list(cv[1]),
                        "in_window": list(u)}
                       for c, n, d, e, p, cv, u in zip(self.flops, self.n_opt, self.d_opt,
                                                       self.extrapolated, self.parabolas,
                                                       self.curves, self.used or
                                                       [[True] * len(cv[0]) for cv in self.curves])],
            "excluded_budgets": list(self.excluded),
            **self._tail_dict(),
        }

    def plot(self, ax: Any = None) -> Any:
        """IsoFLOP curves with their parabolas and minima."""
        from analysis import plots

        return plots.plot_isoflop(self, ax=ax)


def _vertex(logn: np.ndarray, logd: np.ndarray, loss: np.ndarray, exact_c: float | None,
            estimator: str = DEFAULT_ESTIMATOR, window_dex: float = WINDOW_DEX) -> tuple | None:
    """(N_opt, D_opt, Minimum) of one curve; D_opt = C / 6 N_opt when the curve's C is exact."""
    res = locate(logn, loss, estimator, window_dex)
    if res is None:
        return None
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        n_opt = np.exp(res.x)
        if exact_c is not None:
            d_opt = tokens_for_flops(exact_c, n_opt)
        else:
            slope, icpt = np.polyfit(logn, logd, 1)
            d_opt = np.exp(icpt + slope * res.x)
    # a nearly flat parabola (a bootstrap resample of a shallow curve) can put the vertex
    # beyond float range: no usable minimum
    if not (np.isfinite(n_opt) and np.isfinite(d_opt) and n_opt > 0 and d_opt > 0):
        return None
    return float(n_opt), float(d_opt), res


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
            labels: np.ndarray, total: bool, warn: str | None, estimator: str = DEFAULT_ESTIMATOR,
            window_dex: float = WINDOW_DEX) -> tuple[list[tuple], list[float]]:
    """Per budget with an interior minimum: (C, N_opt, D_opt, Minimum, mask); and the C of the
    budgets left out because their minimum is at an edge of their sizes.  Budgets skipped or
    left out are named in one warning line (`warn`: the group's name; None: silent)."""
    out, skipped, edge = [], [], []
    for lab in np.unique(labels):
        m = labels == lab
        cb = float(np.exp(np.mean(np.log(c_group[m]))))
        res = _vertex(logn[m], logd[m], loss[m], cb if total else None, estimator, window_dex)
        if res is None:
            skipped.append(cb)
        elif res[2].edge:
            edge.append(cb)
        else:
            out.append((flops_6nd(res[0], res[1]), res[0], res[1], res[2], m))
    if (skipped or edge) and warn:
        n = len(skipped) + len(edge) + len(out)
        parts = []
        if edge:
            parts.append(f"left out {len(edge)} of {n} IsoFLOP budgets whose lowest loss is at the "
                         f"smallest or largest size tried (C {_cs(edge)}: no measured minimum)")
        if skipped:
            parts.append(f"skipped {len(skipped)} of {n} (C {_cs(skipped)}: fewer than 3 sizes "
                         "or a parabola opening downwards)")
        warnings.warn(f"approach 2, {warn}: {'; '.join(parts)}", AnalysisWarning, stacklevel=3)
    return out, edge


def _cs(cs: Sequence[float]) -> str:
    return ", ".join(f"{c:.3g}" for c in cs)


def _bootstrap(mins: list[tuple], logn: np.ndarray, logd: np.ndarray, loss: np.ndarray,
               total: bool, bootstrap: int, level: float, seed: int, budgets: Sequence[float],
               estimator: str, window_dex: float
               ) -> tuple[dict[str, Any], dict[str, list[np.ndarray]], list[list[float]]]:
    """Runs resampled within each budget, the same estimator on each resample (a budget whose
    resampled minimum is at an edge drops out of that resample's law): (intervals of a and b
    with the count of resamples used and failed, allocation draws per budget, minimum-loss
    draws per budget)."""
    rng = np.random.default_rng(seed)
    a_s, b_s = [], []
    loss_draws: list[list[float]] = [[] for _ in mins]
    alloc_samples: dict[str, list[np.ndarray]] = {}
    dropped = 0
    for _ in range(bootstrap):
        ci, ni, di = [], [], []
        for j, (cbud, _, _, _, m) in enumerate(mins):
            idx = np.flatnonzero(m)
            pick = rng.choice(idx, size=idx.size, replace=True)
            res = _vertex(logn[pick], logd[pick], loss[pick], cbud if total else None,
                          estimator, window_dex)
            if res is None or res[2].edge:
                dropped += 1
                continue
            loss_draws[j].append(float(np.polyval(res[2].parabola, res[2].x)))
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
    intervals = {"a": interval(a_s, level), "b": interval(b_s, level), "method": "pairs",
                 "n_resamples_used": len(a_s), "n_resamples_failed": bootstrap - len(a_s),
                 "budget_minima_dropped": dropped}
    return intervals, alloc_samples, loss_draws


def _residual_intervals(mins: list[tuple], logn: np.ndarray, logd: np.ndarray, loss: np.ndarray,
                        total: bool, bootstrap: int, level: float, seed: int,
                        budgets: Sequence[float]) -> tuple[dict[str, Any], dict[str, Any], list]:
    """The bootstrap on the parabolas' residuals (analysis/isoflop_boot.py)."""
    per = []
    for cb, _, _, mn, m in mins:
        dline = None if total else tuple(np.polyfit(logn[m], logd[m], 1))
        per.append((cb, logn[m][mn.used], loss[m][mn.used], mn.parabola, dline,
                    float(logn[m].min()), float(logn[m].max())))
    got = residual_bootstrap(per, bootstrap, seed, budgets)
    intervals = {"a": interval(got["a"], level), "b": interval(got["b"], level),
                 "method": "residuals", "n_resamples_used": int(got["a"].size),
                 "n_resamples_failed": got["failed"], "budget_minima_dropped": got["dropped"]}
    return intervals, got["alloc"], got["min_loss"]


def _allocation(n_law: PowerLaw, d_law: PowerLaw, budgets: Sequence[float], bpt: float | None,
                alloc_samples: dict[str, list[np.ndarray]], level: float) -> list[dict[str, Any]]:
    """One row per reporting budget: N_opt, D_opt, D/N (bytes per parameter), intervals."""
    allocation = []
    for C in budgets:
        row: dict[str, Any] = {"flops": float(C), "n_opt": float(n_law(C)), "d_opt": float(d_law(C))}
        row["tokens_per_param"] = row["d_opt"] / row["n_opt"]
        if bpt is not None:
            row["bytes_per_param"] = row["tokens_per_param"] * bpt
        if f"{C:g}" in alloc_samples:
            s = np.array(alloc_samples[f"{C:g}"])
            for j, key in enumerate(("n_opt", "d_opt", "tokens_per_param")):
                row[key + "_interval"] = interval(s[:, j], level)
        allocation.append(row)
    return allocation


def _intervals(mins: list[tuple], logn: np.ndarray, logd: np.ndarray, loss: np.ndarray,
               total: bool, bootstrap: int, level: float, seed: int, budgets: Sequence[float],
               estimator: str, window_dex: float, name: str) -> tuple[Any, dict, list]:
    """The bootstrap (none when bootstrap is 0): the residual one, or pairs for 'akima' (no
    parabola to draw residuals around); one warning line, naming the group, when some
    resamples could not be used (their count is in the intervals too)."""
    if not bootstrap:
        return None, {}, [[] for _ in mins]
    with np.errstate(all="ignore"):  # flat resampled parabolas: counted, not printed
        if estimator == "akima":
            got = _bootstrap(mins, logn, logd, loss, total, bootstrap, level, seed, budgets,
                             estimator, window_dex)
        else:
            got = _residual_intervals(mins, logn, logd, loss, total, bootstrap, level, seed,
                                      budgets)
    used = got[0]["n_resamples_used"]
    if used < bootstrap:
        warnings.warn(f"approach 2, {name}: the bootstrap used {used} of {bootstrap} resamples "
                      f"({bootstrap - used} had fewer than 2 budgets with a minimum inside "
                      "their sizes); intervals are from those used", AnalysisWarning,
                      stacklevel=4)
    return got


def _other_estimators(logn, logd, loss, c_group, labels, total: bool, estimator: str,
                      window_dex: float) -> dict[str, float]:
    """a (the N_opt exponent) from the same budgets' minima by every other estimator: the
    verdict's spread across estimators."""
    others = {}
    for est in ESTIMATORS:
        if est != estimator:
            got, _ = _minima(logn, logd, loss, c_group, labels, total, None, est, window_dex)
            if len(got) >= 2:
                others[est] = fit_power_law(np.array([g[0] for g in got]),
                                            np.array([g[1] for g in got])).exponent
    return others


def _verdict(mins, edge, logn, loss, exponents: dict, intervals, bootstrap: int) -> Verdict:
    """isoflop_verdict of the minima (provisional without a bootstrap)."""
    verdict = isoflop_verdict([(m[0], m[3], logn[m[4]], loss[m[4]]) for m in mins], edge,
                              exponents, intervals)
    return verdict if bootstrap else provisional(verdict)


def _check_tol(tol_dex: Any) -> None:
    if not (isinstance(tol_dex, (int, float)) and 0 < tol_dex < 1):
        raise InputError(f"must be a number of decades in (0, 1), got {tol_dex!r}",
                         key="tol_dex", fix="e.g. tol_dex=0.05")


def _interior_minima(logn, logd, loss, c_group, labels, total, name, estimator, window_dex):
    """`_minima`'s (minima, edge budgets), refused when fewer than 2 minima are interior."""
    mins, edge = _minima(logn, logd, loss, c_group, labels, total, name, estimator, window_dex)
    if len(mins) < 2:
        raise InputError(
            f"approach 2 needs at least 2 IsoFLOP budgets whose minimum lies inside their sizes, "
            f"found {len(mins)}" + (f" ({len(edge)} with the lowest loss at an end: C {_cs(edge)})"
                                    if edge else ""),
            fix="add sizes on the side where the loss is still falling, or use --approach 3")
    return mins, edge


def isoflop(runs: RunTable, params: str = "total", tol_dex: float = 0.05, bootstrap: int = 0,
            level: float = 0.8, seed: int = 0, budgets: Sequence[float] | str | None = "data",
            estimator: str = DEFAULT_ESTIMATOR, window_dex: float = WINDOW_DEX) -> IsoFlopFit:
    """Approach 2 on one group of runs (one objective/tokenizer).

    params: 'total' or 'nonembedding': the N of the parabolas and power laws.
    tol_dex: runs whose log10 C lie within tol_dex of a neighbour's share a budget (default
    0.05 decades: sweeps place budgets far apart, actual N moves C a little).
    bootstrap: resamples (0: none, and the verdict is marked provisional).  With the
    parabola estimators the design stays fixed and the losses are redrawn from the window
    residuals (analysis/isoflop_boot.py, coverage measured); with 'akima', runs are
    resampled within each budget.  A resample with fewer than 2 usable minima is left out;
    ``intervals['n_resamples_used']`` counts those used (a warning says when some failed).
    level: central level of the percentile intervals, in (0, 1) (default 0.8).
    seed: the bootstrap's random seed.
    budgets: the allocation table's C values; 'data' (default): the runs' own budgets.
    estimator: each budget's minimum (analysis/isoflop_min.py): 'window' (default: the parabola
    through the sizes within window_dex decades of the lowest loss), 'all' or 'akima'.
    The result holds each budget's N_opt, D_opt and minimum loss (``min_loss``, with
    ``min_loss_interval`` when bootstrapped).  Bad values: one-line InputErrors.
    """
    check_kwargs(bootstrap=bootstrap, level=level, seed=seed, params=params, budgets=budgets,
                 estimator=estimator, window_dex=window_dex)
    _check_tol(tol_dex)
    group = runs.group  # one objective/tokenizer, else an InputError
    n = runs.n(params)
    total = params == "total"
    c_group = flops_6nd(runs.n("total"), runs["tokens"])
    logn, logd, loss = np.log(n), np.log(runs["tokens"]), runs["loss"]
    labels = group_budgets(c_group, tol_dex)
    _require_isoflop(logn, c_group, labels)
    budgets = reporting_budgets(budgets, runs, params)
    name = "/".join(group)
    mins, edge = _interior_minima(logn, logd, loss, c_group, labels, total, name, estimator,
                                  window_dex)
    cb, nb, db = (np.array([m[k] for m in mins]) for k in range(3))
    n_law, d_law = fit_power_law(cb, nb), fit_power_law(cb, db)
    intervals, alloc_samples, loss_draws = _intervals(
        mins, logn, logd, loss, total, bootstrap, level, seed, budgets, estimator, window_dex,
        name)
    min_loss_iv = tuple(interval(v, level) if len(v) > 2 else None for v in loss_draws)
    bpt_val = runs.bytes_per_token()
    allocation = _allocation(n_law, d_law, budgets, bpt_val, alloc_samples, level)
    others = _other_estimators(logn, logd, loss, c_group, labels, total, estimator, window_dex)
    verdict = _verdict(mins, edge, logn, loss, {estimator: n_law.exponent, **others}, intervals,
                       bootstrap)
    return IsoFlopFit(
        group=group, params=params, flops=tuple(map(float, cb)), n_opt=tuple(map(float, nb)),
        d_opt=tuple(map(float, db)), extrapolated=tuple(False for _ in mins),
        parabolas=tuple(tuple(map(float, m[3].parabola)) for m in mins),
        curves=tuple((tuple(map(float, n[m[4]])), tuple(map(float, loss[m[4]]))) for m in mins),
        n_law=n_law, d_law=d_law, bootstrap=bootstrap, level=level, intervals=intervals,
        allocation=tuple(allocation), bytes_per_token=bpt_val, verdict=verdict,
        estimator=estimator, window_dex=window_dex, excluded=tuple(map(float, edge)),
        used=tuple(tuple(bool(u) for u in m[3].used) for m in mins),
        min_loss=tuple(float(np.polyval(m[3].parabola, m[3].x)) for m in mins),
        min_loss_interval=min_loss_iv,
    )


def residual_draws(fit: IsoFlopFit, n_boot: int, seed: int = 0,
                   report_at: Sequence[float] = ()) -> dict[str, Any]:
    """The residual bootstrap's draws (analysis/isoflop_boot.py) of a total-N fit, from the
    fit's own curves and windows: what its intervals come from, at any level (the coverage
    test reads 80% and 95% from one set of draws)."""
    if fit.params != "total":
        raise InputError("residual_draws takes a total-N fit", key="params", fix="params='total'")
    per = []
    for c, (n, loss), used, p in zip(fit.flops, fit.curves, fit.used, fit.parabolas):
        x, y, u = np.log(n), np.asarray(loss), np.asarray(used)
        per.append((c, x[u], y[u], np.asarray(p), None, float(x.min()), float(x.max())))
    return residual_bootstrap(per, n_boot, seed, report_at)
