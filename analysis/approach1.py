"""Approach 1: the lower envelope of loss against FLOPs over all training curves.

Every logged point of every run is a (C = 6 N tokens_so_far, loss) pair.  On a log-spaced grid
of C, the envelope is the lowest (interpolated) loss of any run at that C; the run that attains
it gives N_opt(C), and D_opt(C) = C / (6 N_opt).  Power laws N_opt = k C^a, D_opt = k_D C^b are
fitted in log space over the envelope points.  Points in the first ``skip_fraction`` of a run's
tokens are ignored (warmup: a small model's early curve is not a trained model).
Bootstrap: runs resampled with replacement, the envelope recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from analysis.bootstrap import interval, resample_indices
from analysis.fit_settings import check_kwargs, reporting_budgets
from analysis.identify import Verdict, not_assessed
from analysis.power_law import PowerAllocation, PowerLaw, fit_power_law
from analysis.result import FitResult
from analysis.table import RunTable
from runstore import InputError, flops_6nd, tokens_for_flops


@dataclass(frozen=True, repr=False)
class EnvelopeFit(FitResult):
    """Result of approach 1 (frozen)."""

    approach = 1

    group: tuple[str, str]
    params: str
    flops: tuple[float, ...]
    """Envelope grid C."""
    loss: tuple[float, ...]
    """Envelope loss at each C."""
    n_opt: tuple[float, ...]
    """N of the run on the envelope at each C."""
    n_law: PowerLaw
    d_law: PowerLaw
    bootstrap: int = 0
    level: float = 0.8
    intervals: dict[str, Any] | None = None
    allocation: tuple[dict[str, Any], ...] = ()
    bytes_per_token: float | None = None
    n_counted: str | None = None
    """What N is, when the input says something other than the total count (a CSV's N)."""
    verdict: Verdict = not_assessed("approach 1 has no identifiability diagnostics")

    @property
    def law(self) -> PowerAllocation:
        return PowerAllocation(self.n_law, self.d_law, name=f"approach1-{'-'.join(self.group)}",
                               verdict=self.verdict.status)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (fits/approach1-*.json)."""
        return {
            **self._common_dict(),
            "n_law": {"k": self.n_law.k, "exponent": self.n_law.exponent},
            "d_law": {"k": self.d_law.k, "exponent": self.d_law.exponent},
            "envelope": {"flops": list(self.flops), "loss": list(self.loss), "n_opt": list(self.n_opt)},
            **self._tail_dict(),
        }

    def plot(self, ax: Any = None) -> Any:
        """N_opt and D_opt against C with the fitted lines."""
        from analysis import plots

        return plots.plot_allocation(self, ax=ax)


def _curve_arrays(runs: RunTable, params: str, metric: str, skip_fraction: float
                  ) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """(N, log C points, loss points) per run."""
    n_all = runs.n(params)
    out = []
    for rid, n, d_final in zip(runs["run_id"], n_all, runs["tokens"]):
        cv = runs.curves(rid)
        loss = getattr(cv, metric)
        ok = np.isfinite(loss) & np.isfinite(cv.tokens) & (cv.tokens >= skip_fraction * d_final) \
            & (cv.tokens > 0)
        if ok.sum() < 2:
            continue
        order = np.argsort(cv.tokens[ok])
        out.append((float(n), np.log(flops_6nd(n, cv.tokens[ok][order])), loss[ok][order]))
    return out


def _envelope(curves: Sequence[tuple[float, np.ndarray, np.ndarray]], grid: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Lowest loss and its run's N at each log C of the grid (NaN where no run reaches)."""
    L = np.full((len(curves), grid.size), np.inf)
    for i, (_, lc, lo) in enumerate(curves):
        inside = (grid >= lc[0]) & (grid <= lc[-1])
        L[i, inside] = np.interp(grid[inside], lc, lo)
    best = np.argmin(L, axis=0)
    env = L[best, np.arange(grid.size)]
    ns = np.array([curves[j][0] for j in best], dtype=float)
    ns[~np.isfinite(env)] = np.nan
    return env, ns


#: Distinct sizes approach 1 needs, like approach 2's per budget (analysis/approach2.py).
MIN_SIZES = 3


def _checked_curves(runs: RunTable, params: str, metric: str, skip_fraction: float
                    ) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """The runs' curves, refused (InputError) when approach 1 cannot use them."""
    if not runs.has_curves:
        raise InputError("approach 1 needs training curves (metrics.jsonl)",
                         fix="load a results folder, or use --approach 2,3 for a CSV")
    curves = _curve_arrays(runs, params, metric, skip_fraction)
    if len(curves) < 3:
        raise InputError(f"approach 1 needs 3+ runs with curves, found {len(curves)}",
                         fix="check metrics.jsonl files or use --approach 2,3")
    sizes = np.unique([c[0] for c in curves])
    if sizes.size < MIN_SIZES:
        raise InputError(f"approach 1 needs runs of {MIN_SIZES}+ distinct sizes N, found "
                         f"{sizes.size} among {len(curves)} runs with curves",
                         fix="train more model sizes (the envelope picks the best size at "
                             "each compute; with one size its N_opt cannot move)")
    return curves


def _bootstrap_laws(curves, grid: np.ndarray, bootstrap: int, seed: int
                    ) -> list[tuple[PowerLaw, PowerLaw]]:
    """(N_opt law, D_opt law) of each resample of curves whose envelope moves."""
    samples: list[tuple[PowerLaw, PowerLaw]] = []
    for idx in resample_indices(len(curves), bootstrap, seed):
        _, n_b = _envelope([curves[i] for i in idx], grid)
        m = np.isfinite(n_b)
        if m.sum() < 3 or len(np.unique(n_b[m])) < 2:
            continue
        Cb = np.exp(grid[m])
        samples.append((fit_power_law(Cb, n_b[m]), fit_power_law(Cb, tokens_for_flops(Cb, n_b[m]))))
    return samples


def _allocation_row(c: float, n_law: PowerLaw, d_law: PowerLaw,
                    samples: list[tuple[PowerLaw, PowerLaw]], level: float) -> dict[str, Any]:
    row: dict[str, Any] = {"flops": float(c), "n_opt": float(n_law(c)), "d_opt": float(d_law(c))}
    row["tokens_per_param"] = row["d_opt"] / row["n_opt"]
    if samples:
        nb = np.array([s[0](c) for s in samples])
        db = np.array([s[1](c) for s in samples])
        row.update(n_opt_interval=interval(nb, level), d_opt_interval=interval(db, level),
                   tokens_per_param_interval=interval(db / nb, level))
    return row


def envelope_fit(runs: RunTable, params: str = "total", metric: str = "train_loss",
                 n_grid: int = 200, skip_fraction: float = 0.1, bootstrap: int = 0,
                 level: float = 0.8, seed: int = 0, budgets: Sequence[float] | str | None = "data"
                 ) -> EnvelopeFit:
    """Approach 1 on one group of runs that have training curves (a results folder).

    params: the N counted; metric: the curve ('train_loss' or 'eval_loss'); n_grid: points of
    the log C grid of the envelope; skip_fraction: the start of each curve left out (warmup);
    bootstrap: resamples of curves (0: none); level: interval level in (0, 1); seed;
    budgets: the allocation table's C ('data': the runs' own).  Bad values: InputErrors.
    """
    check_kwargs(bootstrap=bootstrap, level=level, seed=seed, params=params, budgets=budgets)
    group = runs.group  # one objective/tokenizer, else an InputError
    curves = _checked_curves(runs, params, metric, skip_fraction)
    grid = np.linspace(min(c[1][0] for c in curves), max(c[1][-1] for c in curves), n_grid)
    env, ns = _envelope(curves, grid)
    ok = np.isfinite(ns)
    if np.unique(ns[ok]).size < 2:
        raise InputError(f"approach 1: one size (N {float(ns[ok][0]):.4g}) has the lowest loss "
                         "at every compute, so the envelope gives no N_opt trend to fit",
                         fix="add sizes around it, or use approach 2 or 3")
    C = np.exp(grid[ok])
    n_law = fit_power_law(C, ns[ok])
    d_law = fit_power_law(C, tokens_for_flops(C, ns[ok]))
    samples = _bootstrap_laws(curves, grid, bootstrap, seed) if bootstrap else []
    intervals = None
    if bootstrap:
        intervals = {"a": interval([s[0].exponent for s in samples], level),
                     "b": interval([s[1].exponent for s in samples], level),
                     "n_resamples_used": len(samples)}
    allocation = tuple(_allocation_row(c, n_law, d_law, samples, level)
                       for c in reporting_budgets(budgets, runs, params))
    return EnvelopeFit(group=group, params=params, flops=tuple(map(float, C)),
                       loss=tuple(map(float, env[ok])), n_opt=tuple(map(float, ns[ok])),
                       n_law=n_law, d_law=d_law, bootstrap=bootstrap, level=level,
                       intervals=intervals, allocation=allocation)
