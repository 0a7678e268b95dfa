"""Is an approach-3 fit identified?  Diagnostics and a verdict: identified / weak / not identified.

Five parameters fitted to a few dozen runs near their IsoFLOP minima can sit anywhere along a
ridge of equally good fits (E traded against A and alpha, the exponents against each other), and
then the allocation it implies is an artefact.  The verdict says so out loud; a fit that is
`not identified` prints no D/N headline.  Diagnostics, each with the threshold that flags it
(calibrated: synthetic IsoFLOP grids drawn from Hoffmann's or Besiroglu's law come out
identified, the CPU reference experiment's groups not identified, as README "Results" says):

severe (any one makes the fit `not identified`):
  - E collapsed: E < 5% of the lowest measured loss (the floor went to its bound 0), or the
    bootstrap's interval for E reaches below that;
  - E at the data: E > 99% of the lowest loss (no reducible loss left for A and B to model);
  - an exponent alpha or beta outside [0.05, 2] (Hoffmann's grid spans 0-2), or its relative
    spread above 0.5: half the width of the bootstrap interval over the value (without a
    bootstrap, the Gauss-Newton standard error, sigma^2 (J^T J)^-1, over the value);
  - N_opt at the largest reporting budget more than 3x outside the sizes that were trained.
mild (any one makes it `weak`):
  - fewer than 0.5% of the grid's starts within 1e-3 (relative) of the best objective;
  - starts within 1% of the best disagree on alpha or beta by more than 0.1 (several optima);
  - a relative spread of alpha or beta above 0.2;
  - condition number of the scaled Gauss-Newton Hessian (unit diagonal) above 1e5;
  - N_opt at the largest reporting budget outside the sizes that were trained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

IDENTIFIED, WEAK, NOT_IDENTIFIED = "identified", "weak", "not identified"


@dataclass(frozen=True)
class Verdict:
    """A fit's identifiability: the status, the reasons that set it, the numbers behind them."""

    status: str
    reasons: tuple[str, ...] = ()
    diagnostics: dict[str, Any] = field(default_factory=dict, compare=False)
    provisional: bool = False
    """Decided without a bootstrap: the spread diagnostics used Gauss-Newton standard errors
    (approach 3) or none (approach 2), which can miss the ridge resamples find; a bootstrap
    of 100+ resamples settles it (the status may then change)."""

    @property
    def identified(self) -> bool:
        return self.status == IDENTIFIED

    @property
    def label(self) -> str:
        """The status, with ' (provisional)' when decided without a bootstrap."""
        return self.status + (" (provisional)" if self.provisional else "")

    def short(self) -> str:
        """'identified', or 'weak: reason; reason' (' (provisional)' after the status when
        decided without a bootstrap)."""
        return self.label + (f": {'; '.join(self.reasons)}" if self.reasons else "")

    def to_dict(self) -> dict[str, Any]:
        out = {"status": self.status, "reasons": list(self.reasons),
               "diagnostics": dict(self.diagnostics)}
        if self.provisional:  # only then: fit files made with a bootstrap keep their bytes
            out["provisional"] = True
        return out


def provisional(verdict: Verdict) -> Verdict:
    """The verdict marked as decided without a bootstrap."""
    from dataclasses import replace

    return replace(verdict, provisional=True)


def not_assessed(reason: str) -> Verdict:
    """The verdict of a fit that has no identifiability diagnostics of its own (approach 1)."""
    return Verdict("not assessed", (reason,))


def gauss_newton(theta: np.ndarray, x: np.ndarray, y: np.ndarray, resid: np.ndarray
                 ) -> tuple[float, np.ndarray]:
    """(condition of the scaled J^T J, relative standard errors of alpha and beta).

    J is the Jacobian of log L_hat in theta = (e, a, b, alpha, beta): the Hessian of the squared
    residuals at the optimum without their curvature term.  Scaling to a unit diagonal removes
    the parameters' units, so the condition measures only how collinear their effects are.
    """
    e, a, b, al, be = (float(v) for v in theta)
    t1, t2 = a - al * x, b - be * y
    m = np.maximum(np.maximum(t1, t2), e)
    e1, e2, e3 = np.exp(t1 - m), np.exp(t2 - m), np.exp(e - m)
    s = e1 + e2 + e3
    J = np.stack([e3 / s, e1 / s, e2 / s, -x * e1 / s, -y * e2 / s], axis=1)
    H = J.T @ J
    dg = np.sqrt(np.maximum(np.diag(H), 1e-300))
    with np.errstate(all="ignore"):
        cond = float(np.linalg.cond(H / np.outer(dg, dg)))
        sigma2 = float(np.sum(resid**2)) / max(len(x) - 5, 1)
        cov = sigma2 * np.linalg.pinv(H)
    se = np.sqrt(np.abs(np.diag(cov)))
    return cond, np.array([se[3] / abs(al), se[4] / abs(be)]) if al and be else np.full(2, np.inf)


def _spread(intervals: dict[str, Any] | None, law: Any, se_rel: np.ndarray) -> np.ndarray:
    """Relative spread of alpha and beta: bootstrap half-width over value, else the GN error."""
    if intervals and "alpha" in intervals and "beta" in intervals:
        out = []
        for k in ("alpha", "beta"):
            lo, hi = intervals[k]
            v = abs(getattr(law, k)) or np.inf
            out.append((hi - lo) / 2 / v if np.isfinite(lo) and np.isfinite(hi) else np.inf)
        return np.array(out)
    return se_rel


