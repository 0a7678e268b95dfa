"""Experiment trackers (scaling/train/trackers.py): what each one records, and that a resumed run
records every step exactly once. No training here."""
from __future__ import annotations

import json
import math
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from runstore import InputError
from scaling.train import trackers as tr
from scaling.train.hooks import Hooks, StepInfo, TrackerHook


def row(step: int, session: int = 1) -> dict:
    """A metrics row like the loop's: eval keys every 4th step, mfu unknown on CPU."""
    r = {"step": step, "tokens": 512 * step, "flops": 3.0e9 * step, "lr": 1e-3 * step / 12,
         "train_loss": 5.0 / step + 0.01 * session, "grad_norm": 1.5 + 0.1 * session,
         "tokens_per_s": 1e4 + session, "mfu": None}
    if step % 4 == 0:
        r |= {"eval_loss": 4.0 / step + 0.01 * session, "eval_bpb": float("nan"),
              "eval_tokens": 2048}
    return r


def session(tracker, steps, n: int = 1) -> None:
    for k in steps:
        tracker.log(row(k, n), k)
    tracker.close()


# ---- choosing trackers --------------------------------------------------------------------------

def test_make_trackers_jsonl_first_and_once(tmp_path):
    kw = dict(run_id="r", group="g", config={}, start_step=0)
    ts = tr.make_trackers(("tensorboard", "jsonl", "tensorboard"), tmp_path, **kw)
    assert [type(t) for t in ts] == [tr.JsonlTracker, tr.TensorBoardTracker]
    for t in ts:
        t.close()
    ts = tr.make_trackers((), tmp_path, **kw)
    assert [type(t) for t in ts] == [tr.JsonlTracker]
    ts[0].close()
    with pytest.raises(InputError, match="unknown tracker"):
        tr.make_trackers(("mlflow",), tmp_path, **kw)


@pytest.mark.parametrize("name, module", [("tensorboard", "tensorboardX"), ("wandb", "wandb")])
def test_missing_package_names_the_extra(tmp_path, monkeypatch, name, module):
    monkeypatch.setitem(sys.modules, module, None)  # import now raises ImportError
    with pytest.raises(InputError) as e:
        tr.make_trackers(("jsonl", name), tmp_path, run_id="r", group="g", config={},
                         start_step=0)
    assert e.value.key == "train.trackers"
    assert f"the {name} tracker needs {module}" in str(e.value)
    assert "scaling-suite[trackers]" in str(e.value)


# ---- jsonl --------------------------------------------------------------------------------------

def test_jsonl_rows_as_given_and_truncated_on_resume(tmp_path):
    session(tr.JsonlTracker(tmp_path, 0), range(1, 11))
    p = tmp_path / "metrics.jsonl"
    with open(p, "a") as f:
        f.write('{"step": 11, "train_')  # a killed writer's half line
    with pytest.warns(UserWarning, match="half-written"):
        session(tr.JsonlTracker(tmp_path, 6), range(7, 9), n=2)
    want = [row(k, 1) for k in range(1, 7)] + [row(k, 2) for k in range(7, 9)]
    assert p.read_text() == "".join(json.dumps(r, sort_keys=True) + "\n" for r in want)


def test_tracker_hook_publishes_rows(tmp_path):
    hooks = Hooks()
    hooks.add(TrackerHook(tr.JsonlTracker(tmp_path, 0)))
    for k in (1, 2):
        hooks.run(StepInfo(step=k, final=k == 2, loss=1.0, grad_norm=1.0, busy_s=0.0,
                           row=row(k) if k == 2 else {}))
    hooks.close()
    assert [json.loads(x)["step"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()] \
        == [2]


# ---- tensorboard --------------------------------------------------------------------------------

def read_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar event in the folder (no purging: a duplicate step would show)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0}, purge_orphaned_data=False)
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def expected(rows: list[dict]) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        for k, v in r.items():
            if k != "step" and v is not None and math.isfinite(v):
                out.setdefault(k, []).append((r["step"], float(np.float32(v))))
    return out


def by_step(scalars):
    return {tag: sorted(v) for tag, v in scalars.items()}


def test_tensorboard_scalars_read_back(tmp_path):
    t = tr.TensorBoardTracker(tmp_path, 0)
    for k in range(1, 5):
        t.log(row(k), k)
    # on disk before close: what a SIGKILL would leave
    got = read_scalars(tmp_path / "tensorboard")
    assert by_step(got) == expected([row(k) for k in range(1, 5)])
    session(t, range(5, 9))
    got = read_scalars(tmp_path / "tensorboard")
    assert "mfu" not in got and "eval_bpb" not in got and "step" not in got
    assert by_step(got) == expected([row(k) for k in range(1, 9)])


