"""Claims: atomic, exclusive, heartbeat, stale takeover with exactly one winner, status."""
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from runstore.claims import worker_info
from scaling.sweep.store import Store


def info(name, pid=None):
    d = worker_info(name)
    if pid is not None:
        d["pid"] = pid
    return d


def age(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_claim_is_exclusive_and_released(tmp_path):
    st = Store(tmp_path, stale_s=60, heartbeat_s=1)
    a = st.try_claim("r1", info("a"))
    assert a is not None and a.path.name == "claim.0"
    assert st.try_claim("r1", info("b")) is None
    assert st.status("r1").status == "running"
    a.release()
    assert st.status("r1").status == "pending"
    b = st.try_claim("r1", info("b"))
    assert b is not None
    b.release()
    assert [c["worker"] for c in st.claim_log("r1")] == ["a", "b"]


def finished_run(root, rid, status="done", config="{}"):
    d = root / "runs" / rid
    d.mkdir(parents=True)
    (d / "summary.json").write_text(json.dumps({"status": status}))
    if config is not None:
        (d / "config.json").write_text(config)
    return d


def test_status_from_summary_first(tmp_path):
    st = Store(tmp_path)
    for rid, status in (("d", "done"), ("v", "diverged"), ("f", "failed")):
        finished_run(tmp_path, rid, status)
        assert st.status(rid).status == status
    assert st.status("nothing").status == "pending"


@pytest.mark.parametrize("config", [None, "{not json", "[1, 2]"])
def test_a_summary_without_a_valid_config_is_never_done(tmp_path, config):
    """Whose results a folder holds is told by its config.json: without a readable one the run
    is damaged (neither counted as done nor trained over), and the message names the file."""
    finished_run(tmp_path, "r", "done", config)
    st = Store(tmp_path).status("r")
    assert st.status == "damaged" and "config.json" in st.detail


def test_stale_claim_taken_over_by_exactly_one(tmp_path):
    st = Store(tmp_path, stale_s=5, heartbeat_s=1)
    dead = st.try_claim("r", info("dead", pid=2**22 + 12345))
    dead_info = json.loads(dead.path.read_text())
    dead_info["host"] = "elsewhere"  # not provably dead by pid: only the timeout frees it
    dead.path.write_text(json.dumps(dead_info))
    assert st.try_claim("r", info("early")) is None  # fresh: held
    age(dead.path, 10)
    assert st.status("r").status == "pending" and "stale" in st.status("r").detail
    wins, barrier = [], threading.Barrier(8)

    def contend(i):
        barrier.wait()
        c = st.try_claim("r", info(f"w{i}"))
        if c is not None:
            wins.append(c)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert wins[0].generation == 1 and not dead.path.exists()  # the stale claim is tidied
    assert json.loads(wins[0].path.read_text())["took_over"] is True


def test_dead_local_worker_is_taken_over_at_once(tmp_path):
    st = Store(tmp_path, stale_s=600, heartbeat_s=1)
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(proc.stdout)  # a pid that no longer runs, on this host
    st.try_claim("r", info("gone", pid=pid))
    assert st.status("r").status == "pending"
    c = st.try_claim("r", info("me"))
    assert c is not None and c.generation == 1


def test_heartbeat_keeps_claim_fresh_and_detects_takeover(tmp_path):
    st = Store(tmp_path, stale_s=1.0, heartbeat_s=0.2)
    c = st.try_claim("r", info("a"))
    lost = []
    c.on_lost = lambda: lost.append(True)
    c.start()
    time.sleep(1.5)
    assert st.status("r").status == "running"  # touched by the heartbeat
    assert st.try_claim("r", info("b", pid=os.getpid() + 1)) is None
    with pytest.warns(UserWarning, match="taken over"):
        c.path.with_name("claim.1").write_text("{}")  # someone took over (we stalled)
        time.sleep(0.6)
    assert c.lost.is_set() and lost == [True]
    c.release()
    assert c.path.exists()  # a lost claim is not ours to delete


# ---- --quiet's progress line (ticker.py) ----

class Stream:
    def __init__(self, tty):
        self.text, self.tty = "", tty

    def write(self, s):
        self.text += s

    def flush(self):
        pass

    def isatty(self):
        return self.tty


def ticker_on(tmp_path, tty):
    from test_sweep_config import tiny_sweep

    from scaling.sweep import grid
    from scaling.sweep.config import sweep_from_dict
    from scaling.sweep.ticker import ProgressLine

    points = grid.expand(sweep_from_dict(tiny_sweep()), 4 + 8 + 256)  # 20, 40, 20, 40 steps
    now = [0.0]
    line = ProgressLine("tiny", Store(tmp_path), points, stream=Stream(tty),
                        clock=lambda: now[0])
    return line, points, now


def test_progress_line_counts_the_folder_and_prints_a_line_per_change(tmp_path):
    line, points, now = ticker_on(tmp_path, tty=False)
    line.tick()
    assert line.stream.text == "sweep tiny: 0/4 points done, 0 running, ETA ?\n"
    now[0] = 100.0  # start-up: the data, the first compile
    line.tick()  # nothing changed: no new line in a log
    assert line.stream.text.count("\n") == 1
    finished_run(tmp_path, points[0].run_id)  # 20 steps of the small model
    d = tmp_path / "runs" / points[1].run_id  # 10 of 40 steps of it, claimed by a worker
    d.mkdir(parents=True)
    (d / "metrics.jsonl").write_text("".join(json.dumps({"step": s}) + "\n" for s in (5, 10)))
    claim = Store(tmp_path).try_claim(points[1].run_id, info("w"))
    now[0] = 110.0
    line.tick()
    claim.release()
    last = line.stream.text.splitlines()[-1]
    done = points[0].flops_own + points[1].run.flops_at(10)
    left = sum(p.flops_own for p in points) - done
    want = left / (done / 10.0)  # the rate since the last tick without progress
    from scaling.sweep.ticker import fmt_eta
    assert last == f"sweep tiny: 1/4 points done, 1 running, ETA {fmt_eta(want)}"


def test_progress_line_redraws_in_place_on_a_terminal(tmp_path):
    line, points, now = ticker_on(tmp_path, tty=True)
    line.tick()
    line.tick()
    assert line.stream.text.count("\r") == 2 and "\n" not in line.stream.text
    for p in points:
        finished_run(tmp_path, p.run_id)
    line.stop()  # the last state, then the line ends
    assert line.stream.text.endswith("\rsweep tiny: 4/4 points done, 0 running, ETA 0s\x1b[K\n")


def test_eta_format():
    from scaling.sweep.ticker import fmt_eta
    assert [fmt_eta(s) for s in (None, 0.4, 45, 130, 3599, 3900)] == [
        "?", "0s", "45s", "2m10s", "59m59s", "1h05m"]