def assess(law: Any, theta: np.ndarray, x: np.ndarray, y: np.ndarray, log_loss: np.ndarray,
           resid: np.ndarray, starts: dict[str, Any], intervals: dict[str, Any] | None,
           n_opt_top: float) -> Verdict:
    """The verdict of one approach-3 fit (see the module docstring for every threshold).

    starts: {'n': grid size, 'near': starts within 1e-3 of the best, 'ab_ptp': spread of
    (alpha, beta) over the starts within 1% of the best}.  n_opt_top: N_opt at the largest
    reporting budget.
    """
    min_loss = float(np.exp(np.min(log_loss)))
    cond, se_rel = gauss_newton(theta, x, y, resid)
    spread = _spread(intervals, law, se_rel)
    n_lo, n_hi = float(np.exp(x.min())), float(np.exp(x.max()))
    e_lo = (intervals or {}).get("E", [law.E])[0]
    severe, mild = [], []
    if law.E < 0.05 * min_loss or (np.isfinite(e_lo) and e_lo < 0.05 * min_loss):
        severe.append(f"E at its bound 0 (E {law.E:.3g}, lowest interval end {e_lo:.3g})")
    if law.E > 0.99 * min_loss:
        severe.append(f"E {law.E:.4g} leaves under 1% of the lowest loss {min_loss:.4g}")
    for k, s in zip(("alpha", "beta"), spread):
        v = getattr(law, k)
        if not 0.05 <= v <= 2.0:
            severe.append(f"{k} {v:.3g} outside [0.05, 2]")
        if s > 0.5:
            severe.append(f"{k} spread {s:.2f} of its value")
        elif s > 0.2:
            mild.append(f"{k} spread {s:.2f} of its value")
    ratio = max(n_lo / n_opt_top, n_opt_top / n_hi)
    if ratio > 3:
        severe.append(f"N_opt {n_opt_top:.3g} far outside the sizes trained")
    elif ratio > 1:
        mild.append(f"N_opt {n_opt_top:.3g} outside the sizes trained")
    share = starts["near"] / max(starts["n"], 1)
    if share < 0.005:
        mild.append(f"{starts['near']}/{starts['n']} starts reach the best objective")
    if np.max(starts["ab_ptp"], initial=0.0) > 0.1:
        mild.append("near-best starts disagree on the exponents")
    if cond > 1e5:
        mild.append(f"Hessian condition {cond:.2g}")
    status = NOT_IDENTIFIED if severe else (WEAK if mild else IDENTIFIED)
    diag = {"E_over_min_loss": law.E / min_loss, "alpha_beta_spread": [float(v) for v in spread],
            "starts_near_best": int(starts["near"]), "n_starts": int(starts["n"]),
            "near_best_exponent_ptp": [float(v) for v in starts["ab_ptp"]],
            "hessian_condition": cond, "n_opt_top_over_range": [n_opt_top / n_lo, n_opt_top / n_hi]}
    return Verdict(status, tuple(severe + mild), diag)


def start_agreement(theta: np.ndarray, f64: np.ndarray, fbest: float) -> dict[str, Any]:
    """How many grid starts reach the best objective, and whether those agree on alpha, beta."""
    near = f64 <= fbest * (1 + 1e-3) + 1e-12
    close = f64 <= fbest * (1 + 1e-2) + 1e-12
    ab = np.ptp(theta[close][:, 3:5], axis=0) if close.any() else np.zeros(2)
    return {"n": len(f64), "near": int(near.sum()), "ab_ptp": ab}


def budget_trend(resid: np.ndarray, c: np.ndarray) -> tuple[str | None, dict[str, Any]]:
    """Approach 3's residuals by IsoFLOP budget: (a reason, or None; diagnostics).

    A law of the right form leaves residuals that average to about zero in every budget; a mean
    that moves from budget to budget (-15%, +3%, -5% on one lab's data) means the form does not
    fit the data, however well the objective converged.  Flagged (mild: `weak`) when some
    budget's mean residual is more than 3 standard errors from zero (the pooled spread within
    budgets) and more than 1% of the loss.  Data without IsoFLOP budgets: not assessed.
    """
    from analysis.budgets import group_budgets

    labels = group_budgets(c)
    labs = np.unique(labels)
    if len(labs) < 2 or len(labs) * 3 > len(resid):
        return None, {}
    means = np.array([resid[labels == k].mean() for k in labs])
    sizes = np.array([(labels == k).sum() for k in labs])
    within = resid - means[np.searchsorted(labs, labels)]
    s = float(np.sqrt(np.sum(within ** 2) / max(len(resid) - len(labs), 1)))
    z = means / (s / np.sqrt(sizes)) if s > 0 else np.zeros_like(means)
    c_b = [float(np.exp(np.log(c[labels == k]).mean())) for k in labs]
    diag = {"residual_mean_by_budget": {f"{cb:.3g}": float(m) for cb, m in zip(c_b, means)},
            "residual_z_by_budget": [float(v) for v in z]}
    bad = (np.abs(z) > 3) & (np.abs(means) > 0.01)
    if not bad.any():
        return None, diag
    shown = ", ".join(f"{100 * (np.exp(m) - 1):+.1f}%" for m in means)
    return f"residuals drift by budget ({shown} from the smallest C): the form does not fit", diag
