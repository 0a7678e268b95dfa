"""Loading the fixture results folder and CSVs."""

import warnings
from pathlib import Path

import numpy as np
import pytest

import analysis
from analysis import AnalysisWarning, InputError

FIX = Path(__file__).parent / "fixtures" / "analysis"


def test_load_fixture_excludes_diverged_by_name():
    with pytest.warns(AnalysisWarning, match="diverged-run"):
        runs = analysis.load(FIX / "sweep")
    assert len(runs) == 25
    assert set(runs.columns) >= {"run_id", "objective", "tokenizer", "n_total", "n_nonembedding",
                                 "tokens", "flops", "loss", "bpb", "status", "epochs", "seed"}
    np.testing.assert_allclose(runs["flops"], 6 * runs["n_total"] * runs["tokens"])
    assert list(runs.groups()) == ["clm/byte"]  # the keys its repr prints
    assert "clm/byte: 25" in repr(runs) and runs.groups()["clm/byte"].group == ("clm", "byte")


def test_half_written_metrics_line_skipped_with_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = analysis.load(FIX / "sweep")
    with pytest.warns(AnalysisWarning, match="half-written"):
        curve = runs.curves("clm-byte-000")
    assert len(curve.step) == 8 and np.isfinite(curve.train_loss).all()


def test_load_accepts_list_and_runs_dir():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        both = analysis.load([FIX / "sweep" / "runs", FIX / "runs.csv"])
    assert len(both) == 50


def test_from_csv_and_c_column(tmp_path):
    runs = analysis.from_csv(FIX / "runs.csv")
    assert len(runs) == 25 and not runs.has_curves
    p = tmp_path / "c.csv"
    p.write_text("n_params,C,loss\n1e6,6e12,3.0\n2e6,6e12,2.9\n")
    r = analysis.from_csv(p)
    np.testing.assert_allclose(r["tokens"], [1e6, 5e5])


@pytest.mark.parametrize("text,col", [("N,D\n1,2\n", "loss"), ("N,loss\n1,2\n", "D"),
                                      ("D,loss\n1,2\n", "N"), ("N,D,loss\n1e6,abc,2\n", "D")])
def test_bad_csv_names_file_and_column(tmp_path, text, col):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(InputError) as exc:
        analysis.from_csv(p)
    msg = str(exc.value)
    assert "bad.csv" in msg and repr(col) in msg and "(fix: " in msg


def test_corrupt_summary_is_an_input_error(tmp_path):
    d = tmp_path / "runs" / "r1"
    d.mkdir(parents=True)
    (d / "summary.json").write_text('{"status": "done", "n_params')
    with pytest.raises(InputError, match="summary.json"):
        analysis.load(tmp_path)


def test_a_copied_run_folder_is_refused_naming_both(tmp_path):
    """Five copied folders (same run ids inside) would count each run twice and narrow every
    interval: one InputError naming both folders."""
    import shutil
    shutil.copytree(FIX / "sweep", tmp_path / "a")
    shutil.copytree(FIX / "sweep", tmp_path / "b")
    with pytest.raises(InputError, match="is in two folders") as e:
        analysis.load(tmp_path)
    assert str(tmp_path / "a") in str(e.value) and str(tmp_path / "b") in str(e.value)


def test_a_run_without_config_json_is_not_counted(tmp_path):
    """A folder recreated by a late writer holds only summary.json: not a finished run."""
    import shutil
    import warnings
    shutil.copytree(FIX / "sweep", tmp_path / "s")
    import json
    done = [d for d in sorted((tmp_path / "s" / "runs").iterdir())
            if json.loads((d / "summary.json").read_text())["status"] == "done"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        n_all = len(analysis.load(tmp_path / "s"))
    (done[0] / "config.json").unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = analysis.load(tmp_path / "s")
    assert len(table) == n_all - 1
    assert any("no valid config.json" in str(w.message) for w in caught)
