"""The suite's figure look as an opt-in style, and reproducible figure files.

The plot functions (analysis/plots.py) draw with whatever rcParams are in force: a notebook's
own style wins.  The suite's look is a style sheet you choose:

    plt.style.use("analysis.paper")                 # the file analysis/paper.mplstyle
    plt.rcParams.update(analysis.plots.style())     # the same, at a column's width
    with plt.rc_context(analysis.plots.style(width="page", dpi=300)): ...

`scaling plot` draws under ``style(args.style, args.width, args.dpi)``.  Sizes are print sizes:
a column is 3.3 in wide, a page 6.9 in, and text is 7 pt or more at that size.

`save` writes NAME.png and NAME.pdf with fixed metadata (no creation date unless
SOURCE_DATE_EPOCH gives one; no software version), so the same figure gives the same bytes,
and rewrites a file only when its bytes change (runstore.atomic_path: temporary, then rename).
"""

from __future__ import annotations

import datetime as _dt
import io
import os
from pathlib import Path
from typing import Any

from runstore import InputError, atomic_path

#: Named widths in inches (a two-column paper's column and its full text width).
WIDTHS = {"column": 3.3, "page": 6.9}
#: Height over width of a new figure.
ASPECT = 0.75
STYLE_FILE = Path(__file__).with_name("paper.mplstyle")


def width_inches(width: str | float | None) -> float:
    """'column' (3.3 in), 'page' (6.9 in) or a number of inches (1 to 20)."""
    if width is None:
        return WIDTHS["column"]
    if isinstance(width, str) and width in WIDTHS:
        return WIDTHS[width]
    return _in_range(width, 1.0, 20.0, "width", "--width",
                     "give 'column', 'page' or inches between 1 and 20, e.g. 3.3")


def _in_range(value: Any, lo: float, hi: float, what: str, key: str, fix: str) -> float:
    """`value` as a float in [lo, hi], else the InputError naming `key`."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not lo <= v <= hi:
        raise InputError(f"{value!r} is not a {what}", key=key, fix=fix)
    return v


def paper(width: str | float | None = "column", dpi: float | None = None) -> dict[str, Any]:
    """The suite's look (analysis/paper.mplstyle) at `width`, as rcParams."""
    import matplotlib as mpl

    rc = dict(mpl.rc_params_from_file(str(STYLE_FILE), use_default_template=False))
    w = width_inches(width)
    rc["figure.figsize"] = (w, round(w * ASPECT, 3))
    if w > 5:  # a page-wide figure has room for larger text
        rc.update({"font.size": 9, "axes.labelsize": 9, "axes.titlesize": 9,
                   "legend.fontsize": 8, "xtick.labelsize": 8, "ytick.labelsize": 8})
    if dpi is not None:
        rc["savefig.dpi"] = _dpi(dpi)
    return rc


def _dpi(dpi: Any) -> float:
    return _in_range(dpi, 50, 1200, "resolution", "--dpi",
                     "give dots per inch between 50 and 1200, e.g. 300")


def style(name: str | None = "paper", width: str | float | None = "column",
          dpi: float | None = None) -> dict[str, Any]:
    """rcParams of a style: 'paper' (the suite's look), 'default' (matplotlib's defaults),
    any matplotlib style name or .mplstyle path; `width` sets the figure size
    (rcParams['figure.figsize']) for every style, `dpi` the saved resolution."""
    import matplotlib as mpl
    import matplotlib.pyplot as plt

    if name in (None, "paper"):
        return paper(width, dpi)
    if name == "default":
        rc = dict(mpl.rcParamsDefault)
        rc.pop("backend", None)
    else:
        path = Path(name)
        if path.suffix == ".mplstyle" and path.is_file():
            rc = dict(mpl.rc_params_from_file(str(path), use_default_template=False))
        elif name in plt.style.library:
            rc = dict(plt.style.library[name])
        else:
            raise InputError(f"unknown style {name!r}", key="--style",
                             fix="use paper, default, a .mplstyle file or one of "
                                 "matplotlib.pyplot.style.available")
    w = width_inches(width)
    rc["figure.figsize"] = (w, round(w * ASPECT, 3))
    if dpi is not None:
        rc["savefig.dpi"] = _dpi(dpi)
    return rc


def _metadata(fmt: str) -> dict[str, Any]:
    """Fixed metadata: no version strings; a PDF's date only from SOURCE_DATE_EPOCH."""
    if fmt == "png":
        return {"Software": None}
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    date = (_dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc) if epoch else None)
    return {"Creator": None, "Producer": None, "CreationDate": date}


def render(fig: Any, fmt: str) -> bytes:
    """The figure's bytes in `fmt` with fixed metadata (rcParams: savefig.dpi, .bbox, ...)."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata=_metadata(fmt))
    return buf.getvalue()


def write_if_changed(path: str | Path, data: bytes) -> bool:
    """Write `data` to `path` atomically unless the file holds those bytes; whether it wrote."""
    path = Path(path)
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    return True


def export(fig: Any, out_dir: str | Path, name: str,
           formats: tuple[str, ...] = ("png", "pdf")) -> list[tuple[Path, bool]]:
    """[(path, written)] of NAME.<fmt> for each format (see `write_if_changed`)."""
    out = []
    for fmt in formats:
        path = Path(out_dir) / f"{name}.{fmt}"
        out.append((path, write_if_changed(path, render(fig, fmt))))
    return out
