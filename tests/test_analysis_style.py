"""Figures draw in the caller's style; report figures are column-ready and reproducible."""

import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

import analysis
from analysis import figstyle, figures
from analysis.holdout import holdout
from analysis.synthetic import synthetic_runs
from tests.test_analysis_plots import FIX, LAW, _fake_parametric

ROOT = Path(__file__).parents[1]
USER = {"lines.linewidth": 1.6, "legend.frameon": True, "figure.figsize": (4.2, 3.1)}


@pytest.fixture(scope="module")
def fits():
    runs = synthetic_runs(LAW, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        iso = analysis.isoflop(runs, bootstrap=30)
        sweep = analysis.load(FIX / "sweep")
        check = holdout(runs, 2, bootstrap=10)
    return runs, iso, _fake_parametric(runs), sweep, check, _precision()


def _precision():
    """Kumar's laws fitted to a small synthetic precision grid (the precision figures' input)."""
    from analysis.precision import P_NONE, fit_ptq, fit_training_precision, synthetic_precision
    from tests.test_analysis_precision import TRUE, TRUE_PTQ
    s = synthetic_precision(TRUE, TRUE_PTQ, sizes=[2e7, 2e8], tokens=[4e8, 6.4e9],
                            bits=[3, 4, 8, P_NONE], post_bits=[3, 4], noise=0.01, seed=0)
    train = {"n": s["n"], "d": s["d"], "pw": s["bits"], "loss": s["loss"]}
    ptq = {"n": s["ptq_n"], "d": s["ptq_d"], "bits": s["ptq_bits"], "delta": s["ptq_delta"]}
    tf = fit_training_precision(s["n"], s["d"], s["loss"], s["bits"], bootstrap=0)
    pf = fit_ptq(ptq["n"], ptq["d"], ptq["bits"], ptq["delta"], bootstrap=0)
    return train, ptq, tf, pf


def _cases(fits):
    runs, iso, par, sweep, check, (train, ptq, tf, pf) = fits
    return {"plot_loss_vs_bits": ((train, tf), {}), "plot_ptq": ((ptq, pf), {}),
            "plot_optimal_precision": ((tf, [1e18, 1e20]), {}),"plot_isoflop": ((iso,), {}), "plot_allocation": (([iso, par],), {}),
            "plot_ratio": (([iso, par],), {}), "plot_contours": ((par,), {}),
            "plot_residuals": ((par,), {}), "plot_curves": ((sweep,), {}),
            "plot_frontier": (([iso, par],), {}), "plot_holdout": (([check],), {}),
            "overlay_isoflop": (([("a", runs), ("b", runs)],), {})}


def test_every_exported_plot_function_draws_in_the_users_style(fits):
    cases = _cases(fits)
    exported = [n for n in analysis.__all__ if n.startswith("plot_") or n == "overlay_isoflop"]
    assert sorted(exported) == sorted(cases)  # a new plot function needs a case here
    with plt.rc_context(USER):
        for name in exported:
            args, kw = cases[name]
            ax = getattr(analysis, name)(*args, **kw)
            fig = ax.figure
            assert tuple(fig.get_size_inches()) == pytest.approx(USER["figure.figsize"]), name
            lines = [ln for ln in ax.get_lines() if ln.get_linestyle() != "None"]
            assert lines, name
            assert {ln.get_linewidth() for ln in lines} == {1.6}, name
            if ax.get_legend() is not None:
                assert ax.get_legend().get_frame_on(), name
            plt.close(fig)


def test_on_the_users_axes_no_layout_change_and_save_keeps_the_figure(fits, tmp_path):
    _, iso, *_ = fits
    fig, ax = plt.subplots(figsize=(3, 2), layout=None)
    analysis.plot_isoflop(iso, ax=ax)
    analysis.overlay_isoflop([("a", fits[0])], ax=ax)
    assert fig.get_layout_engine() is None  # no tight_layout() on a user's figure
    with plt.rc_context({"savefig.dpi": 50, "savefig.bbox": "standard"}):
        png, pdf = analysis.plots.save(fig, tmp_path, "iso")
    from PIL import Image
    assert Image.open(png).size == (150, 100)  # savefig.dpi honoured
    assert plt.fignum_exists(fig.number)  # not closed: it still shows in the notebook cell
    plt.close(fig)


def test_figures_are_byte_reproducible_and_rewritten_only_when_changed(fits, tmp_path,
                                                                       monkeypatch):
    _, iso, *_ = fits
    todo = [("iso", analysis.plot_isoflop, (iso,), {})]
    first = figures.write(todo, tmp_path, figstyle.style())
    a = {p: p.read_bytes() for p, _ in first}
    assert all(w for _, w in first) and b"CreationDate" not in a[tmp_path / "iso.pdf"]
    mtimes = {p: p.stat().st_mtime_ns for p in a}
    again = figures.write(todo, tmp_path, figstyle.style())
    assert not any(w for _, w in again)  # same bytes: nothing rewritten
    assert {p: p.stat().st_mtime_ns for p in a} == mtimes
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    dated = figstyle.render(figures.draw(*todo[0][1:]), "pdf")
    assert b"/CreationDate (D:20231114" in dated


def test_report_figures_column_ready_no_overlaps_legends_inside(fits):
    runs, iso, par, sweep, check, _ = fits
    todo = figures.specs([("a2", iso), ("a3", par)], runs, "total", [check])
    todo += [("curves", analysis.plot_curves, (sweep,), {})]
    with plt.rc_context(figstyle.style()):
        for name, fn, args, kw in todo:
            fig = figures.draw(fn, args, kw)
            assert fig.get_size_inches()[0] == pytest.approx(3.3)
            fig.canvas.draw()
            r = fig.canvas.get_renderer()
            fb = fig.bbox
            for ax in fig.axes:
                for axis in (ax.xaxis, ax.yaxis):
                    assert not figures.overlapping(axis.get_ticklabels(which="both"), r), name
            texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()]
            assert min(t.get_fontsize() for t in texts) >= 7, name  # at print size
            for leg in [a.get_legend() for a in fig.axes] + list(fig.legends):
                if leg is not None:
                    b = leg.get_window_extent(r)
                    assert b.x0 >= fb.x0 - 1 and b.x1 <= fb.x1 + 1 and b.y0 >= fb.y0 - 1, name
            plt.close(fig)


