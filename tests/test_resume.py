"""Exact resume: a training process killed with SIGKILL and started again ends with the loss
curve of an uninterrupted run, bit for bit."""
import json
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, run_cli, tiny_run, write_config


def losses(run_dir):
    rows = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["train_loss"], r.get("eval_loss")) for r in rows]


def start(cfg_path, out):
    return subprocess.Popen([sys.executable, "-m", "scaling", "train", str(cfg_path), "--out",
                             str(out), "--quiet"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def train_then_kill(cfg_path, out, rows: int, timeout: float = 240) -> bool:
    """Start `scaling train` and SIGKILL it once metrics.jsonl holds `rows` lines; whether it
    was killed (False: it finished or the timeout passed first). Never leaves a summary."""
    proc = start(cfg_path, out)
    killed, deadline = False, time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        m = out / "metrics.jsonl"
        if m.exists() and len(m.read_text().splitlines()) >= rows:
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.05)
    proc.wait()
    assert not (out / "summary.json").exists()
    return killed


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["clm"])
def test_sigkill_then_resume_is_bit_identical(tmp_path, objective):
    cfg = tiny_run(objective=objective, **{"train.steps": 120, "train.checkpoint_every": 20,
                                           "train.log_every": 1})
    path = write_config(tmp_path / "run.yaml", cfg)
    run_cli("train", path, "--out", tmp_path / "ref", "--quiet", check=True)

    out = tmp_path / "killed"
    # kill after the 20- and 60-step checkpoints, mid-interval
    assert all([train_then_kill(path, out, target) for target in (30, 75)])
    run_cli("train", path, "--out", out, "--quiet", check=True)
    assert losses(out) == losses(tmp_path / "ref")
    a = json.loads((out / "summary.json").read_text())
    b = json.loads((tmp_path / "ref" / "summary.json").read_text())
    assert a["final_eval_loss"] == b["final_eval_loss"] and a["status"] == "done"


def test_bad_config_exits_2_and_writes_nothing(tmp_path):
    cfg = tiny_run(**{"model.n_heads": 5})
    path = write_config(tmp_path / "bad.yaml", cfg)
    out = tmp_path / "out"
    proc = run_cli("train", path, "--out", out)
    assert proc.returncode == 2
    assert "bad.yaml" in proc.stderr and "model.n_heads" in proc.stderr
    assert not out.exists()


def test_unknown_key_and_bad_override_exit_2(tmp_path):
    path = write_config(tmp_path / "c.yaml", tiny_run())
    proc = run_cli("train", path, "--set", "optim.lrr=1", "--out", tmp_path / "o")
    assert proc.returncode == 2 and "optim.lrr" in proc.stderr and "did you mean" in proc.stderr
    proc = run_cli("train", tmp_path / "missing.yaml")
    assert proc.returncode == 2 and "missing.yaml" in proc.stderr
    assert not (tmp_path / "o").exists()
