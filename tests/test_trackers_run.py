"""Trackers in a real run: `scaling train --set train.trackers=[...]` writes TensorBoard events
and an offline W&B run whose numbers equal metrics.jsonl, and a SIGKILLed, restarted run logs
no step twice in any of them."""
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT, tiny_run, write_config
from test_trackers import logged_steps, read_scalars

pytest.importorskip("tensorboardX")
pytest.importorskip("wandb")


def metrics(run_dir):
    return [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_tracked_run_killed_and_resumed_logs_each_step_once(tmp_path):
    cfg = tiny_run(**{"train.steps": 80, "train.checkpoint_every": 20, "train.log_every": 2})
    path = write_config(tmp_path / "run.yaml", cfg)
    out = tmp_path / "run"
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true",
               WANDB_DIR=str(tmp_path / "wandb_home"), WANDB_PROJECT="scaling-test")
    args = [sys.executable, "-m", "scaling", "train", str(path), "--out", str(out), "--quiet",
            "--set", "train.trackers=[jsonl,tensorboard,wandb]"]
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        m = out / "metrics.jsonl"
        if m.exists() and len(m.read_text().splitlines()) >= 15:  # step 30: past checkpoint 20
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-2000:]
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]

    rows = metrics(out)
    steps = [r["step"] for r in rows]
    assert steps == sorted(set(steps)) and steps[-1] == 80

    scalars = read_scalars(out / "tensorboard")
    for tag in ("train_loss", "eval_loss", "lr", "tokens_per_s"):
        want = [(r["step"], float(np.float32(r[tag]))) for r in rows if r.get(tag) is not None]
        assert sorted(scalars[tag]) == want, tag  # the same numbers, each step once

    logged = logged_steps(out)
    w_steps = [s for s, _ in logged]
    assert sorted(w_steps) == steps  # every row, none twice (two sessions)
    by_step = {r["step"]: r for r in rows}
    for s, items in logged:
        assert math.isclose(items["train_loss"], by_step[s]["train_loss"], rel_tol=0, abs_tol=0)
    assert len(list((out / "wandb").glob("offline-run-*"))) == 2
