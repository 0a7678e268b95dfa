"""The summary table: one row per (group, N count, approach), read from real fits."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from analysis import approach2, fit_parametric, get_law
from analysis.cli import main
from analysis.report import ReportRow, format_markdown, report, row_of
from analysis.synthetic import synthetic_runs

FIX = Path(__file__).parent / "fixtures" / "analysis"


@pytest.fixture(scope="module")
def fits():
    runs = synthetic_runs(get_law("hoffmann"), budgets=(1e17, 1e18, 1e19), sizes_per_budget=7,
                          spread=4.0, noise=0.0, seed=0)
    budgets = (1e17, 1e19)
    return [("approach2-clm-byte", approach2.isoflop(runs, budgets=budgets, bootstrap=20)),
            ("approach3-clm-byte", fit_parametric(runs, budgets=budgets))]


def test_rows_read_the_largest_budget_and_intervals(fits):
    iso, par = fits[0][1], fits[1][1]
    r2, r3 = row_of(iso), row_of(par)
    assert (r2.approach, r3.approach) == (2, 3)
    assert r2.flops == r3.flops == 1e19
    assert r2.a == pytest.approx(iso.a) and r3.b == pytest.approx(par.law.b)
    assert r2.tokens_per_param == pytest.approx(iso.d_opt_at(1e19) / iso.n_opt_at(1e19))
    assert r2.a_iv is not None and r2.a_iv[0] <= r2.a <= r2.a_iv[1] + 1e-9
    assert r3.a_iv is None  # approach 3 was not bootstrapped here
    assert r2.minima == "3/3"  # noiseless synthetic curves: every minimum interior


def test_bytes_per_param_scales_tokens_and_interval():
    r = ReportRow(group="clm/bpe", params="total", approach=2, level=0.8, a=0.5, a_iv=(0.4, 0.6),
                  b=0.5, b_iv=(0.4, 0.6), flops=1e12, tokens_per_param=20.0,
                  tokens_per_param_iv=(10.0, 30.0), bytes_per_token=3.5, n_runs=9, minima="2/3")
    assert r.bytes_per_param == 70.0 and r.bytes_per_param_iv == (35.0, 105.0)
    text = format_markdown([r])
    assert "80% bootstrap intervals" in text
    assert "| clm/bpe | total | 2 | 0.500 [0.400, 0.600] |" in text
    assert "| 20 [10, 30] | 70 [35, 105] | 9 | 2/3 |" in text


def test_report_sorted_and_fit_prints_it(tmp_path, capsys):
    rows = report([("x", type("F", (), {"to_dict": lambda self: {"approach": 1}})())])
    assert rows == []  # approach 1 has no place in the table
    sweep = tmp_path / "sweep"
    shutil.copytree(FIX / "sweep", sweep)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["fit", str(sweep), "--approach", "2,3", "--params", "both"]) == 0
    out = capsys.readouterr().out
    table = out[out.index("| objective / tokenizer"):]
    lines = [ln for ln in table.splitlines() if ln.startswith("| clm/")]
    assert [ln.split("|")[2:4] for ln in lines] == [
        [" total ", " 2 "], [" total ", " 3 "], [" nonembedding ", " 2 "],
        [" nonembedding ", " 3 "]]
    assert (sweep / "fits" / "approach2-clm-byte-nonembedding.json").exists()
    assert np.isfinite(float(lines[0].split("|")[4].split()[0]))
