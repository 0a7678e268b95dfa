"""CLI: fit and plot on the fixture folder and CSV; exit code 2 on bad input."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.cli import main

FIX = Path(__file__).parent / "fixtures" / "analysis"
ROOT = Path(__file__).parents[1]


@pytest.fixture()
def sweep(tmp_path):
    dst = tmp_path / "sweep"
    shutil.copytree(FIX / "sweep", dst)
    return dst


def test_fit_folder_writes_fits(sweep, capsys):
    from analysis import AnalysisWarning
    with pytest.warns(AnalysisWarning, match="diverged-run"):
        assert main(["fit", str(sweep), "--approach", "2,3"]) == 0
    assert "approach3-clm-byte" in capsys.readouterr().out
    data = json.loads((sweep / "fits" / "approach3-clm-byte.json").read_text())
    assert data["law"]["alpha"] > 0 and data["intervals"] is None
    assert not list((sweep / "fits").glob(".*tmp"))
    from analysis import get_law
    assert get_law(str(sweep / "fits" / "approach3-clm-byte.json")).alpha == data["law"]["alpha"]


def test_fit_csv_json_and_plot(tmp_path, capsys):
    csv = tmp_path / "runs.csv"
    shutil.copy(FIX / "runs.csv", csv)
    assert main(["fit", str(csv), "--json", "--approach", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["approach2-clm-unknown"]["a"] > 0
    assert (tmp_path / "runs-fits" / "approach2-clm-unknown.json").exists()
    assert main(["plot", str(csv), "--out", str(tmp_path / "figs"), "--approach", "2"]) == 0
    names = {p.name for p in (tmp_path / "figs").iterdir()}
    assert {"isoflop-clm-unknown.png", "isoflop-clm-unknown.pdf", "n_opt-clm-unknown.png"} <= names


def test_plot_folder_with_curves(sweep, tmp_path):
    assert main(["plot", str(sweep), "--out", str(tmp_path / "f"), "--approach", "1,2"]) == 0
    assert (tmp_path / "f" / "curves-clm-byte.pdf").stat().st_size > 0


@pytest.mark.parametrize("case", ["missing", "corrupt", "csv_column", "approach"])
def test_bad_input_exit_2_nothing_written(tmp_path, capsys, case):
    if case == "missing":
        argv = ["fit", str(tmp_path / "nope")]
    elif case == "corrupt":
        d = tmp_path / "s" / "runs" / "r1"
        d.mkdir(parents=True)
        (d / "summary.json").write_text("{not json")
        argv = ["fit", str(tmp_path / "s")]
    elif case == "csv_column":
        (tmp_path / "x.csv").write_text("N,D\n1,2\n")
        argv = ["fit", str(tmp_path / "x.csv")]
    else:
        shutil.copy(FIX / "runs.csv", tmp_path / "x.csv")
        argv = ["fit", str(tmp_path / "x.csv"), "--approach", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "(fix: " in err
    assert not list(tmp_path.rglob("fits")) and not list(tmp_path.rglob("*-fits"))


def test_python_dash_m_and_no_training_imports():
    code = ("import sys, analysis, analysis.cli, analysis.load, analysis.parametric; "
            "assert not any(m.split('.')[0] in ('flax','optax','orbax','jax') for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    r = subprocess.run([sys.executable, "-m", "analysis", "fit", "/nonexistent/x"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 2 and "nonexistent" in r.stderr


def test_budgets_default_to_the_data_range(sweep):
    from analysis import load
    with pytest.warns(Warning):
        assert main(["fit", str(sweep), "--approach", "3"]) == 0
        c = load(sweep).c("total")
    data = json.loads((sweep / "fits" / "approach3-clm-byte.json").read_text())
    budgets = [b["C"] if "C" in b else b.get("flops") for b in data["allocation"]]
    assert len(budgets) == 5  # the fixture's five IsoFLOP budgets, exact (analysis/budgets.py)
    assert min(budgets) >= 0.99 * c.min() and max(budgets) <= 1.01 * c.max()


def test_budgets_option_and_bad_value(sweep, capsys):
    with pytest.warns(Warning):
        assert main(["fit", str(sweep), "--approach", "3", "--budgets", "1e18,1e22"]) == 0
    data = json.loads((sweep / "fits" / "approach3-clm-byte.json").read_text())
    assert len(data["allocation"]) == 2
    assert main(["fit", str(sweep), "--budgets", "lots"]) == 2  # refused before loading
    assert "--budgets" in capsys.readouterr().err


def test_results_root_of_two_sweeps_fits_per_group_and_plots_all(tmp_path, capsys):
    root = tmp_path / "results"
    shutil.copytree(FIX / "sweep", root / "a")
    shutil.copytree(FIX / "sweep", root / "b")
    for f in (root / "b" / "runs").glob("*/summary.json"):
        s = json.loads(f.read_text())
        s["tokenizer"], s["bytes_per_token"] = "bpe", 3.5
        s["run_id"] = f"{s.get('run_id') or f.parent.name}-bpe"  # another run: its own id
        f.write_text(json.dumps(s))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["fit", str(root), "--approach", "2"]) == 0
        out = capsys.readouterr().out
        assert "| clm/bpe | total | 2 |" in out and "| clm/byte | total | 2 |" in out
        # same runs, bytes per token 3.5: bytes per parameter is 3.5 x tokens per parameter
        bpe = next(ln for ln in out.splitlines() if ln.startswith("| clm/bpe"))
        tpp, bpp = (float(bpe.split("|")[k].split()[0]) for k in (7, 8))
        assert bpp == pytest.approx(3.5 * tpp, rel=0.05)
        assert main(["plot", str(root), "--out", str(tmp_path / "f"), "--approach", "2",
                     "--params", "both"]) == 0  # both: the figures use total N
    names = {p.name for p in (tmp_path / "f").iterdir()}
    assert {"n_opt-all.png", "d_opt-all.png", "tokens_per_param-all.png",
            "bytes_per_param-all.png", "isoflop-clm-bpe.png", "isoflop-clm-byte.png"} <= names
