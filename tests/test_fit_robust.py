"""Issue 25: fits that survive other people's data, through the CLI.

Wide IsoFLOP curves (2.5 decades of N per budget, steep on the large-N side, the optimum moving
across the sizes, one budget whose optimum lies below all its sizes) written as a CSV: the
default estimator recovers the law, the all-points parabola shows its bias, the edge budget is
left out and named.  Then the CSV cases that used to be guessed at.
"""

import csv
import json
import warnings

import pytest

from analysis import AnalysisWarning
from analysis.cli import main
from analysis.synthetic import STEEP_LAW, wide_isoflop_runs


def write_csv(path, runs, header=("N", "D", "loss"), extra=None):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(list(header) + list(extra or {}))
        for i, (n, d, l) in enumerate(zip(runs["n_total"], runs["tokens"], runs["loss"])):
            w.writerow([repr(float(n)), repr(float(d)), repr(float(l))]
                       + [v[i] for v in (extra or {}).values()])
    return path


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    runs = wide_isoflop_runs(sizes_per_budget=15, noise=0.002, seed=0)
    return write_csv(tmp_path_factory.mktemp("wide") / "wide.csv", runs)


def fit_json(capsys, *argv):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["fit", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out), [str(w.message) for w in caught]


def test_wide_curves_recovered_and_all_points_biased(wide, capsys):
    out, said = fit_json(capsys, wide, "--approach", "2")
    fit = out["approach2-clm-unknown"]
    top = max(fit["allocation"], key=lambda r: r["flops"])
    assert top["flops"] == 2.56e19  # the data's own largest budget, not 2.6e19
    true_dn = STEEP_LAW.tokens_per_param(top["flops"])
    assert abs(fit["a"] - STEEP_LAW.a) < 0.02
    assert abs(top["tokens_per_param"] / true_dn - 1) < 0.10
    # the budget whose optimum lies below its sizes: left out, named in the warning and verdict
    assert fit["excluded_budgets"] == [pytest.approx(6.25e15)]
    assert any("left out 1 of 13" in s and "6.25e+15" in s for s in said)
    assert any("6.25e+15" in r and "left out of the law" in r for r in fit["verdict"]["reasons"])
    diag = fit["verdict"]["diagnostics"]["a_by_estimator"]
    assert set(diag) == {"window", "all", "akima"}
    old, _ = fit_json(capsys, wide, "--approach", "2", "--estimator", "all")
    old = old["approach2-clm-unknown"]
    old_top = max(old["allocation"], key=lambda r: r["flops"])
    assert STEEP_LAW.a - old["a"] > 0.02  # the all-points parabola's bias
    assert old_top["tokens_per_param"] / true_dn - 1 > 0.2


def test_estimator_in_fit_yaml_and_bad_value(tmp_path, capsys):
    from analysis import FitOptions, InputError
    assert FitOptions(estimator="akima").estimator == "akima"
    with pytest.raises(InputError, match="estimator"):
        FitOptions(estimator="median")
    with pytest.raises(InputError, match="window_dex"):
        FitOptions(window_dex=0)


@pytest.fixture(scope="module")
def two_settings(tmp_path_factory):
    """Two experiments in one CSV, told apart only by a `setting` column."""
    from analysis.laws import ParametricLaw
    from analysis.table import concat
    a = wide_isoflop_runs(edge_budget=False, noise=0.002, seed=1)
    b = wide_isoflop_runs(ParametricLaw(1.8, 400.0, 400.0, 0.35, 0.3), edge_budget=False,
                          noise=0.002, seed=2)
    both = concat([a, b])
    return write_csv(tmp_path_factory.mktemp("two") / "two.csv", both,
                     extra={"setting": ["A"] * len(a) + ["B"] * len(b)})


def test_unknown_column_refused_naming_known_ones(two_settings, capsys):
    assert main(["fit", str(two_settings), "--approach", "2"]) == 2
    err = capsys.readouterr().err
    assert "two.csv" in err and "'setting'" in err and "known:" in err and "--group-by setting" in err
    assert not (two_settings.parent / "two-fits").exists()


