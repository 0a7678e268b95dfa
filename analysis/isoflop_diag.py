"""Is an approach-2 fit identified?  Its verdict, from three checks:

- budgets left out: a budget whose lowest loss is at its smallest or largest size has no
  measured minimum (analysis/isoflop_min.py); it is named, and with fewer than 3 budgets left
  the power law rests on too little: `weak`;
- the estimators disagree: a from the window parabola and from the all-points parabola on the
  same budgets.  When they differ by more than the width of the bootstrap interval of a, the
  answer depends on how much of each curve the parabola spans -- the curves are not parabolas
  over their sizes: `weak`.  The Akima interpolation's a is reported beside them but not
  judged: it interpolates the noise, and its scatter is 4x the window's (measured on synthetic
  curves, benchmarks/isoflop_estimators.py), so on noisy curves it disagrees by chance.
  Without a bootstrap there is no interval to compare with; the spread is reported only;
- the parabola misfits: per budget, the root-mean-square residual of the runs the parabola
  went through, against the seed noise (the spread of the losses of one size's seeds, pooled
  over every size with 2+ runs).  A residual more than twice the seed noise (F test of 4 at
  these sample sizes) means the curve is not a parabola over the window: `weak`.  Without
  seeds there is no noise to compare with; the residuals are reported only.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from analysis.identify import IDENTIFIED, WEAK, Verdict

#: The estimators whose disagreement the verdict judges (the parabola over a window, over all).
JUDGED = ("window", "all")


def seed_noise(curves: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[float | None, int]:
    """(pooled standard deviation of the loss among runs of one size and budget, its degrees
    of freedom); (None, 0) without repeated sizes."""
    ss, dof = 0.0, 0
    for logn, loss in curves:
        keys = np.round(logn, 9)
        for k in np.unique(keys):
            v = loss[keys == k]
            if v.size > 1:
                ss += float(np.sum((v - v.mean()) ** 2))
                dof += v.size - 1
    return (float(np.sqrt(ss / dof)), dof) if dof else (None, 0)


def _rms(m: Any, logn: np.ndarray, loss: np.ndarray) -> float:
    r = loss[m.used] - np.polyval(m.parabola, logn[m.used])
    return float(np.sqrt(np.sum(r ** 2) / max(int(m.used.sum()) - 3, 1)))


def isoflop_verdict(mins: Sequence[tuple[float, Any, np.ndarray, np.ndarray]],
                    excluded: Sequence[float], a_by_estimator: dict[str, float],
                    intervals: dict[str, Any] | None) -> Verdict:
    """mins: (C, isoflop_min.Minimum, log N, loss) of each budget in the law."""
    reasons, weak = [], False
    if excluded:
        reasons.append(f"lowest loss at an end of the sizes at C "
                       f"{', '.join(f'{c:.3g}' for c in excluded)} (left out of the law)")
        weak = len(mins) < 3
    judged = [v for k, v in a_by_estimator.items() if k in JUDGED]
    spread = float(np.ptp(judged)) if len(judged) > 1 else 0.0
    iv = (intervals or {}).get("a")
    if iv and np.all(np.isfinite(iv)) and spread > iv[1] - iv[0]:
        weak = True
        got = ", ".join(f"{k} {v:.3f}" for k, v in a_by_estimator.items())
        reasons.append(f"window and all-points parabolas disagree on a by {spread:.3f} ({got}), "
                       f"more than the interval's width {iv[1] - iv[0]:.3f}")
    noise, dof = seed_noise([(x, y) for _, _, x, y in mins])
    rms = [_rms(m, x, y) for _, m, x, y in mins]
    if noise is not None and noise > 0:
        bad = [f"{c:.3g}" for (c, *_), r in zip(mins, rms) if r > 2 * noise]
        if bad:
            weak = True
            reasons.append(f"parabola residuals above twice the seed noise {noise:.3g} at C "
                           f"{', '.join(bad)} (the curve is not a parabola over the window)")
    diag = {"a_by_estimator": dict(a_by_estimator), "estimator_spread": spread,
            "parabola_rms_by_budget": rms, "seed_noise": noise, "seed_noise_dof": dof,
            "excluded_budgets": [float(c) for c in excluded]}
    return Verdict(WEAK if weak else IDENTIFIED, tuple(reasons), diag)
