"""Precision as a scaling axis: Kumar et al. 2024 ("Scaling Laws for Precision",
arXiv:2411.04330), fitted to runs trained with fake quantisation and to post-training
quantisation (PTQ) of finished runs.

Training precision (the effective parameter count), jointly with the Chinchilla form:
    L = A N_eff^-alpha + B D^-beta + E,   N_eff = N (1 - exp(-P_w / gamma_w)) (1 - exp(-P_a / gamma_a))
fitted in log space, log L_hat = LSE(a - alpha log N_eff, b - beta log D, e), by the sum of Huber
losses (delta 1e-3) of log residuals as approach 3 (analysis/parametric.py), from a grid of starts.
gamma_a is fitted only when activations were swept. An unquantised run counts as P = 16 bits
(`P_NONE`; at gamma ~ 3 its factor is 1 - 5e-3, so the choice barely matters).

PTQ degradation, at each post-training precision P_post:
    delta_PTQ = C_T exp(-P_post / gamma_post) D^gamma_D / N^gamma_N
fitted to the measured delta = L_quantised - L by least squares of log delta (a delta within the
measurement's resolution, `resolution_floor`, is left out: its log would be noise). gamma_D > 0 is Kumar's finding: more data, more damage.

Bootstrap: runs resampled with replacement (analysis.bootstrap), every resample refitted from
the full-data optimum; percentile intervals. Verdicts use analysis.identify's statuses and
approach 3's thresholds on relative spreads (severe > 0.5, mild > 0.2).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis import identify
from analysis.bootstrap import interval, resample_indices
from runstore import tokens_for_flops

P_NONE = 16.0
DELTA = 1e-3


@dataclass(frozen=True)
class PrecisionLaw:
    """L(N, D, P_w, P_a) of Kumar et al.; gamma_a None when activations were not swept."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    gamma_w: float
    gamma_a: float | None = None

    def n_eff(self, n, p_w, p_a=None) -> np.ndarray:
        out = np.asarray(n, float) * (1 - np.exp(-np.asarray(p_w, float) / self.gamma_w))
        if self.gamma_a is not None and p_a is not None:
            out = out * (1 - np.exp(-np.asarray(p_a, float) / self.gamma_a))
        return out

    def loss(self, n, d, p_w, p_a=None) -> np.ndarray:
        return (self.A * self.n_eff(n, p_w, p_a) ** -self.alpha
                + self.B * np.asarray(d, float) ** -self.beta + self.E)

    def optimal_precision(self, c: float, bits=tuple(range(2, 17))) -> dict[str, Any]:
        """Kumar's compute accounting, C = 6 N D P / 16: the bits, N and D of least loss at C."""
        best = None
        for p in bits:
            ns = np.logspace(3, 13, 2001)
            d = tokens_for_flops(c, ns * p / P_NONE)
            losses = self.loss(ns, d, p)
            i = int(np.argmin(losses))
            row = {"flops": c, "bits": float(p), "n": float(ns[i]), "d": float(d[i]),
                   "loss": float(losses[i])}
            if best is None or row["loss"] < best["loss"]:
                best = row
        return best

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PTQLaw:
    """delta_PTQ(N, D, P_post) of Kumar et al."""

    C_T: float
    gamma_D: float
    gamma_N: float
    gamma_post: float

    def delta(self, n, d, p_post) -> np.ndarray:
        return (self.C_T * np.exp(-np.asarray(p_post, float) / self.gamma_post)
                * np.asarray(d, float) ** self.gamma_D / np.asarray(n, float) ** self.gamma_N)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PrecisionFit:
    """A fitted law with its bootstrap intervals and identifiability verdict."""

    law: Any
    n_runs: int
    rmse_log: float
    intervals: dict[str, list[float]] = field(default_factory=dict)
    verdict: identify.Verdict = identify.Verdict(identify.IDENTIFIED)

    def to_dict(self) -> dict[str, Any]:
        return {"law": self.law.to_dict(), "n_runs": self.n_runs, "rmse_log": self.rmse_log,
                "intervals": self.intervals, "verdict": self.verdict.to_dict()}


# ---- training precision ----

def _train_log_loss(theta, x, y, pw, pa):
    e, a, b, al, be, lgw = theta[:6]
    log_neff = x + np.log1p(-np.exp(-pw / np.exp(lgw)))
    if len(theta) > 6:
        log_neff = log_neff + np.log1p(-np.exp(-pa / np.exp(theta[6])))
    t1, t2 = a - al * log_neff, b - be * y
    m = np.maximum(np.maximum(t1, t2), e)
    return m + np.log(np.exp(t1 - m) + np.exp(t2 - m) + np.exp(e - m))