def test_group_by_fits_each_setting(two_settings, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["fit", str(two_settings), "--approach", "2", "--group-by", "setting",
                     "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"approach2-clm-unknown-setting=A", "approach2-clm-unknown-setting=B"}
    a = out["approach2-clm-unknown-setting=A"]
    assert a["group"]["by"] == "setting=A" and abs(a["a"] - STEEP_LAW.a) < 0.02
    assert abs(out["approach2-clm-unknown-setting=B"]["a"] - 0.3 / 0.65) < 0.02


def test_group_by_in_the_notebook(two_settings):
    import analysis
    runs = analysis.load(two_settings)
    with pytest.raises(analysis.InputError, match="setting"):
        analysis.isoflop(runs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = analysis.fit_all(runs, analysis.FitOptions(approach=[2], group_by=["setting"]))
        by_method = analysis.isoflop(runs.grouped_by("setting").groups()["clm/unknown/setting=A"])
    assert [s for s, _ in fits] == ["approach2-clm-unknown-setting=A",
                                    "approach2-clm-unknown-setting=B"]
    assert fits[0][1].a == by_method.a


@pytest.mark.parametrize("header", [("n", "d", "loss"), ("params", "tokens", "Loss"),
                                    ("Parameters", "TOKENS", "L")])
def test_column_aliases_any_case(tmp_path, header, capsys):
    runs = wide_isoflop_runs(edge_budget=False, sizes_per_budget=8, noise=0.002)
    p = write_csv(tmp_path / "x.csv", runs, header=header)
    out, _ = fit_json(capsys, p, "--approach", "2")
    assert abs(out["approach2-clm-unknown"]["a"] - STEEP_LAW.a) < 0.03


def test_two_names_for_one_column_refused(tmp_path, capsys):
    (tmp_path / "x.csv").write_text("N,params,D,loss\n1e6,1e6,1e9,3\n")
    assert main(["fit", str(tmp_path / "x.csv")]) == 2
    assert "all mean 'n_total'" in capsys.readouterr().err


def test_c_column_checked_against_6nd(tmp_path, capsys):
    rows = ["N,D,C,loss", "1e6,1e9,6e15,3.0", "2e6,1e9,1.2e16,2.9", "4e6,1e9,2.4e17,2.8"]
    (tmp_path / "x.csv").write_text("\n".join(rows) + "\n")
    assert main(["fit", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert "x.csv:4" in err and "C disagrees with 6ND on 1 of 3 rows (lines 4" in err
    # exact FLOPs (6.6 N D, one factor for every run) are accepted
    from analysis import from_csv
    rows = ["N,D,C,loss", "1e6,1e9,6.6e15,3.0", "2e6,1e9,1.32e16,2.9"]
    (tmp_path / "y.csv").write_text("\n".join(rows) + "\n")
    assert len(from_csv(tmp_path / "y.csv")) == 2


def test_brief_on_a_csv_claims_no_intervals_and_no_repository_hint(wide, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["fit", str(wide), "--approach", "2", "--brief"]) == 0
    out = capsys.readouterr().out
    assert "% intervals" not in out and "no intervals" in out
    assert "make reference-figures" not in out and "committed CPU reference" not in out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["fit", str(wide), "--approach", "2", "--brief", "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    assert "80% intervals" in out and " [" in out


def test_holdout_prints_the_held_in_law(wide, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["fit", str(wide), "--approach", "2", "--holdout", "largest"]) == 0
    assert "held-in law: N_opt = " in capsys.readouterr().out


def test_plot_skips_what_the_csv_cannot_draw(wide, tmp_path, capsys):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["plot", str(wide), "--out", str(tmp_path / "f"), "--approach", "2"]) == 0
    assert not [w for w in caught if "legend" in str(w.message)]
    assert "skipped bytes_per_param-all" in capsys.readouterr().out
    names = {p.name for p in (tmp_path / "f").iterdir()}
    assert "tokens_per_param-all.png" in names and "bytes_per_param-all.png" not in names


def test_n_counted_says_what_the_csv_declares(wide, tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["fit", str(wide), "--approach", "2"]) == 0
    assert "| N as given (column 'N') |" in capsys.readouterr().out
    runs = wide_isoflop_runs(edge_budget=False, sizes_per_budget=8, noise=0.002)
    p = write_csv(tmp_path / "t.csv", runs, header=("n_params_total", "D", "loss"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["fit", str(p), "--approach", "2"]) == 0
    assert "| clm/unknown | total | 2 |" in capsys.readouterr().out


def test_numeric_warnings_are_one_line_naming_the_fit():
    import numpy as np

    from analysis.numeric import numeric_warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with numeric_warnings("approach 3, clm/x (total N)"):
            np.exp(np.array([1000.0]))
            np.exp(np.array([1000.0]))
            np.array([np.inf]) * 0
    assert len(caught) == 1 and issubclass(caught[0].category, AnalysisWarning)
    msg = str(caught[0].message)
    assert msg.startswith("approach 3, clm/x (total N): numpy reported overflow") and "x2" in msg
