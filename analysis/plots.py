"""Publication plots that draw in the caller's style, saved as reproducible PNG and PDF.

Every function takes an optional ``ax`` and returns it.  It draws on that Axes, or on a new
figure made from the rcParams in force (a notebook's own style: line widths, fonts, legend
frames, colour cycle and colormap all come from there), and sets only what carries meaning:
the data, axis labels with units, scales, titles naming the group, legend entries.  The
suite's own look is an opt-in style sheet (analysis/figstyle.py): ``plt.style.use(
"analysis.paper")`` or ``plt.rcParams.update(plots.style())``; `scaling plot` uses it.

Groups take the colours of the axes' colour cycle, IsoFLOP budgets the colormap
(rcParams['image.cmap']).  A fit that is not identified (analysis/identify.py) keeps its
group's colour but is drawn dashed and paler, labelled "(not identified)".

This module never chooses a matplotlib backend, never calls tight_layout and never closes a
figure it did not create.  ``save`` writes NAME.png and NAME.pdf (figstyle.export: fixed
metadata, rewritten only when the bytes change).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from analysis.figstyle import WIDTHS, export, paper, style
from analysis.laws import quiet
from analysis.plots_more import plot_frontier, plot_holdout
from runstore import flops_6nd, tokens_for_flops

__all__ = ["WIDTHS", "figure", "paper", "plot_allocation", "plot_contours", "plot_curves",
           "plot_frontier", "plot_holdout", "plot_isoflop", "plot_ratio", "plot_residuals",
           "save", "style"]


def _ax(ax: Any) -> Any:
    """The caller's Axes, or a new figure's from the rcParams in force."""
    if ax is not None:
        return ax
    _, ax = plt.subplots()
    return ax


def save(fig: Any, out_dir: str | Path, name: str, close: bool = False) -> list[Path]:
    """Write NAME.png and NAME.pdf under rcParams (savefig.dpi, savefig.bbox, ...) with fixed
    metadata, each only when its bytes change; returns both paths.  The figure stays open
    (so it still shows in the notebook cell) unless ``close=True``."""
    paths = [p for p, _ in export(fig, out_dir, name)]
    if close:
        plt.close(fig)
    return paths


def _colors(values: Sequence[float]) -> list[Any]:
    """One colour per value (log-spaced) from the colormap in force."""
    v = np.log(np.asarray(values, dtype=float))
    span = (v.max() - v.min()) or 1.0
    cmap = plt.get_cmap(matplotlib.rcParams["image.cmap"])
    return [cmap((x - v.min()) / span * 0.9) for x in v]


def _cycle(i: int) -> Any:
    """Colour i of the axes' colour cycle."""
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key().get("color", ["k"])
    return colors[i % len(colors)]


def _legend(ax: Any, **kw: Any) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)


def _bad(fit: Any) -> bool:
    return fit.verdict.status == "not identified"


def _look(fit: Any, color: Any, ls: str = "-") -> dict[str, Any]:
    """Line keywords: the group's colour; dashed and pale when the fit is not identified."""
    return dict(color=color, ls="--", alpha=0.55) if _bad(fit) else dict(color=color, ls=ls)


def _label(fit: Any) -> str:
    return f"{fit.name} approach {fit.approach}" + (" (not identified)" if _bad(fit) else "")


def plot_isoflop(fit: Any, ax: Any = None) -> Any:
    """Approach 2: loss against N per budget, the parabolas and their minima (stars)."""
    ax = _ax(ax)
    for col, c, (ns, ls), p, n_opt in zip(_colors(fit.flops), fit.flops, fit.curves,
                                           fit.parabolas, fit.n_opt):
        ax.scatter(ns, ls, color=col, zorder=3)
        xs = np.linspace(np.log(min(ns)), np.log(max(ns)), 100)
        ax.plot(np.exp(xs), np.polyval(p, xs), color=col, label=f"C = {c:.2g}")
        ax.plot([n_opt], [np.polyval(p, np.log(n_opt))], marker="*", ls="none", color="k",
                zorder=4)
    ax.set_xscale("log")
    ax.set_xlabel(f"parameters N ({fit.params})")
    ax.set_ylabel("final eval loss (nats/token)")
    ax.set_title(f"IsoFLOP curves, {fit.name}")
    _legend(ax, ncol=2 if len(fit.flops) > 3 else 1)
    return ax