def _least_squares(fun, theta0, **kw):
    from scipy.optimize import least_squares
    return least_squares(fun, theta0, method="trf", **kw)


def _train_starts(with_a: bool) -> np.ndarray:
    g = np.meshgrid([-1.0, 0.5], [0.0, 5.0, 15.0], [0.0, 5.0, 15.0], [0.3, 0.7], [0.3, 0.7],
                    np.log([1.0, 3.0]), indexing="ij")
    rows = np.stack([v.ravel() for v in g], axis=1)
    if with_a:
        rows = np.column_stack([rows, np.full(len(rows), np.log(3.0))])
    return rows


def _fit_train_theta(x, y, pw, pa, ll, starts) -> tuple[np.ndarray, float]:
    fun = lambda th: _train_log_loss(th, x, y, pw, pa) - ll  # noqa: E731
    best, fbest = None, np.inf
    for th0 in starts:
        r = _least_squares(fun, th0, loss="huber", f_scale=DELTA, max_nfev=300)
        if np.isfinite(r.cost) and r.cost < fbest:
            best, fbest = r.x, r.cost
    return best, fbest


def _theta_law(th) -> PrecisionLaw:
    return PrecisionLaw(E=float(np.exp(th[0])), A=float(np.exp(th[1])), B=float(np.exp(th[2])),
                        alpha=float(th[3]), beta=float(th[4]), gamma_w=float(np.exp(th[5])),
                        gamma_a=float(np.exp(th[6])) if len(th) > 6 else None)


def _spread_verdict(law, intervals, keys, extra_severe=()) -> identify.Verdict:
    severe, mild = list(extra_severe), []
    spreads = {}
    for k in keys:
        lo, hi = intervals.get(k, [np.nan, np.nan])
        v = abs(getattr(law, k)) or np.inf
        s = (hi - lo) / 2 / v if np.isfinite(lo) and np.isfinite(hi) else np.inf
        spreads[k] = float(s)
        if s > 0.5:
            severe.append(f"{k} spread {s:.2f} of its value")
        elif s > 0.2:
            mild.append(f"{k} spread {s:.2f} of its value")
    status = identify.NOT_IDENTIFIED if severe else identify.WEAK if mild else identify.IDENTIFIED
    return identify.Verdict(status, tuple(severe + mild), {"relative_spread": spreads})


def fit_training_precision(n, d, loss, p_w, p_a=None, bootstrap: int = 100, level: float = 0.8,
                           seed: int = 0, starts: np.ndarray | None = None) -> PrecisionFit:
    """Kumar's N_eff form jointly with Chinchilla's; p_w (and p_a) in bits, P_NONE for none."""
    x, y, ll = np.log(np.asarray(n, float)), np.log(np.asarray(d, float)), np.log(loss)
    pw = np.asarray(p_w, float)
    with_a = p_a is not None and len(set(np.asarray(p_a, float))) > 1
    pa = np.asarray(p_a, float) if with_a else np.full_like(pw, P_NONE)
    starts = _train_starts(with_a) if starts is None else starts
    theta, _ = _fit_train_theta(x, y, pw, pa, ll, starts)
    law = _theta_law(theta)
    resid = _train_log_loss(theta, x, y, pw, pa) - ll
    keys = ["alpha", "beta", "gamma_w"] + (["gamma_a"] if with_a else [])
    intervals: dict[str, list[float]] = {}
    if bootstrap:
        draws = []
        for idx in resample_indices(len(x), bootstrap, seed):
            th, _ = _fit_train_theta(x[idx], y[idx], pw[idx], pa[idx], ll[idx], [theta])
            draws.append(_theta_law(th))
        names = ["E", "A", "B"] + keys
        intervals = {k: interval([getattr(dr, k) for dr in draws], level) for k in names}
    severe = []
    if np.min(pw) < P_NONE and np.exp(-np.min(pw) / law.gamma_w) < 0.01:
        severe.append(f"the fewest bits trained ({np.min(pw):g}) shrink N_eff by under 1% at "
                      f"gamma_w {law.gamma_w:.3g}: precision never moved the loss")
    if len(set(pw)) < 3:
        severe.append("fewer than 3 training precisions")
    verdict = (_spread_verdict(law, intervals, keys, severe) if bootstrap else
               identify.Verdict(identify.NOT_IDENTIFIED if severe else "not assessed",
                                tuple(severe) or ("no bootstrap",)))
    return PrecisionFit(law, len(x), float(np.sqrt(np.mean(resid ** 2))), intervals, verdict)


