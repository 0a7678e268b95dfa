"""`scaling sweep` and `scaling sweep status` as a user runs them."""
import json

import pytest
import yaml
from conftest import run_cli
from test_sweep_config import tiny_sweep

from scaling.cli import main


def write(tmp_path, **over):
    out = tmp_path / "out"
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(tiny_sweep(out=str(out), **over)))
    return path, out


def test_dry_run_prints_the_table_and_writes_nothing(tmp_path, capsys):
    path, out = write(tmp_path)
    assert main(["sweep", str(path), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "4 points" in text and "C_exact" in text and "MFU" in text
    assert text.count(" clm ") == 4
    assert main(["sweep", str(path), "--device", "h100", "--mfu", "0.4"]) == 0
    assert "H100 SXM" in capsys.readouterr().out
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_point_that_cannot_fit_is_refused_before_anything_is_written(tmp_path, capsys):
    path, out = write(tmp_path, **{"grid.params": [8000, 3e10]})
    for args in (["--dry-run"], []):
        assert main(["sweep", str(path), *args]) == 2
        err = capsys.readouterr().err
        assert "s.yaml: key 'grid'" in err and "does not fit" in err
        assert not out.exists()
    path, out = write(tmp_path, **{"grid.tokens": [10]})  # less than one batch
    assert main(["sweep", str(path)]) == 2
    assert "zero steps" in capsys.readouterr().err and not out.exists()
    path, out = write(tmp_path, **{"grid.flops": [1e9, 0], "grid.tokens": []})
    assert main(["sweep", str(path)]) == 2
    assert "key 'grid.flops[1]': must be > 0" in capsys.readouterr().err


@pytest.mark.slow
def test_sweep_completes_reruns_skip_and_status(tmp_path):
    path, out = write(tmp_path, **{"grid.params": [8000], "grid.tokens": [5120]})
    run_cli("sweep", path, "--quiet", check=True)
    (run,) = (out / "runs").iterdir()
    summary = (run / "summary.json").read_text()
    proc = run_cli("sweep", path, check=True)  # again: nothing to train
    assert "already finished 1" in proc.stderr
    assert (run / "summary.json").read_text() == summary
    assert len((run / "claims.jsonl").read_text().splitlines()) == 1
    assert (out / "sweep.yaml").exists() and (out / "points.json").exists()
    assert yaml.safe_load((out / "sweep.yaml").read_text())["name"] == "tinysweep"
    st = run_cli("sweep", "status", out, check=True)
    assert "1 done" in st.stdout and "20/20" in st.stdout and st.stderr == ""
    js = json.loads(run_cli("sweep", "status", out, "--json", check=True).stdout)
    assert js["counts"] == {"done": 1} and js["points"][0]["step"] == 20
    old = run_cli("status", out, "--json", check=True)  # the old name: same answer, one warning
    assert json.loads(old.stdout)["counts"] == js["counts"]
    assert "scaling status is deprecated; use scaling sweep status" in old.stderr
    assert run_cli("sweep", "status", tmp_path / "nope").returncode == 2
