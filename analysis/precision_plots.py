"""Figures of the precision laws (analysis/precision.py), drawn like every other figure of
`scaling plot` (analysis/plots.py: the caller's style, an optional ``ax``; figures.write for
byte-reproducible PNG and PDF):

- loss against training weight bits, one colour per N at the largest D, the fitted law's curve;
- delta_PTQ against D/N, one colour per post-training precision, the fitted law per N;
- the compute-optimal training precision at budgets spanning the data's own C (Kumar's
  accounting C = 6 N D P / 16), each budget's best precision marked.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from analysis.plots import _ax, _cycle
from analysis.precision import P_NONE
from runstore import flops_6nd


def _bad(fit: Any) -> bool:
    return fit is not None and fit.verdict.status == "not identified"


def _tag(fit: Any) -> str:
    return " (not identified)" if _bad(fit) else ""


def plot_loss_vs_bits(train: dict, fit: Any, ax: Any = None) -> Any:
    """Eval loss against training weight bits (P_NONE = none) at the largest D, per N."""
    ax = _ax(ax)
    d_top = float(np.max(train["d"]))
    bits = np.linspace(2, P_NONE, 60)
    for i, n in enumerate(sorted(set(train["n"]))):
        m = (train["n"] == n) & (train["d"] == d_top)
        if not m.any():
            continue
        ax.scatter(train["pw"][m], train["loss"][m], s=10, color=_cycle(i), zorder=3)
        ax.plot(bits, fit.law.loss(n, d_top, bits), color=_cycle(i),
                ls="--" if _bad(fit) else "-", label=f"N {n:.3g}")
    ax.set(xlabel=f"training weight bits ({P_NONE:g} = none)", ylabel="eval loss (nats/token)",
           title=f"QAT: loss vs bits at D {d_top:.3g}{_tag(fit)}")
    ax.legend()
    return ax


def plot_ptq(ptq: dict, fit: Any, ax: Any = None) -> Any:
    """Measured PTQ degradation against D/N per bit width (deltas <= 0 are within noise and not
    drawn on log axes), the fitted law at each N."""
    ax = _ax(ax)
    ratio = ptq["d"] / ptq["n"]
    for i, b in enumerate(sorted(set(ptq["bits"]), reverse=True)):
        m = (ptq["bits"] == b) & (ptq["delta"] > 0)
        ax.scatter(ratio[m], ptq["delta"][m], s=10, color=_cycle(i), zorder=3,
                   label=f"{b:g} bits")
        for n in sorted(set(ptq["n"])):
            d = np.geomspace(ptq["d"].min(), ptq["d"].max(), 20)
            ax.plot(d / n, fit.law.delta(n, d, b), color=_cycle(i), alpha=0.6,
                    ls="--" if _bad(fit) else "-")
    ax.set(xscale="log", yscale="log", xlabel="D / N (tokens per parameter)",
           ylabel="PTQ loss increase (nats/token)", title=f"PTQ degradation vs D/N{_tag(fit)}")
    ax.legend()
    return ax


def plot_optimal_precision(fit: Any, budgets: list[float], ax: Any = None) -> Any:
    """Loss at the compute-optimal N for each training precision, at each budget."""
    ax = _ax(ax)
    bits = list(range(2, int(P_NONE) + 1))
    for i, c in enumerate(budgets):
        losses = [fit.law.optimal_precision(c, bits=[b])["loss"] for b in bits]
        j = int(np.argmin(losses))
        ax.plot(bits, losses, color=_cycle(i), label=f"C {c:.2g}")
        ax.scatter([bits[j]], [losses[j]], s=14, color=_cycle(i), zorder=3)
    ax.set(xlabel="training weight bits", ylabel="loss at the optimal N (nats/token)",
           title=f"optimal precision, C = 6NDP/16{_tag(fit)}")
    ax.legend()
    return ax


def budgets_of(train: dict) -> list[float]:
    """Three budgets across the runs' own C = 6ND: the smallest, the middle, the largest."""
    c = flops_6nd(train["n"], train["d"])
    return [float(x) for x in np.geomspace(c.min(), c.max(), 3)]


def specs(train: dict, ptq: dict, tf: Any, pf: Any) -> list[tuple[str, Any, tuple, dict]]:
    """[(file stem, plot function, args, kwargs)] of the precision figures (figures.write)."""
    out = [("precision_loss_vs_bits", plot_loss_vs_bits, (train, tf), {}),
           ("precision_compute_optimal", plot_optimal_precision, (tf, budgets_of(train)), {})]
    if pf is not None and len(ptq["n"]):
        out.insert(1, ("precision_ptq_vs_d_over_n", plot_ptq, (ptq, pf), {}))
    return out
