"""Cooldown branches: a branch restored from a trunk's branch point equals the WSD run trained
from scratch to the same length, bit for bit, and a trunk killed and resumed gives the same
branch."""
import json
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, tiny_run, write_config

from runstore import InputError
from scaling.configio import from_dict
from scaling.train.config import RunConfig
from scaling.train.loop import train

WSD = {"optim.schedule": "wsd", "optim.warmup_steps": 3, "optim.min_lr_ratio": 0.0,
       "optim.decay_shape": "1-sqrt", "train.log_every": 1, "train.eval_every": 10,
       "train.checkpoint_every": 10}


def cfg(**over):
    return from_dict(RunConfig, tiny_run(**{**WSD, **over}))


def trunk_cfg():  # the 60-step run's schedule, stopped where its 12-step cooldown begins
    return cfg(**{"train.steps": 60, "optim.decay_frac": 0.2, "train.stop_at": 48,
                  "train.branch_points": [24, 48]})


def branch_cfg(steps, at, trunk="trunk"):
    return cfg(**{"train.steps": steps, "optim.decay_frac": (steps - at) / steps,
                  "train.branch_from": trunk, "train.branch_step": at})


def rows(run_dir):
    return [(r["step"], r["train_loss"], r.get("eval_loss"))
            for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())]


def test_branches_equal_wsd_runs_from_scratch(tmp_path):
    runs = tmp_path / "runs"
    t = train(trunk_cfg(), runs / "trunk", progress=False)
    assert t.status == "done" and t.steps == 48 and t.role == "trunk"
    assert sorted(p.name for p in (runs / "trunk" / "branch_points").iterdir()) == \
        ["24", "48", "metrics-24.jsonl", "metrics-48.jsonl"]
    for steps, at in ((30, 24), (60, 48)):
        b = train(branch_cfg(steps, at), runs / f"b{steps}", progress=False)
        ref = train(cfg(**{"train.steps": steps, "optim.decay_frac": (steps - at) / steps}),
                    tmp_path / f"scratch{steps}", progress=False)
        got, want = rows(runs / f"b{steps}"), rows(tmp_path / f"scratch{steps}")
        assert [r[:2] for r in got] == [r[:2] for r in want]
        # the same evals, plus the trunk's own at its last step (the branch step)
        assert [r for r in got if r[2] is not None and r[0] != at] == \
            [r for r in want if r[2] is not None]
        assert b.final_eval_loss == ref.final_eval_loss and b.role == "branch"
        assert b.trunk_run_id == "trunk" and b.branch_step == at and b.tokens == ref.tokens
        assert b.flops == ref.flops and b.flops_own == pytest.approx(ref.flops * (steps - at)
                                                                     / steps)


def test_branch_before_its_trunk_point_exists_is_refused_and_writes_nothing(tmp_path):
    with pytest.raises(InputError, match="no checkpoint at step 24"):
        train(branch_cfg(30, 24), tmp_path / "runs" / "b30", progress=False)
    assert not (tmp_path / "runs" / "b30").exists()


@pytest.mark.slow
def test_branch_of_a_killed_and_resumed_trunk_is_bit_identical(tmp_path):
    train(trunk_cfg(), tmp_path / "a" / "trunk", progress=False)
    train(branch_cfg(30, 24), tmp_path / "a" / "b30", progress=False)
    out = tmp_path / "b" / "trunk"
    path = write_config(tmp_path / "trunk.yaml", tiny_run(**{
        **WSD, "train.steps": 60, "optim.decay_frac": 0.2, "train.stop_at": 48,
        "train.branch_points": [24, 48]}))
    proc = subprocess.Popen([sys.executable, "-m", "scaling", "train", str(path), "--out",
                             str(out), "--quiet"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        m = out / "metrics.jsonl"
        if m.exists() and len(m.read_text().splitlines()) >= 33:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and not (out / "summary.json").exists()
    train(trunk_cfg(), out, progress=False)
    train(branch_cfg(30, 24), tmp_path / "b" / "b30", progress=False)
    assert rows(tmp_path / "b" / "trunk") == rows(tmp_path / "a" / "trunk")
    assert rows(tmp_path / "b" / "b30") == rows(tmp_path / "a" / "b30")
