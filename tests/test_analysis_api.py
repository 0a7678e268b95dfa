"""The notebook API: tables with intervals, RunTable slicing and groups, keywords checked
like the CLI's, the same methods on every law, warnings that carry the group."""

import warnings

import numpy as np
import pytest

import analysis
from analysis.synthetic import synthetic_runs
from tests.test_analysis_plots import LAW


@pytest.fixture(scope="module")
def runs():
    return synthetic_runs(LAW, seed=1)


def test_to_pandas_keeps_intervals_and_the_verdict(runs):
    pytest.importorskip("pandas")
    iso = analysis.isoflop(runs, bootstrap=40)
    df = iso.to_pandas()
    for col in ("n_opt", "n_opt_lo", "n_opt_hi", "tokens_per_param_lo", "verdict", "group"):
        assert col in df.columns
    assert (df["n_opt_lo"] <= df["n_opt"]).all() and (df["n_opt"] <= df["n_opt_hi"]).all()
    assert set(df["verdict"]) == {iso.verdict.status}
    m = iso.to_pandas("minima")
    assert len(m) == len(iso.flops) and (m["min_loss_lo"] <= m["min_loss_hi"]).all()
    assert np.allclose(m["min_loss"], iso.min_loss)
    assert all(iv is not None for iv in iso.min_loss_interval)


def test_runtable_masks_groups_and_from_pandas(runs):
    pytest.importorskip("pandas")
    small = runs[runs["loss"] < np.median(runs["loss"])]
    assert isinstance(small, analysis.RunTable) and 0 < len(small) < len(runs)
    assert len(runs[:3]) == 3
    assert len(runs.groups()["clm"]) == len(runs)  # objective alone: unambiguous here
    with pytest.raises(KeyError, match="no such group"):
        runs.groups()["mlm"]
    df = runs.to_pandas().assign(mine=1.0)
    with pytest.raises(analysis.InputError, match="mine"):
        analysis.RunTable.from_pandas(df)
    with pytest.raises(analysis.InputError, match="from_pandas\\(df, extra='keep'\\)"):
        analysis.RunTable(df)  # the constructor says what to do with one's own columns
    kept = analysis.RunTable.from_pandas(df, extra="keep")
    assert list(kept["mine"]) == ["1.0"] * len(runs) and "mine" in kept.to_pandas()
    assert analysis.isoflop(kept).a == pytest.approx(analysis.isoflop(runs).a)


def test_keywords_checked_like_the_cli(runs):
    with pytest.raises(analysis.InputError, match="level"):
        analysis.fit_parametric(runs, level=-0.5, bootstrap=20)
    with pytest.raises(analysis.InputError, match="bootstrap"):
        analysis.isoflop(runs, bootstrap=-1)
    with pytest.raises(analysis.InputError, match="unknown setting"):
        analysis.holdout(runs, 2, bootsrap=10)
    h = analysis.holdout(runs, 2, bootstrap=20)
    assert h.n_opt["interval"] is not None and len(repr(h)) < 300 and "<table>" in h._repr_html_()


def test_every_law_has_the_same_methods(runs):
    iso = analysis.isoflop(runs)
    for law in (iso.law, LAW, analysis.get_law("kaplan")):
        row = law.optimal(1e20)
        assert row["n_opt"] == pytest.approx(law.n_opt(1e20))
        assert law.tokens_per_param(1e20) == pytest.approx(row["d_opt"] / row["n_opt"])
        assert law.for_params(row["n_opt"])["flops"] == pytest.approx(1e20, rel=1e-6)
        assert law.identified


def test_not_identified_law_warns_once_with_its_group(runs):
    import dataclasses
    law = dataclasses.replace(LAW, name="approach3-clm-byte", verdict="not identified")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        law.tokens_per_param(5e11)
        law.optimal(1e12)
    assert len(w) == 1 and "approach3-clm-byte" in str(w[0].message)
    assert not law.identified
    iso = analysis.isoflop(runs)
    with pytest.warns(analysis.AnalysisWarning, match="approach2-clm-byte.*decade outside"):
        iso.law.tokens_per_param(1e30)


def test_verdict_without_bootstrap_is_provisional(runs):
    iso = analysis.isoflop(runs)
    assert iso.verdict.provisional and "provisional" in repr(iso)
    assert not analysis.isoflop(runs, bootstrap=20).verdict.provisional
    assert "provisional" not in analysis.isoflop(runs, bootstrap=20).to_dict()["verdict"]


def test_progress_off_by_env(monkeypatch):
    from analysis.optim import bar_label
    assert bar_label("x") == "x" and bar_label("x", progress=False) is None
    monkeypatch.setenv("SCALING_PROGRESS", "0")
    assert bar_label("x") is None


def test_public_namespace():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", "import sys, analysis; "
                          "print('matplotlib' in sys.modules)"], capture_output=True, text=True)
    assert out.stdout.strip() == "False"
    assert "approach2" not in dir(analysis) and "plot_frontier" in dir(analysis)
    assert analysis.plots.plot_ratio is analysis.plot_ratio
