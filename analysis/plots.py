"""Publication plots, one style for all (``STYLE``), saved as PNG and PDF.

This module never chooses a matplotlib backend (a notebook keeps its inline figures; the CLI
selects Agg itself).  Every function takes an optional ``ax`` and returns it; ``save`` writes
NAME.png and NAME.pdf atomically and closes the figure.  Figures use constrained layout, so a
figure saved anywhere keeps its axis labels.  An approach-3 fit that is not identified is
drawn grey and dashed, labelled so (analysis/identify.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from runstore import atomic_path, flops_6nd, tokens_for_flops

#: The one style every figure uses.
STYLE: dict[str, Any] = {
    "figure.figsize": (5.0, 3.6), "figure.dpi": 150, "savefig.dpi": 200,
    "savefig.bbox": "tight", "font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9,
    "legend.fontsize": 7, "legend.frameon": False, "axes.spines.top": False,
    "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.25, "lines.linewidth": 1.2,
    "lines.markersize": 4, "image.cmap": "viridis", "pdf.fonttype": 42,
    "figure.constrained_layout.use": True,
}
CMAP = "viridis"


def _ax(ax: Any) -> Any:
    if ax is not None:
        return ax
    with plt.rc_context(STYLE):
        _, ax = plt.subplots()
    return ax


def save(fig: Any, out_dir: str | Path, name: str) -> list[Path]:
    """Write NAME.png and NAME.pdf (runstore.atomic_path: temporary file, then rename); close
    the figure."""
    paths = []
    with plt.rc_context(STYLE):
        for ext in ("png", "pdf"):
            path = Path(out_dir) / f"{name}.{ext}"
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=ext)
            paths.append(path)
    plt.close(fig)
    return paths


def _colors(values: Sequence[float]) -> list[Any]:
    v = np.log(np.asarray(values, dtype=float))
    span = (v.max() - v.min()) or 1.0
    return [plt.get_cmap(CMAP)((x - v.min()) / span * 0.9) for x in v]


def plot_isoflop(fit: Any, ax: Any = None) -> Any:
    """Approach 2: loss against N per budget, the parabolas and their minima."""
    with plt.rc_context(STYLE):
        ax = _ax(ax)
        for col, c, (ns, ls), p, n_opt in zip(_colors(fit.flops), fit.flops, fit.curves,
                                               fit.parabolas, fit.n_opt):
            ax.scatter(ns, ls, color=col, s=10, zorder=3)
            xs = np.linspace(np.log(min(ns)), np.log(max(ns)), 100)
            ax.plot(np.exp(xs), np.polyval(p, xs), color=col, label=f"C = {c:.2g}")
            ax.plot([n_opt], [np.polyval(p, np.log(n_opt))], marker="*", color="k", ms=7, zorder=4)
        ax.set_xscale("log")
        ax.set_xlabel(f"parameters N ({fit.params})")
        ax.set_ylabel("final eval loss (nats/token)")
        ax.set_title(f"IsoFLOP curves ({', '.join(fit.group)})")
        ax.legend(ncol=2)
    return ax


def plot_allocation(fits: Any, ax: Any = None, which: str = "n") -> Any:
    """N_opt (which='n') or D_opt ('d') against C: points, fitted lines, interval bands.

    ``fits``: one fit or a list (approach 1/2 fits and ParametricFit mixed).
    """
    fits = fits if isinstance(fits, (list, tuple)) else [fits]
    with plt.rc_context(STYLE):
        ax = _ax(ax)
        cs_all = []
        for i, fit in enumerate(fits):
            color, ls = _look(fit, f"C{i}")
            label = _label(fit)
            if fit.approach == 3:
                cs = np.array([b["flops"] for b in fit.allocation])
                key = "n_opt" if which == "n" else "d_opt"
                vals = np.array([b[key] for b in fit.allocation])
                ax.plot(cs, vals, color=color, ls=ls, label=label)
                if all(key + "_interval" in b for b in fit.allocation):
                    iv = np.array([b[key + "_interval"] for b in fit.allocation])
                    ax.fill_between(cs, iv[:, 0], iv[:, 1], color=color, alpha=0.2)
            else:
                pts = np.array(fit.flops)
                n_pts = np.array(fit.n_opt)
                y = n_pts if which == "n" else tokens_for_flops(pts, n_pts)
                ax.scatter(pts, y, color=color, s=10, zorder=3)
                cs = np.array([r["flops"] for r in fit.allocation])
                cs = np.unique(np.concatenate([cs, [pts.min(), pts.max()]]))
                law = fit.n_law if which == "n" else fit.d_law
                ax.plot(cs, law(cs), color=color, label=f"{label}: exponent {law.exponent:.3f}")
                rows = [r for r in fit.allocation if "n_opt_interval" in r]
                if rows:
                    key = "n_opt_interval" if which == "n" else "d_opt_interval"
                    iv = np.array([r[key] for r in rows])
                    ax.fill_between([r["flops"] for r in rows], iv[:, 0], iv[:, 1], color=color, alpha=0.2)
            cs_all.extend(cs)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("compute C = 6ND (FLOPs)")
        ax.set_ylabel("compute-optimal parameters N_opt" if which == "n" else "compute-optimal tokens D_opt")
        ax.legend()
    return ax


def plot_ratio(fits: Sequence[Any], ax: Any = None, unit: str = "token") -> Any:
    """D_opt / N_opt against C for every group: approach 2 minima and fit (solid), approach 3
    (dashed), Chinchilla's ~20 tokens per parameter for scale.  unit='byte' multiplies by each
    group's bytes per token (groups without it are left out)."""
    groups = sorted({tuple(f.group) for f in fits})
    with plt.rc_context(STYLE):
        ax = _ax(ax)
        for i, g in enumerate(groups):
            for fit in (f for f in fits if tuple(f.group) == g):
                scale = 1.0 if unit == "token" else fit.bytes_per_token
                if scale is None or fit.approach not in (2, 3):
                    continue  # no bytes per token, or an approach-1 fit
                if fit.approach == 3:
                    cs = np.array([b["flops"] for b in fit.allocation])
                    r = np.array([b["tokens_per_param"] for b in fit.allocation]) * scale
                    color, _ = _look(fit, f"C{i}")
                    bad = " (not identified)" if fit.verdict.status == "not identified" else ""
                    ax.plot(cs, r, color=color, ls="--", label=f"{fit.name} approach 3{bad}")
                else:
                    c = np.array(fit.flops)
                    ratio = np.asarray(fit.d_opt) / np.asarray(fit.n_opt)
                    ax.scatter(c, ratio * scale, color=f"C{i}", s=12, zorder=3)
                    cs = np.geomspace(c.min(), c.max(), 50)
                    ax.plot(cs, fit.d_law(cs) / fit.n_law(cs) * scale, color=f"C{i}",
                            label=f"{g[0]}/{g[1]} approach 2")
        if unit == "token":
            ax.axhline(20, color="k", lw=0.6, ls=":", label="Chinchilla ~20")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("compute C = 6ND (FLOPs)")
        ax.set_ylabel(f"compute-optimal D/N ({unit}s per parameter)")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(ncol=2)
    return ax


