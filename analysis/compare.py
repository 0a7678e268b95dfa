"""Two sweeps of one family on one IsoFLOP figure: e.g. cosine runs per point against cooldown
branches of warmup-stable trunks (README, "Results": cosine vs branched).

Each sweep's runs are grouped by their budget C = 6ND (rounded to 2 significant digits, as the
grids ask for round budgets); per budget the loss against log N is drawn with its parabola, one
line style per sweep, one colour per budget.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from analysis.table import RunTable


def budgets(runs: RunTable) -> dict[float, np.ndarray]:
    """Row indices of each IsoFLOP budget (C = 6ND, 2 significant digits)."""
    c = runs.c("total")
    keys = np.array([float(f"{x:.2g}") for x in c])
    return {k: np.flatnonzero(keys == k) for k in sorted(set(keys))}


def overlay_isoflop(sweeps: Sequence[tuple[str, RunTable]], ax: Any = None) -> Any:
    """Loss against N per budget for each (label, runs), parabolas in log N, drawn in the
    caller's style (analysis/plots.py: no rcParams set, no layout changed); returns the Axes."""
    import matplotlib.pyplot as plt

    from analysis.plots import _colors

    if ax is None:
        _, ax = plt.subplots()
    allc = sorted({c for _, r in sweeps for c in budgets(r)})
    colour = dict(zip(allc, _colors(allc)))
    for (label, runs), (marker, line) in zip(sweeps, (("o", "-"), ("s", "--"), ("^", ":"))):
        for c, idx in budgets(runs).items():
            n, loss = runs["n_total"][idx], runs["loss"][idx]
            ax.scatter(n, loss, marker=marker, color=colour[c], zorder=3)
            if len(idx) >= 3:
                p = np.polyfit(np.log(n), loss, 2)
                x = np.geomspace(n.min(), n.max(), 50)
                ax.plot(x, np.polyval(p, np.log(x)), line, color=colour[c])
        ax.plot([], [], line, marker=marker, color="0.3", label=label)
    for c in allc:
        ax.plot([], [], color=colour[c], label=f"C = {c:.2g}")
    ax.set_xscale("log")
    ax.set_xlabel("parameters N (total)")
    ax.set_ylabel("final eval loss (nats per token)")
    ax.legend(ncol=2)
    return ax


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m analysis.compare OUT_STEM LABEL=FOLDER ...``: the overlay of those sweeps,
    drawn under the suite's paper style (analysis/figstyle.py) at a page's width, written as
    OUT_STEM.png and OUT_STEM.pdf (reproducible, rewritten only when changed).  The README's
    cosine-vs-branched figure: `make reference-figures`."""
    import sys
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analysis.figstyle import export, style
    from analysis.load import load

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or any("=" not in a for a in args[1:]):
        print("usage: python -m analysis.compare OUT_STEM LABEL=FOLDER [LABEL=FOLDER ...]",
              file=sys.stderr)
        return 2
    sweeps = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for a in args[1:]:
            label, folder = a.split("=", 1)
            sweeps.append((label, load(folder)))
    out = Path(args[0])
    with plt.rc_context(style("paper", "page")):
        fig, ax = plt.subplots()
        overlay_isoflop(sweeps, ax=ax)
        done = export(fig, out.parent, out.name)
        plt.close(fig)
    print(f"wrote {sum(w for _, w in done)} of {len(done)} file(s): {out}.png, {out}.pdf")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