def _allocation_line(ax: Any, fit: Any, color: Any, which: str) -> list[float]:
    """One fit's N_opt or D_opt against C: minima (approaches 1, 2), law, interval band."""
    key = "n_opt" if which == "n" else "d_opt"
    look = _look(fit, color)
    if fit.approach == 3:
        cs = np.array([b["flops"] for b in fit.allocation])
        ax.plot(cs, [b[key] for b in fit.allocation], label=_label(fit), **look)
        rows = [b for b in fit.allocation if b.get(key + "_interval")]
    else:
        pts, n_pts = np.array(fit.flops), np.array(fit.n_opt)
        ax.scatter(pts, n_pts if which == "n" else tokens_for_flops(pts, n_pts), color=color,
                   zorder=3)
        cs = np.unique(np.concatenate([[r["flops"] for r in fit.allocation],
                                       [pts.min(), pts.max()]]))
        law = fit.n_law if which == "n" else fit.d_law
        ax.plot(cs, law(cs), label=f"{_label(fit)}: exponent {law.exponent:.3f}", **look)
        rows = [r for r in fit.allocation if r.get(key + "_interval")]
    if rows:
        iv = np.array([r[key + "_interval"] for r in rows])
        ax.fill_between([r["flops"] for r in rows], iv[:, 0], iv[:, 1], color=color, alpha=0.2)
    return list(cs)


def plot_allocation(fits: Any, ax: Any = None, which: str = "n") -> Any:
    """N_opt (which='n') or D_opt ('d') against C: points, fitted lines, interval bands.

    ``fits``: one fit or a list (approach 1/2 fits and ParametricFit mixed), one colour each.
    """
    fits = fits if isinstance(fits, (list, tuple)) else [fits]
    ax = _ax(ax)
    for i, fit in enumerate(fits):
        _allocation_line(ax, fit, _cycle(i), which)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("compute C = 6ND (FLOPs)")
    ax.set_ylabel("compute-optimal N_opt (parameters)" if which == "n"
                  else "compute-optimal D_opt (tokens)")
    names = sorted({f.name for f in fits})
    if len(names) == 1:
        ax.set_title(names[0])
    _legend(ax)
    return ax


def plot_ratio(fits: Sequence[Any], ax: Any = None, unit: str = "token") -> Any:
    """D_opt / N_opt against C for every group (one colour each): approach 2 minima and fit
    (solid), approach 3 (dash-dot; dashed and pale when not identified), Chinchilla's ~20
    tokens per parameter for scale.  unit='byte' multiplies by each group's bytes per token
    (groups without it are left out)."""
    fits = fits if isinstance(fits, (list, tuple)) else [fits]
    groups = sorted({tuple(f.group) for f in fits})
    ax = _ax(ax)
    for i, g in enumerate(groups):
        color = _cycle(i)
        for fit in (f for f in fits if tuple(f.group) == g):
            scale = 1.0 if unit == "token" else fit.bytes_per_token
            if scale is None or fit.approach not in (2, 3):
                continue  # no bytes per token, or an approach-1 fit
            if fit.approach == 3:
                cs = np.array([b["flops"] for b in fit.allocation])
                r = np.array([b["tokens_per_param"] for b in fit.allocation]) * scale
                ax.plot(cs, r, label=_label(fit), **_look(fit, color, "-."))
            else:
                c = np.array(fit.flops)
                ratio = np.asarray(fit.d_opt) / np.asarray(fit.n_opt)
                ax.scatter(c, ratio * scale, color=color, zorder=3)
                cs = np.geomspace(c.min(), c.max(), 50)
                ax.plot(cs, fit.d_law(cs) / fit.n_law(cs) * scale, label=_label(fit),
                        **_look(fit, color))
    if unit == "token":
        ax.axhline(20, color="k", ls=":", label="Chinchilla ~20")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("compute C = 6ND (FLOPs)")
    ax.set_ylabel(f"D_opt/N_opt ({unit}s per parameter)")
    _legend(ax)
    return ax