def test_tensorboard_resume_logs_each_step_once(tmp_path):
    session(tr.TensorBoardTracker(tmp_path, 0), range(1, 11), n=1)
    session(tr.TensorBoardTracker(tmp_path, 6), range(7, 13), n=2)
    folder = tmp_path / "tensorboard"
    assert len(list(folder.glob("events.out.tfevents.*"))) == 2  # the restart did not overwrite
    want = expected([row(k, 1) for k in range(1, 7)] + [row(k, 2) for k in range(7, 13)])
    assert by_step(read_scalars(folder)) == want
    events = [tr.record_event(r) for p in sorted(folder.glob("events.out.tfevents.*"))
              for r in tr.read_records(p)]
    steps = [e.step for e in events if e.summary.value]
    assert steps == list(range(1, 13))  # one event per row, each step once, in order


def test_tensorboard_tolerates_a_torn_last_record(tmp_path):
    session(tr.TensorBoardTracker(tmp_path, 0), range(1, 6))
    [p] = (tmp_path / "tensorboard").glob("events.out.tfevents.*")
    records = list(tr.read_records(p))
    with open(p, "ab") as f:  # a writer killed halfway through a record
        f.write(records[-1][: len(records[-1]) // 2])
    assert list(tr.read_records(p)) == records
    (n,) = struct.unpack("<Q", records[-1][:8])
    assert n == len(records[-1]) - 16
    session(tr.TensorBoardTracker(tmp_path, 5), range(6, 8))
    assert p.read_bytes() == b"".join(records)  # the torn tail is gone, nothing else
    assert by_step(read_scalars(p.parent)) == expected([row(k) for k in range(1, 8)])


# ---- wandb --------------------------------------------------------------------------------------

def logged_steps(run_dir: Path) -> list[tuple[int, dict]]:
    out = []
    for f in sorted((run_dir / "wandb").glob("offline-run-*/*.wandb")):
        for r in tr.offline_records(f):
            if r.HasField("history"):
                items = {it.key or "/".join(it.nested_key): json.loads(it.value_json)
                         for it in r.history.item}
                out.append((int(items["_step"]), items))
    return out


def test_wandb_offline_resume_logs_each_step_once(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb_dir"))
    monkeypatch.setenv("WANDB_PROJECT", "scaling-test")
    run_dir = tmp_path / "runs" / "clm_n1.2M_d20M_s0_ab12cd"
    run_dir.mkdir(parents=True)
    kw = dict(run_id=run_dir.name, group="sweep", config={"seed": 0})
    session(tr.WandbTracker(run_dir, **kw, start_step=0), range(2, 11, 2), n=1)
    assert tr.offline_steps(run_dir) == [2, 4, 6, 8, 10]
    session(tr.WandbTracker(run_dir, **kw, start_step=6), range(8, 15, 2), n=2)
    logged = logged_steps(run_dir)
    assert sorted(s for s, _ in logged) == list(range(2, 15, 2))  # 8 and 10 once
    values = dict(logged)
    assert values[12]["train_loss"] == row(12, 2)["train_loss"]
    assert values[10]["train_loss"] == row(10, 1)["train_loss"]
    assert "mfu" not in values[12] and "step" not in values[12]
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 2


class FakeRun:
    def __init__(self, step: int, **init):
        self.init, self.step, self.id, self.logged, self.finished = init, step, init["id"], [], 0

    def log(self, values, step):
        self.logged.append(step)

    def finish(self):
        self.finished += 1


def fake_wandb(monkeypatch, step: int) -> list[FakeRun]:
    runs: list[FakeRun] = []
    mod = types.SimpleNamespace(errors=types.SimpleNamespace(UsageError=RuntimeError),
                                init=lambda **kw: runs.append(FakeRun(step, **kw)) or runs[-1],
                                run=None, teardown=lambda: None)
    monkeypatch.setitem(sys.modules, "wandb", mod)
    return runs


def test_wandb_skips_steps_the_resumed_run_already_has(tmp_path, monkeypatch):
    runs = fake_wandb(monkeypatch, step=9)  # an online run resumed: its next step is 9
    t = tr.WandbTracker(tmp_path, run_id="a/b:c", group="g", config={"x": 1}, start_step=4)
    session(t, range(5, 13))
    [run] = runs
    assert run.logged == [9, 10, 11, 12] and run.finished == 1
    assert run.init["id"] == tr.wandb_id("a/b:c") and run.init["name"] == "a/b:c"
    assert run.init["resume"] == "allow" and run.init["dir"] == str(tmp_path)


def test_wandb_id_is_safe_and_stable():
    assert tr.wandb_id("clm_n1.2M_d20M_s0_ab12cd") == "clm_n1.2M_d20M_s0_ab12cd"
    odd = tr.wandb_id("x/y:z#" + "q" * 80)
    assert odd == tr.wandb_id("x/y:z#" + "q" * 80) and len(odd) <= 64
    assert not set(odd) & set(":;,#?/'\\% ")
    assert tr.wandb_id("a/b") != tr.wandb_id("a:b")


def test_a_missing_tracker_package_is_refused_before_the_run_folder(tmp_path, monkeypatch,
                                                                      capsys):
    from conftest import tiny_run, write_config

    from scaling.cli import main
    monkeypatch.setitem(sys.modules, "wandb", None)
    path = write_config(tmp_path / "run.yaml", tiny_run(**{"train.trackers": ["wandb"]}))
    assert main(["train", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "the wandb tracker needs wandb" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
