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