# ---- post-training quantisation ----

def _ptq_log_delta(th, logn, logd, p):
    lc, gd, gn, lgp = th
    return lc - p / np.exp(lgp) + gd * logd - gn * logn


def _fit_ptq_theta(logn, logd, p, ld, starts):
    fun = lambda th: _ptq_log_delta(th, logn, logd, p) - ld  # noqa: E731
    best, fbest = None, np.inf
    for th0 in starts:
        r = _least_squares(fun, th0, loss="soft_l1", f_scale=0.1, max_nfev=500)
        if r.cost < fbest:
            best, fbest = r.x, r.cost
    return best


def _ptq_law(th) -> PTQLaw:
    return PTQLaw(C_T=float(np.exp(th[0])), gamma_D=float(th[1]), gamma_N=float(th[2]),
                  gamma_post=float(np.exp(th[3])))


def resolution_floor(delta) -> float:
    """Twice the largest |delta| among the non-positive ones: rounding that lowered the loss
    shows how large a delta the measurement cannot tell from none (0 when none is <= 0). A
    delta at or under it is left out of the PTQ fit: its log would be noise."""
    delta = np.asarray(delta, float)
    low = np.abs(delta[delta <= 0])
    return 2.0 * float(low.max()) if low.size else 0.0


def fit_ptq(n, d, bits, delta, bootstrap: int = 100, level: float = 0.8,
            seed: int = 0) -> PrecisionFit:
    """Kumar's PTQ degradation law on (N, D, P_post, measured delta) rows."""
    n, d, bits, delta = (np.asarray(v, float) for v in (n, d, bits, delta))
    keep = delta > resolution_floor(delta)
    logn, logd, p, ld = np.log(n[keep]), np.log(d[keep]), bits[keep], np.log(delta[keep])
    starts = [np.array([c, g, g, np.log(gp)]) for c in (-5.0, 0.0, 5.0) for g in (0.0, 0.5)
              for gp in (0.5, 2.0)]
    theta = _fit_ptq_theta(logn, logd, p, ld, starts)
    law = _ptq_law(theta)
    resid = _ptq_log_delta(theta, logn, logd, p) - ld
    intervals: dict[str, list[float]] = {}
    if bootstrap:
        draws = [_ptq_law(_fit_ptq_theta(logn[i], logd[i], p[i], ld[i], [theta]))
                 for i in resample_indices(len(ld), bootstrap, seed)]
        intervals = {k: interval([getattr(dr, k) for dr in draws], level)
                     for k in ("C_T", "gamma_D", "gamma_N", "gamma_post")}
    severe = [] if len(set(p)) >= 2 else ["fewer than 2 post-training precisions"]
    if len(set(np.round(logd, 3))) < 2:
        severe.append("one D only: gamma_D cannot be told")
    verdict = (_spread_verdict(law, intervals, ["gamma_D", "gamma_N", "gamma_post"], severe)
               if bootstrap else identify.Verdict("not assessed", ("no bootstrap",)))
    return PrecisionFit(law, int(keep.sum()), float(np.sqrt(np.mean(resid ** 2))), intervals,
                        verdict)


def synthetic_precision(law: PrecisionLaw, ptq: PTQLaw, sizes, tokens, bits, post_bits,
                        noise: float = 0.01, seed: int = 0) -> dict[str, np.ndarray]:
    """Runs drawn from Kumar's form with multiplicative noise: a (N, D, P_w) grid of losses and
    PTQ deltas of the P_NONE runs at each post-training precision (for the recovery test)."""
    rng = np.random.default_rng(seed)
    N, D, P = (v.ravel() for v in np.meshgrid(sizes, tokens, bits, indexing="ij"))
    loss = law.loss(N, D, P) * (1 + noise * rng.standard_normal(N.size))
    n2, d2, p2 = (v.ravel() for v in np.meshgrid(sizes, tokens, post_bits, indexing="ij"))
    delta = ptq.delta(n2, d2, p2) * (1 + noise * rng.standard_normal(n2.size))
    return {"n": N, "d": D, "bits": P, "loss": loss,
            "ptq_n": n2, "ptq_d": d2, "ptq_bits": p2, "ptq_delta": delta}
