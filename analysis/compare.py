"""Two sweeps of one family on one IsoFLOP figure: e.g. cosine runs per point against cooldown
branches of warmup-stable trunks (README, "Results": cosine vs branched).

Each sweep's runs are grouped by their budget C = 6ND (rounded to 2 significant digits, as the
grids ask for round budgets); per budget the loss against log N is drawn with its parabola, one
line style per sweep, one colour per budget.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from analysis.table import RunTable


def budgets(runs: RunTable) -> dict[float, np.ndarray]:
    """Row indices of each IsoFLOP budget (C = 6ND, 2 significant digits)."""
    c = runs.c("total")
    keys = np.array([float(f"{x:.2g}") for x in c])
    return {k: np.flatnonzero(keys == k) for k in sorted(set(keys))}


def overlay_isoflop(sweeps: Sequence[tuple[str, RunTable]], ax: Any = None) -> Any:
    """Loss against N per budget for each (label, runs), parabolas in log N; returns the Axes."""
    import matplotlib.pyplot as plt

    from analysis.plots import STYLE, _colors

    with plt.rc_context(STYLE):
        if ax is None:
            _, ax = plt.subplots(figsize=(6.4, 4.2))
        allc = sorted({c for _, r in sweeps for c in budgets(r)})
        colour = dict(zip(allc, _colors(allc)))
        for (label, runs), (marker, line) in zip(sweeps, (("o", "-"), ("s", "--"), ("^", ":"))):
            for c, idx in budgets(runs).items():
                n, loss = runs["n_total"][idx], runs["loss"][idx]
                ax.scatter(n, loss, marker=marker, s=14, color=colour[c], zorder=3)
                if len(idx) >= 3:
                    p = np.polyfit(np.log(n), loss, 2)
                    x = np.geomspace(n.min(), n.max(), 50)
                    ax.plot(x, np.polyval(p, np.log(x)), line, color=colour[c], lw=1)
            ax.plot([], [], line, marker=marker, color="0.3", label=label)
        for c in allc:
            ax.plot([], [], color=colour[c], label=f"C = {c:.2g}")
        ax.set_xscale("log")
        ax.set_xlabel("parameters N (total)")
        ax.set_ylabel("final eval loss (nats per token)")
        ax.legend(fontsize=7, ncol=2)
        ax.figure.tight_layout()
    return ax
