"""The figures `scaling plot` writes: which ones, drawn under which style, written how.

`specs` lists every figure of a set of fits as (file stem, plot function, arguments); `write`
draws each under one style (analysis/figstyle.py: the suite's paper look at a column's width
by default, text 7 pt or more at print size) and writes NAME.png and NAME.pdf with fixed
metadata, each only when its bytes change.  A legend with many entries goes below the axes,
inside the figure (constrained layout makes room for it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

#: Legends with more entries than this go under the axes (inside the figure).
MAX_INSIDE = 4


def _tag(fit: Any) -> str:
    """A figure's tag: the group and the N count, 'clm-byte' or 'clm-byte-nonembedding'."""
    return fit.name.replace("/", "-", 1) + ("" if fit.params == "total" else f"-{fit.params}")


def specs(fits: Sequence[tuple[str, Any]], runs: Any, params: str,
          checks: Sequence[Any] = ()) -> list[tuple[str, Any, tuple, dict]]:
    """[(file stem, plot function, args, kwargs)] of every figure of `fits` (and the held-out
    `checks`), in the order `scaling plot` writes them."""
    from analysis import plots

    out: list[tuple[str, Any, tuple, dict]] = []
    by_group: dict[str, list[Any]] = {}
    for _, fit in fits:
        tag = _tag(fit)
        by_group.setdefault(tag, []).append(fit)
        if fit.approach == 2:
            out.append((f"isoflop-{tag}", plots.plot_isoflop, (fit,), {}))
        if fit.approach == 3:
            out.append((f"contours-{tag}", plots.plot_contours, (fit,), {}))
            out.append((f"residuals-{tag}", plots.plot_residuals, (fit,), {}))
    for tag, group_fits in by_group.items():
        for which in ("n", "d"):
            out.append((f"{which}_opt-{tag}", plots.plot_allocation, (group_fits,),
                        {"which": which}))
        if any(f.approach in (2, 3) for f in group_fits):
            out.append((f"frontier-{tag}", plots.plot_frontier,
                        ([f for f in group_fits if f.approach in (2, 3)],), {}))
    ratio_fits = [f for _, f in fits if f.approach in (2, 3)]
    iso_fits = [f for _, f in fits if f.approach == 2]
    if len(by_group) > 1 and iso_fits:  # every group's approach-2 allocation on one figure
        for which in ("n", "d"):
            out.append((f"{which}_opt-all", plots.plot_allocation, (iso_fits,), {"which": which}))
    if ratio_fits:
        out.append(("tokens_per_param-all", plots.plot_ratio, (ratio_fits,), {"unit": "token"}))
        if any(f.bytes_per_token for f in ratio_fits):
            out.append(("bytes_per_param-all", plots.plot_ratio, (ratio_fits,), {"unit": "byte"}))
    for key, group in runs.groups().items():
        if group.has_curves:
            out.append((f"curves-{key.replace('/', '-', 1)}", plots.plot_curves, (group,),
                        {"params": params}))
    if checks:
        out.append(("holdout", plots.plot_holdout, (list(checks),), {}))
    return out


def place_legend(ax: Any) -> None:
    """A legend of more than MAX_INSIDE entries moves under the axes, inside the figure,
    which grows by the legend's rows so that the axes keep their size."""
    leg = ax.get_legend()
    if leg is None or len(leg.get_texts()) <= MAX_INSIDE:
        return
    import matplotlib

    handles, labels = ax.get_legend_handles_labels()
    leg.remove()
    ncol = 2 if max(len(s) for s in labels) < 24 else 1
    rows = -(-len(labels) // ncol)
    fig = ax.figure
    w, h = fig.get_size_inches()
    line = matplotlib.rcParams["legend.fontsize"]
    size = line if isinstance(line, (int, float)) else matplotlib.rcParams["font.size"]
    fig.set_size_inches(w, h + rows * size * 1.45 / 72 + 0.1)
    fig.legend(handles, labels, loc="outside lower center", ncol=ncol)


def overlapping(labels: Sequence[Any], renderer: Any) -> bool:
    """Whether any two of these visible, non-empty texts' bounding boxes overlap."""
    boxes = [t.get_window_extent(renderer) for t in labels if t.get_visible() and t.get_text()]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def declutter(ax: Any) -> None:
    """Drop the minor tick labels of a log axis whose tick labels overlap."""
    import matplotlib.ticker as mticker

    renderer = ax.figure.canvas.get_renderer()
    for axis in (ax.xaxis, ax.yaxis):
        if axis.get_scale() != "log":
            continue
        ax.figure.canvas.draw()
        texts = axis.get_ticklabels(which="both")
        if overlapping(texts, renderer):
            axis.set_minor_formatter(mticker.NullFormatter())


def draw(fn: Any, args: tuple, kwargs: dict) -> Any:
    """A new figure (rcParams in force) drawn by fn(*args, ax=ax, **kwargs), legend placed."""
    import matplotlib.pyplot as plt

    fig = plt.figure(layout="constrained")
    ax = fig.add_subplot()
    fn(*args, ax=ax, **kwargs)
    place_legend(ax)
    declutter(ax)
    return fig


def write(todo: Sequence[tuple[str, Any, tuple, dict]], out_dir: str | Path,
          rc: dict[str, Any]) -> list[tuple[Path, bool]]:
    """Draw and write every figure under rcParams `rc`: [(path, whether it was rewritten)]."""
    import matplotlib.pyplot as plt

    from analysis.figstyle import export

    done: list[tuple[Path, bool]] = []
    with plt.rc_context(rc):
        for name, fn, args, kwargs in todo:
            fig = draw(fn, args, kwargs)
            try:
                done += export(fig, out_dir, name)
            finally:
                plt.close(fig)
    return done