def test_every_group_and_unidentified_line_is_labelled_and_distinct(fits):
    import dataclasses

    from analysis.identify import Verdict
    _, iso, par, *_ = fits
    bad = [dataclasses.replace(par, verdict=Verdict("not identified"), group=(g, "byte"))
           for g in ("clm", "mlm", "span")]
    ax = analysis.plot_ratio(bad)
    lines = [ln for ln in ax.get_lines() if "not identified" in ln.get_label()]
    assert len(lines) == 3 and len({ln.get_color() for ln in lines}) == 3
    plt.close(ax.figure)


def test_committed_figures_equal_a_fresh_regeneration(tmp_path):
    """`scaling plot results/cpu_reference` (make reference-figures) wrote these bytes."""
    ref = ROOT / "results" / "cpu_reference"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        group = analysis.load(ref / "clm_byte")
        iso = analysis.isoflop(group)
    todo = [("isoflop-clm-byte", analysis.plot_isoflop, (iso,), {}),
            ("curves-clm-byte", analysis.plot_curves, (group,), {"params": "total"})]
    figures.write(todo, tmp_path, figstyle.style())
    for name, *_ in todo:
        for ext in ("png", "pdf"):
            fresh = (tmp_path / f"{name}.{ext}").read_bytes()
            assert fresh == (ref / "figures" / f"{name}.{ext}").read_bytes(), (name, ext)


def test_style_options_are_checked():
    with pytest.raises(analysis.InputError, match="--width"):
        figstyle.style(width="wide")
    with pytest.raises(analysis.InputError, match="--style"):
        figstyle.style("no-such-style")
    assert figstyle.style("default", "page", 600)["savefig.dpi"] == 600
    assert np.allclose(figstyle.style()["figure.figsize"], (3.3, 2.475))


@pytest.mark.long  # 40 s: every committed figure of the reference experiment
def test_every_committed_reference_figure_equals_a_fresh_regeneration(tmp_path, monkeypatch,
                                                                      capsys):
    """`make reference-figures`' plot step, to a scratch folder: the same files as committed,
    each PNG the same rendering (byte-equal on the CPU that wrote them; `same_rendering`
    elsewhere, since a refit's last digits move from CPU to CPU); every figure checked as it is written (no overlapping tick labels, legends
    inside the figure, text at least 7 pt); every warning names its group."""
    from scaling.cli import main
    original = figstyle.export
    checked = []

    def export_checked(fig, out_dir, name, *a, **kw):
        done = original(fig, out_dir, name, *a, **kw)  # first: a second draw moves layouts
        r = fig.canvas.get_renderer()
        for ax in fig.axes:
            for axis in (ax.xaxis, ax.yaxis):
                assert not figures.overlapping(axis.get_ticklabels(which="both"), r), name
        for leg in [a.get_legend() for a in fig.axes] + list(fig.legends):
            if leg is not None:
                b, fb = leg.get_window_extent(r), fig.bbox
                assert b.x0 >= fb.x0 - 1 and b.x1 <= fb.x1 + 1 and b.y0 >= fb.y0 - 1, name
        texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()]
        assert min(t.get_fontsize() for t in texts) >= 7, name
        checked.append(name)
        return done

    monkeypatch.setattr(figstyle, "export", export_checked)
    ref = ROOT / "results" / "cpu_reference"
    assert main(["plot", str(ref), "--out", str(tmp_path)]) == 0
    for line in capsys.readouterr().err.splitlines():
        assert not line.startswith("warning:") or "/" in line.split(":")[1], line
    committed = sorted(p.name for p in (ref / "figures").iterdir())
    assert len(checked) * 2 == len(committed)
    assert sorted(p.name for p in tmp_path.iterdir()) == committed
    for name in (n for n in committed if n.endswith(".png")):
        assert same_rendering(tmp_path / name, ref / "figures" / name), name


def same_rendering(a, b) -> bool:
    """Two PNGs show the same figure: byte-equal, or no more than 0.1% of pixels differing by
    over 0.1 (of 1). A refit on another CPU moves approach 3's last digits (about 1e-8), and with
    them a few antialiased pixels: measured between two CPUs, at most 0.1 on 0.0-0.6% of pixels
    and 0.0% over 0.1; a changed interval band moves 5-13% of pixels by up to 1.0."""
    if a.read_bytes() == b.read_bytes():
        return True
    import matplotlib.image as mpimg
    x, y = mpimg.imread(a), mpimg.imread(b)
    return x.shape == y.shape and float(np.mean(np.abs(x - y).max(axis=-1) > 0.1)) <= 1e-3