def _label(fit: Any) -> str:
    bad = " (not identified)" if fit.verdict.status == "not identified" else ""
    return f"approach {fit.approach} ({fit.name}){bad}"


def _look(fit: Any, color: str) -> tuple[str, str]:
    """(colour, line style): grey and dotted for a fit that is not identified."""
    return ("0.6", ":") if fit.verdict.status == "not identified" else (color, "-")


def plot_contours(fit: Any, ax: Any = None) -> Any:
    """Approach 3: iso-loss contours over (C, N), runs, and the efficient frontier N_opt(C)."""
    law = fit.law
    n = np.asarray(fit.n)
    c = flops_6nd(n, np.asarray(fit.d))
    with plt.rc_context(STYLE):
        ax = _ax(ax)
        lc = np.linspace(np.log10(c.min()) - 0.5, np.log10(c.max()) + 0.5, 120)
        ln = np.linspace(np.log10(n.min()) - 0.5, np.log10(n.max()) + 0.5, 120)
        CC, NN = np.meshgrid(10**lc, 10**ln)
        L = law.loss(NN, tokens_for_flops(CC, NN))
        cs = ax.contourf(CC, NN, np.log(L), levels=20, cmap=CMAP, alpha=0.8)
        ax.figure.colorbar(cs, ax=ax, label="log predicted loss")
        ax.scatter(c, n, s=8, color="w", edgecolor="k", linewidths=0.4, zorder=3, label="runs")
        ax.plot(10**lc, law.n_opt(10**lc), color="r", label="efficient frontier N_opt(C)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("compute C = 6ND (FLOPs)")
        ax.set_ylabel(f"parameters N ({fit.params})")
        ax.set_title(f"L = {law.E:.3g} + {law.A:.3g}/N^{law.alpha:.3f} + {law.B:.3g}/D^{law.beta:.3f}"
                     f"\n{fit.name}: {fit.verdict.status}")
        ax.legend(loc="upper left")
    return ax


def plot_residuals(fit: Any, ax: Any = None) -> Any:
    """Approach 3: log-loss residuals against C, coloured by N; Huber delta marked."""
    n = np.asarray(fit.n)
    c = flops_6nd(n, np.asarray(fit.d))
    with plt.rc_context(STYLE):
        ax = _ax(ax)
        ax.scatter(c, fit.residuals, c=np.log10(n), cmap=CMAP, s=10)
        ax.axhline(0, color="k", lw=0.8)
        for s in (-1, 1):
            ax.axhline(s * fit.delta, color="r", lw=0.6, ls="--")
        ax.set_xscale("log")
        ax.set_xlabel("compute C = 6ND (FLOPs)")
        ax.set_ylabel("residual log L_fit - log L")
        ax.set_title(f"approach 3 residuals (Huber delta {fit.delta:g}, dashed)")
    return ax


def plot_curves(runs: Any, ax: Any = None, params: str = "total", metric: str = "train_loss") -> Any:
    """Loss curves against C = 6 N tokens, one per run, coloured by N."""
    n = runs.n(params)
    with plt.rc_context(STYLE):
        ax = _ax(ax)
        for col, rid, ni in zip(_colors(n), runs["run_id"], n):
            cv = runs.curves(rid)
            y = getattr(cv, metric)
            ok = np.isfinite(y) & (cv.tokens > 0)
            ax.plot(flops_6nd(ni, cv.tokens[ok]), y[ok], color=col, lw=0.8)
        sm = plt.cm.ScalarMappable(cmap=CMAP, norm=matplotlib.colors.LogNorm(n.min(), n.max()))
        ax.figure.colorbar(sm, ax=ax, label="parameters N")
        ax.set_xscale("log")
        ax.set_xlabel("compute C = 6 N tokens (FLOPs)")
        ax.set_ylabel(f"{metric.replace('_', ' ')} (nats/token)")
    return ax


def plot_holdout(checks: Sequence[Any], ax: Any = None) -> Any:
    """Held-out check: predicted against measured loss of every held-out run (intervals as
    error bars), one colour per group, circles approach 2, squares approach 3."""
    with plt.rc_context(STYLE):
        ax = _ax(ax)
        groups = sorted({h.group for h in checks})
        lo, hi = np.inf, -np.inf
        for h in checks:
            m = np.array([r["measured"] for r in h.runs])
            p = np.array([r["predicted"] for r in h.runs])
            iv = [r["interval"] for r in h.runs]
            err = None if any(v is None for v in iv) else np.abs(np.array(iv).T - p)
            ax.errorbar(m, p, yerr=err, fmt="o" if h.approach == 2 else "s", ms=3, lw=0.6,
                        color=f"C{groups.index(h.group)}",
                        label=f"{h.group} approach {h.approach} (C {h.flops:.2g})")
            lo, hi = min(lo, m.min(), p.min()), max(hi, m.max(), p.max())
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.6, ls=":", label="predicted = measured")
        ax.set_xlabel("measured final eval loss (nats/token)")
        ax.set_ylabel("predicted from the smaller budgets")
        ax.set_title("held-out check: the largest budget predicted")
        ax.legend(fontsize=6)
    return ax


def figure(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """A new styled figure drawn by ``fn(*args, ax=ax)``; returns the figure."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        fn(*args, ax=ax, **kwargs)
    return fig
