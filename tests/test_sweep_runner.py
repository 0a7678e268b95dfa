"""The worker loop under faults and concurrency (subprocesses, as users run it):
- SIGKILL at seeded random moments, restart each time: every point ends done exactly once,
  finished points are never retrained, and every loss curve is bit-identical to an
  uninterrupted sweep's;
- two workers (sharded 0/2 + 1/2, and two unsharded) cover the grid exactly once;
- a data-parallel run on 8 host devices matches the one-device run within 1e-5."""
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_cli
from test_sweep_config import tiny_sweep

pytestmark = pytest.mark.slow


def write(path: Path, out: Path, **over) -> Path:
    path.write_text(yaml.safe_dump(tiny_sweep(out=str(out), **over)))
    return path


def curves(out: Path) -> dict:
    res = {}
    for d in sorted((out / "runs").iterdir()):
        rows = [json.loads(l) for l in (d / "metrics.jsonl").read_text().splitlines()]
        res[d.name] = [(r["step"], r["train_loss"], r.get("eval_loss")) for r in rows]
    return res


def summaries(out: Path) -> dict:
    if not (out / "runs").exists():
        return {}
    return {d.name: json.loads((d / "summary.json").read_text())
            for d in (out / "runs").iterdir() if (d / "summary.json").exists()}


def start(path: Path, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "scaling", "sweep", str(path), "--quiet",
                             *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def metric_lines(out: Path) -> int:
    runs = out / "runs"
    if not runs.exists():
        return 0
    n = 0
    for m in runs.glob("*/metrics.jsonl"):
        try:
            n += len(m.read_text().splitlines())
        except FileNotFoundError:
            pass
    return n


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """The uninterrupted sweep: 4 points (2 sizes x 2 token counts), and its stderr."""
    tmp = tmp_path_factory.mktemp("ref")
    path = write(tmp / "s.yaml", tmp / "out")
    proc = run_cli("sweep", path, "--quiet", check=True)
    return tmp / "out", proc.stderr


@pytest.fixture(scope="module")
def reference(reference_run):
    return reference_run[0]


def test_a_quiet_worker_prints_one_progress_line_per_change(reference_run):
    """--quiet: no progress bars, no per-point log; one line for the whole sweep (to a log
    file: one per change of the counts), ending with every point done."""
    _, err = reference_run
    assert "[sweep]" not in err and "[data" not in err, err[-2000:]
    lines = [l for l in err.splitlines() if l.startswith("sweep ")]
    assert lines[0].startswith("sweep tinysweep: 0/4 points done")
    assert lines[-1] == "sweep tinysweep: 4/4 points done, 0 running, ETA 0s"
    assert len(lines) == len(set(lines)) <= 9  # 4 points: at most a start and a finish each


def test_sigkill_at_random_moments_then_resume(tmp_path, reference):
    out = tmp_path / "out"
    path = write(tmp_path / "s.yaml", out)
    rng = random.Random(20240611)
    finished: dict[str, tuple[float, float]] = {}  # run -> (summary mtime, wall_s)
    kills = 0
    for attempt in range(4):
        proc = start(path)
        if attempt == 0:  # kill during start-up (imports, data, first compile)
            time.sleep(rng.uniform(0.5, 3.0))
        else:
            target = metric_lines(out) + rng.randint(5, 30)
            deadline = time.time() + 120
            while time.time() < deadline and proc.poll() is None and metric_lines(out) < target:
                time.sleep(0.02)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        for rid, s in summaries(out).items():  # a finished point is never written again
            mt = (out / "runs" / rid / "summary.json").stat().st_mtime
            if rid in finished:
                assert finished[rid] == (mt, s["wall_s"]), f"{rid} retrained"
            finished[rid] = (mt, s["wall_s"])
    assert kills >= 3
    run_cli("sweep", path, "--quiet", check=True)
    got, want = curves(out), curves(reference)
    assert set(got) == set(want) and len(got) == 4
    for rid in want:
        steps = [s for s, *_ in got[rid]]
        assert len(steps) == len(set(steps)), f"{rid}: duplicate steps"
        assert got[rid] == want[rid], f"{rid}: loss curve differs from the uninterrupted sweep"
    final = summaries(out)
    assert all(s["status"] == "done" for s in final.values())
    for rid, (mt, _wall) in finished.items():
        assert (out / "runs" / rid / "summary.json").stat().st_mtime == mt
    proc = run_cli("status", out, check=True)
    assert "4 done" in proc.stdout


def _trained_by(out: Path) -> dict[str, list[int]]:
    """run -> pids of the workers that claimed it (claims.jsonl)."""
    res = {}
    for d in (out / "runs").iterdir():
        lines = (d / "claims.jsonl").read_text().splitlines()
        res[d.name] = [json.loads(l)["pid"] for l in lines]
    return res


@pytest.mark.parametrize("mode", ["sharded", "unsharded"])
def test_two_workers_cover_the_grid_exactly_once(tmp_path, reference, mode):
    out = tmp_path / "out"
    path = write(tmp_path / "s.yaml", out)
    args = ([["--shard", "0/2"], ["--shard", "1/2"]] if mode == "sharded" else [[], []])
    procs = [start(path, *a) for a in args]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-2000:]
    by = _trained_by(out)
    assert len(by) == 4 and all(len(pids) == 1 for pids in by.values()), by
    assert all(s["status"] == "done" for s in summaries(out).values())
    assert curves(out) == curves(reference)
    if mode == "sharded":
        points = json.loads((out / "points.json").read_text())
        worker = {p["run_id"]: p["index"] % 2 for p in points}
        pid_of = {procs[i].pid: i for i in range(2)}
        assert all(pid_of[by[rid][0]] == worker[rid] for rid in by)


def test_data_parallel_8_devices_matches_one_device(tmp_path, reference):
    out = tmp_path / "out"
    path = write(tmp_path / "s.yaml", out, **{"grid.params": [35000], "grid.tokens": [5120]})
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    run_cli("sweep", path, "--quiet", env=env, check=True)
    (rid, got), = curves(out).items()
    assert json.loads((out / "runs" / rid / "summary.json").read_text())["versions"][
        "n_devices"] == 8
    want = curves(reference)[rid]
    assert [s for s, *_ in got] == [s for s, *_ in want]
    for (_, a, ea), (_, b, eb) in zip(got, want):
        assert abs(a - b) < 1e-5
        assert (ea is None) == (eb is None) and (ea is None or abs(ea - eb) < 1e-5)
