"""The job-array executor, through submitit's local executor: 2 tasks, 2 tiny points."""
import json

import pytest
import yaml
from conftest import run_cli
from test_sweep_config import tiny_sweep

pytest.importorskip("submitit")
pytestmark = pytest.mark.slow


def test_local_array_runs_each_shard(tmp_path):
    out = tmp_path / "out"
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(tiny_sweep(out=str(out), **{"grid.tokens": [5120]})))
    proc = run_cli("sweep", path, "--executor", "local", "--slurm-tasks", "2", "--wait",
                   timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    assert "submitted 2 array tasks" in proc.stdout
    runs = sorted((out / "runs").iterdir())
    assert len(runs) == 2
    for d in runs:
        assert json.loads((d / "summary.json").read_text())["status"] == "done"
        claims = [json.loads(l) for l in (d / "claims.jsonl").read_text().splitlines()]
        assert len(claims) == 1
    assert (out / "slurm").is_dir()


def test_slurm_needs_a_partition(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(tiny_sweep(out=str(tmp_path / "out"))))
    proc = run_cli("sweep", path, "--executor", "slurm")
    assert proc.returncode == 2 and "--slurm-partition" in proc.stderr
