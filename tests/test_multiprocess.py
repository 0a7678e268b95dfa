"""One run over two CPU processes (jax.distributed with gloo collectives) trains the loss curve
of a one-process run within 1e-6; only process 0 writes the run folder; SIGKILL of both and a
restart resumes exactly; a sweep over two processes trains every point once, over both."""
import json
import signal
import socket
import subprocess
import sys
import time

import pytest
import yaml
from conftest import ROOT, run_cli, tiny_run, write_config
from test_sweep_config import tiny_sweep

STEPS = 12


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def launch(cfg_path, out, command="train") -> list[subprocess.Popen]:
    port = free_port()
    return [subprocess.Popen([sys.executable, "-m", "scaling", command, str(cfg_path), "--out",
                              str(out), "--quiet", "--coordinator", f"localhost:{port}",
                              "--num-processes", "2", "--process-id", str(i)], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for i in range(2)]


def wait_all(procs, timeout=300) -> None:
    deadline = time.time() + timeout
    for p in procs:
        try:
            _, err = p.communicate(timeout=max(deadline - time.time(), 1))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            errs = [q.communicate()[1][-2000:] for q in procs]
            raise AssertionError(f"timed out after {timeout} s; stderr: {errs}") from None
        assert p.returncode == 0, err[-3000:]


def rows(run_dir) -> list[dict]:
    return [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]


def assert_same_curve(a, b, tol=1e-6) -> None:
    assert [r["step"] for r in a] == [r["step"] for r in b] == list(range(1, STEPS + 1))
    for x, y in zip(a, b):
        assert abs(x["train_loss"] - y["train_loss"]) <= tol * abs(y["train_loss"]), (x, y)
        if "eval_loss" in y:
            assert abs(x["eval_loss"] - y["eval_loss"]) <= tol * abs(y["eval_loss"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("mp")
    cfg = write_config(d / "run.yaml", tiny_run(**{
        "train.steps": STEPS, "train.log_every": 1, "train.checkpoint_every": 4,
        "train.eval_every": 6}))
    run_cli("train", cfg, "--out", d / "one", "--quiet", check=True)
    return cfg, rows(d / "one")


@pytest.mark.slow
def test_two_processes_train_the_one_process_curve(reference, tmp_path):
    cfg, ref = reference
    wait_all(launch(cfg, tmp_path / "two"))
    assert_same_curve(rows(tmp_path / "two"), ref)
    s = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert s["status"] == "done" and s["versions"]["n_devices"] == 2


@pytest.mark.slow
@pytest.mark.long  # 100 s on 2 cores: `pytest -m long` (CI runs it)
def test_sigkill_both_then_restart_resumes_exactly(reference, tmp_path):
    cfg, ref = reference
    out = tmp_path / "killed"
    procs = launch(cfg, out)
    deadline = time.time() + 120
    while time.time() < deadline and all(p.poll() is None for p in procs):
        m = out / "metrics.jsonl"
        if m.exists() and len(m.read_text().splitlines()) >= 9:  # past the step-8 checkpoint
            break
        time.sleep(0.05)
    for p in procs:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert not (out / "summary.json").exists()
    wait_all(launch(cfg, out))
    assert_same_curve(rows(out), ref)


@pytest.mark.slow
def test_a_sweep_over_two_processes_trains_each_point_once(tmp_path):
    """Process 0 alone reads and takes the claims and tells process 1 which point comes next:
    every point trains once, over both processes, with the one-process sweep's curves."""
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(yaml.safe_dump(tiny_sweep(**{"grid.params": [8000], "grid.tokens": [5120,
                                                                                     10240]})))
    run_cli("sweep", cfg, "--out", tmp_path / "one", "--quiet", check=True)
    wait_all(launch(cfg, tmp_path / "two", command="sweep"), timeout=600)
    one, two = sorted((tmp_path / "one" / "runs").iterdir()), \
        sorted((tmp_path / "two" / "runs").iterdir())
    assert [d.name for d in one] == [d.name for d in two] and len(two) == 2
    for a, b in zip(one, two):
        ra, rb = rows(a), rows(b)
        assert [r["step"] for r in ra] == [r["step"] for r in rb]
        for x, y in zip(rb, ra):
            assert abs(x["train_loss"] - y["train_loss"]) <= 1e-6 * abs(y["train_loss"])
        s = json.loads((b / "summary.json").read_text())
        assert s["status"] == "done" and s["versions"]["n_devices"] == 2
        assert not list(b.glob("claim.*")), "claims are released"
        assert len((b / "claims.jsonl").read_text().splitlines()) == 1, "claimed once"
