"""Re-derive approach-3 fit files' intervals from their stored bootstrap draws (BC intervals).

    python scripts/reinterval_approach3.py results/cpu_reference/fits/approach3-*.json

Why not refit: approach 3's float32 multi-start fit rounds differently from one CPU to another
(docs/results.md: about 1e-8 relative), so a refit on another machine moves the committed point
estimates' last digits -- and the draws with them.  The intervals are a function of the draws
(``law.samples``) and the point estimates alone, so this rewrites only what depends on them:
``intervals``, ``law.interval``, the allocation rows' ``*_interval`` and the verdict's reasons,
status and ``alpha_beta_spread`` (identify.assess on the stored runs; its other diagnostics are
checked against the stored ones and kept).  Point estimates and draws stay byte for byte.  A
file whose intervals are already BC, or that has no draws, is left alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from analysis import identify
from analysis.cli import _clean
from analysis.laws import ParametricLaw, quiet
from analysis.parametric import law_with_intervals
from runstore import atomic_write_text


def _interval_reason(reason: str) -> bool:
    """Reasons that read the bootstrap intervals (E's lower end, the exponents' spread)."""
    return reason.startswith("E at its bound") or " spread " in reason


def _verdict(d: dict, law: ParametricLaw, intervals: dict) -> dict:
    """The stored verdict with identify.assess's interval-dependent parts redone."""
    runs, old = d["runs"], d["verdict"]
    x, y, ll = (np.log(np.asarray(runs[k], dtype=float)) for k in ("n", "d", "loss"))
    theta = np.array([np.log(law.E), np.log(law.A), np.log(law.B), law.alpha, law.beta])
    diag = old["diagnostics"]
    starts = {"n": diag["n_starts"], "near": diag["starts_near_best"],
              "ab_ptp": np.asarray(diag["near_best_exponent_ptp"])}
    n_top = float(law.n_opt(max(r["flops"] for r in d["allocation"])))
    new = identify.assess(law, theta, x, y, ll, np.asarray(runs["residual"]), starts, intervals,
                          n_top)
    for k, v in new.diagnostics.items():  # the reconstruction is the fit's own
        if k != "alpha_beta_spread" and not np.allclose(v, diag[k], rtol=1e-6):
            raise SystemExit(f"{d['law']['name']}: {k} {v} != stored {diag[k]}")
    kept = [r for r in old["reasons"] if not _interval_reason(r)]
    if [r for r in new.reasons if not _interval_reason(r)] != [
            r for r in kept if not r.startswith("residuals drift")]:
        raise SystemExit(f"{d['law']['name']}: reasons {new.reasons} vs stored {old['reasons']}")
    drift = [r for r in kept if r.startswith("residuals drift")]  # identify.budget_trend's
    status = new.status
    if drift and status == identify.IDENTIFIED:
        status = identify.WEAK
    return {"status": status, "reasons": list(new.reasons) + drift,
            "diagnostics": {**diag, "alpha_beta_spread": new.diagnostics["alpha_beta_spread"]}}


def reinterval(path: Path) -> bool:
    """Rewrite one fit file's intervals as BC ones; False when there was nothing to do."""
    d = json.loads(path.read_text())
    if d.get("approach") != 3 or not d["law"].get("samples") or \
            (d.get("intervals") or {}).get("interval_method") == "bc":
        return False
    # a draw's E, A or B that overflowed to inf is stored as null: NaN here, left out of
    # that parameter's interval as the fit left it out
    draws = np.array([[np.nan if v is None else v for v in r] for r in d["law"]["samples"]])
    law = ParametricLaw.from_dict({**d["law"], "samples": None})
    new_law, intervals = law_with_intervals(law, draws, d["level"], "runs", "bc")
    assert _clean([list(r) for r in new_law.samples]) == d["law"]["samples"]
    d["intervals"] = intervals
    d["law"]["interval"] = dict(new_law.interval)  # the draws stay as stored
    for row in d["allocation"]:
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            fresh = quiet(new_law).optimal(row["flops"])  # a draw's N_opt 0: left out
        row.update({k: v for k, v in fresh.items() if k.endswith("_interval")})
    d["verdict"] = _verdict(d, law, intervals)
    atomic_write_text(path, json.dumps(_clean(d), indent=1))
    return True


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(("rewrote " if reinterval(Path(p)) else "left    ") + p)
