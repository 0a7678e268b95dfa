"""Every plot is written (PNG and PDF), non-empty, with the expected labels and scales."""

import warnings
from pathlib import Path

import analysis
from analysis import plots
from analysis.approach2 import isoflop
from analysis.laws import ParametricLaw
from analysis.parametric import ParametricFit
from analysis.synthetic import synthetic_runs

FIX = Path(__file__).parent / "fixtures" / "analysis"
LAW = ParametricLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


def _fake_parametric(runs):
    # A ParametricFit from the true law: plots do not need an optimiser run.
    import numpy as np
    n, d, l = runs["n_total"], runs["tokens"], runs["loss"]
    return ParametricFit(law=LAW, objective=0.0, delta=1e-3, params="total", group=("clm", "byte"),
                         run_ids=tuple(runs["run_id"]), n=tuple(n), d=tuple(d), loss=tuple(l),
                         residuals=tuple(np.log(LAW.loss(n, d)) - np.log(l)),
                         allocation=tuple(LAW.optimal(c) for c in (1e17, 1e19, 1e21)))


def test_all_plots(tmp_path):
    runs = synthetic_runs(LAW, seed=1)
    iso = isoflop(runs)
    par = _fake_parametric(runs)
    ax = plots.plot_isoflop(iso)
    assert ax.get_xscale() == "log" and "parameters" in ax.get_xlabel() and "loss" in ax.get_ylabel()
    ax = plots.plot_allocation([iso, par], which="n")
    assert ax.get_xscale() == ax.get_yscale() == "log" and "FLOPs" in ax.get_xlabel()
    ax = par.plot()
    assert "N" in ax.get_ylabel() and ax.get_yscale() == "log"
    ax = plots.plot_residuals(par)
    assert "residual" in ax.get_ylabel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fixture_runs = analysis.load(FIX / "sweep")
        ax = plots.plot_curves(fixture_runs)
    assert "loss" in ax.get_ylabel()
    paths = plots.save(ax.figure, tmp_path, "curves")
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert all(p.stat().st_size > 1000 for p in paths)
    assert not list(tmp_path.glob(".*tmp*"))


def test_ratio_plot_tokens_and_bytes():
    runs = synthetic_runs(LAW, seed=1)
    iso = isoflop(runs)
    par = _fake_parametric(runs)
    ax = plots.plot_ratio([iso, par], unit="token")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["clm/byte approach 2", "clm/byte approach 3", "Chinchilla ~20"]
    # the approach-2 points are C / (6 N_opt^2) = D_opt / N_opt at each budget
    import numpy as np
    pts = ax.collections[0].get_offsets()
    assert np.allclose(pts[:, 1], np.array(iso.d_opt) / np.array(iso.n_opt))
    assert ax.get_yscale() == "log" and "tokens per parameter" in ax.get_ylabel()
    ax = plots.plot_ratio([iso], unit="byte")  # synthetic byte runs: 1 byte per token
    assert np.allclose(ax.collections[0].get_offsets()[:, 1], pts[:, 1])
