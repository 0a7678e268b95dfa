"""Multi-process launch: flags checked in one place, and a job that cannot assemble fails in one
line within its timeout instead of hanging (or aborting with JAX's C++ stack trace)."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from runstore import InputError
from scaling.train.sharding import check_launch, parse_coordinator


@pytest.mark.parametrize("args, key", [
    (("", 2, -1), "--num-processes"),          # --num-processes without --coordinator
    (("", 0, 1), "--process-id"),              # --process-id without --coordinator
    (("h:1", 0, 0), "--num-processes"),
    (("h:1", -3, 0), "--num-processes"),
    (("h:1", 2, 5), "--process-id"),
    (("h:1", 2, -1), "--process-id"),
    (("nonsense", 2, 0), "--coordinator"),
    (("h:99999", 2, 0), "--coordinator"),
    ((":80", 2, 0), "--coordinator"),
])
def test_bad_launch_flags_name_their_flag(args, key):
    with pytest.raises(InputError) as e:
        check_launch(*args)
    assert e.value.key == key


def test_good_launch_flags():
    check_launch("", 0, -1)
    check_launch("10.0.0.1:8476", 2, 1)
    assert parse_coordinator("[::1]:1234") == ("::1", 1234)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_unreachable_coordinator_is_one_line_after_the_timeout():
    code = ("from scaling.train.sharding import initialize_distributed; "
            f"initialize_distributed('127.0.0.1:{_free_port()}', 2, 1, timeout_s=3)")
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr[-2000:]
    assert time.monotonic() - t0 < 45
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "did not assemble within 3 s" in errors[0]
    assert "Traceback" not in r.stderr and "stack trace" not in r.stderr