def plot_contours(fit: Any, ax: Any = None) -> Any:
    """Approach 3: iso-loss contours over (C, N), runs, and the efficient frontier N_opt(C)
    (black; dashed and pale, labelled, when the fit is not identified)."""
    law = quiet(fit.law)  # the figure labels a not-identified fit itself
    n = np.asarray(fit.n)
    c = flops_6nd(n, np.asarray(fit.d))
    ax = _ax(ax)
    lc = np.linspace(np.log10(c.min()) - 0.5, np.log10(c.max()) + 0.5, 120)
    ln = np.linspace(np.log10(n.min()) - 0.5, np.log10(n.max()) + 0.5, 120)
    CC, NN = np.meshgrid(10**lc, 10**ln)
    L = law.loss(NN, tokens_for_flops(CC, NN))
    cs = ax.contourf(CC, NN, np.log(L), levels=20, alpha=0.8)
    ax.figure.colorbar(cs, ax=ax, label="log predicted loss")
    ax.scatter(c, n, color="w", edgecolor="k", zorder=3, label="runs")
    frontier = "N_opt(C)" + (" (not identified)" if _bad(fit) else "")
    ax.plot(10**lc, law.n_opt(10**lc), label=frontier, **_look(fit, "k"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(10 ** lc[0], 10 ** lc[-1])
    ax.set_ylim(10 ** ln[0], 10 ** ln[-1])
    ax.set_xlabel("compute C = 6ND (FLOPs)")
    ax.set_ylabel(f"parameters N ({fit.params})")
    ax.set_title(f"{fit.name}, {fit.verdict.status}\nL = {_g(law.E)} + {_g(law.A)}/N^"
                 f"{law.alpha:.2f} + {_g(law.B)}/D^{law.beta:.2f}")
    _legend(ax, loc="upper left")
    return ax


def _g(x: float) -> str:
    """A coefficient in 2 significant digits, exponent without '+' and zeros (7.7e4)."""
    s = f"{x:.2g}"
    if "e" in s:
        m, e = s.split("e")
        s = f"{m}e{int(e)}"
    return s


def plot_residuals(fit: Any, ax: Any = None) -> Any:
    """Approach 3: log-loss residuals against C, coloured by N; the Huber delta dashed."""
    n = np.asarray(fit.n)
    c = flops_6nd(n, np.asarray(fit.d))
    ax = _ax(ax)
    pts = ax.scatter(c, fit.residuals, c=np.log10(n))
    ax.figure.colorbar(pts, ax=ax, label="log10 parameters N")
    ax.axhline(0, color="k")
    for s in (-1, 1):
        ax.axhline(s * fit.delta, color="0.4", ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("compute C = 6ND (FLOPs)")
    ax.set_ylabel("residual log L_fit - log L")
    ax.set_title(f"{fit.name}: residuals (Huber delta {fit.delta:g})")
    return ax


def plot_curves(runs: Any, ax: Any = None, params: str = "total", metric: str = "train_loss") -> Any:
    """Loss curves against C = 6 N tokens, one per run, coloured by N (the colormap)."""
    n = runs.n(params)
    ax = _ax(ax)
    cmap = matplotlib.rcParams["image.cmap"]
    for col, rid, ni in zip(_colors(n), runs["run_id"], n):
        cv = runs.curves(rid)
        y = getattr(cv, metric)
        ok = np.isfinite(y) & (cv.tokens > 0)
        ax.plot(flops_6nd(ni, cv.tokens[ok]), y[ok], color=col)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=matplotlib.colors.LogNorm(n.min(), n.max()))
    ax.figure.colorbar(sm, ax=ax, label=f"parameters N ({params})")
    ax.set_xscale("log")
    ax.set_xlabel("compute C = 6 N tokens (FLOPs)")
    ax.set_ylabel(f"{metric.replace('_', ' ')} (nats/token)")
    keys = sorted(set(runs.groups()))
    ax.set_title(f"training curves, {', '.join(keys)}")
    return ax


def figure(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """A new figure (from the rcParams in force) drawn by ``fn(*args, ax=ax)``."""
    fig, ax = plt.subplots()
    fn(*args, ax=ax, **kwargs)
    return fig
