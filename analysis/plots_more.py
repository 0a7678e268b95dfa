"""Two more figures in the caller's style (the conventions of analysis/plots.py): the
loss-vs-compute frontier, and the held-out check's predicted against measured losses."""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from runstore import chinchilla_allocation


def _ax(ax: Any) -> Any:
    if ax is not None:
        return ax
    _, ax = plt.subplots()
    return ax


def _cycle(i: int) -> Any:
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key().get("color", ["k"])
    return colors[i % len(colors)]


def frontier_law(fit: Any) -> Any:
    """Approach 2's fitted frontier: the power law L*(C) = k C^e through its budgets' minimum
    losses (what the held-out check extrapolates with, analysis/holdout.py)."""
    from analysis.power_law import fit_power_law

    return fit_power_law(np.asarray(fit.flops), np.asarray(fit.min_loss))


def _frontier3(ax: Any, fit: Any, color: Any, cs: np.ndarray) -> None:
    """Approach 3: the law's loss at the compute-optimal N, D; its bootstrap band."""
    from analysis.laws import quiet

    law = quiet(fit.law)  # labelled "(not identified)" here: no warning
    bad = fit.verdict.status == "not identified"
    look = dict(color=color, ls="--", alpha=0.55) if bad else dict(color=color, ls="-.")
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # optimal() also computes bootstrap intervals; a resample's overflow is dropped there
        loss = [law.optimal(c)["loss"] for c in cs]
    ax.plot(cs, loss, **look,
            label=f"{fit.name} approach 3" + (" (not identified)" if bad else ""))
    if law.samples:
        s = np.asarray(law.samples)
        level = float((law.interval or {}).get("level", fit.level))
        q = [(1 - level) / 2, (1 + level) / 2]
        band = []
        for c in cs:
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                # a resample with alpha or beta near 0 puts N or D at 0 or inf: left out below
                n, d = chinchilla_allocation(*s[:, :5].T, c)
                v = s[:, 0] + s[:, 1] / n ** s[:, 3] + s[:, 2] / d ** s[:, 4]
            band.append(np.quantile(v[np.isfinite(v)], q))
        band = np.array(band)
        ax.fill_between(cs, band[:, 0], band[:, 1], color=color, alpha=0.15)


def plot_frontier(fits: Any, ax: Any = None) -> Any:
    """Loss against compute: every run (small, pale), each IsoFLOP budget's minimum loss with
    its bootstrap interval (approach 2's ``min_loss``, ``min_loss_interval``) and the power
    law through those minima, and approach 3's loss at the compute-optimal allocation, one
    colour per group.  ``fits``: one fit or a list of approach 2 and 3 fits."""
    fits = fits if isinstance(fits, (list, tuple)) else [fits]
    groups = sorted({f.name for f in fits})
    ax = _ax(ax)
    c_all = [c for f in fits if f.approach == 2 for c in f.flops]
    c_all += [r["flops"] for f in fits for r in f.allocation]
    cs = np.geomspace(min(c_all), max(c_all), 60)
    for fit in fits:
        color = _cycle(groups.index(fit.name))
        if fit.approach == 3:
            _frontier3(ax, fit, color, cs)
            continue
        if fit.approach != 2:
            continue
        for c, (_, loss) in zip(fit.flops, fit.curves):
            ax.scatter(np.full(len(loss), c), loss, color=color, alpha=0.25,
                       edgecolors="none")
        iv = fit.min_loss_interval
        err = None
        if iv and all(v is not None for v in iv):
            err = np.abs(np.array(iv).T - np.asarray(fit.min_loss))
        ax.errorbar(fit.flops, fit.min_loss, yerr=err, fmt="o", color=color,
                    label=f"{fit.name} IsoFLOP minima")
        law = frontier_law(fit)
        ax.plot(cs, law(cs), color=color,
                label=f"{fit.name} approach 2: L* = {law.k:.3g} C^{law.exponent:.3f}")
    ax.set_xscale("log")
    ax.set_xlabel("compute C = 6ND (FLOPs)")
    ax.set_ylabel("minimum eval loss (nats/token)")
    ax.set_title("loss frontier" + (f", {groups[0]}" if len(groups) == 1 else ""))
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    return ax


def plot_holdout(checks: Sequence[Any], ax: Any = None) -> Any:
    """Held-out check: predicted against measured loss of every held-out run (intervals as
    error bars), one colour per group, circles approach 2, squares approach 3."""
    checks = checks if isinstance(checks, (list, tuple)) else [checks]
    ax = _ax(ax)
    groups = sorted({h.group for h in checks})
    lo, hi = np.inf, -np.inf
    for h in checks:
        m = np.array([r["measured"] for r in h.runs])
        p = np.array([r["predicted"] for r in h.runs])
        iv = [r["interval"] for r in h.runs]
        err = None if any(v is None for v in iv) else np.abs(np.array(iv).T - p)
        ax.errorbar(m, p, yerr=err, fmt="o" if h.approach == 2 else "s",
                    color=_cycle(groups.index(h.group)),
                    label=f"{h.group} approach {h.approach} (C {h.flops:.2g})")
        lo, hi = min(lo, m.min(), p.min()), max(hi, m.max(), p.max())
    ax.plot([lo, hi], [lo, hi], color="k", ls=":", label="predicted = measured")
    ax.set_xlabel("measured final eval loss (nats/token)")
    ax.set_ylabel("predicted loss (nats/token)")
    ax.set_title("held-out: the largest budget predicted")
    ax.legend()
    return ax
