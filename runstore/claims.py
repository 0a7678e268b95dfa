"""Claims: the lock on a run folder, shared by sweep workers and `scaling train`.

Claims. A worker claims a point by creating `claim.0` with O_CREAT | O_EXCL (atomic on local
file systems and NFSv3+): exactly one creator wins. While it trains, a background thread touches
the claim's mtime every `heartbeat_s`. A claim whose mtime is older than `stale_s` belongs to a
dead worker: another worker takes it over by creating the NEXT generation, `claim.<k+1>`, again
with O_EXCL, so of several workers that find the same stale claim exactly one wins (no check-then-
act race). The live claim is the highest generation. A worker releases its claim (deletes it) when
the run ends, however it ends; a worker that finds its claim superseded stops training.

The same claim is the lock of a run folder for `scaling train` (`hold_run_dir`): a second process
on one folder is refused while the first one's heartbeat is fresh.
"""
from __future__ import annotations

import _thread
import contextlib
import json
import os
import re
import socket
import threading
import time
import warnings
from pathlib import Path
from typing import Iterator

from runstore.errors import InputError

_CLAIM = re.compile(r"^claim\.(\d+)$")


def worker_info(worker: str = "") -> dict:
    """Who claims: pid and host, and under SLURM the array task (stable across a requeue, so a
    requeued task takes its own previous claim back at once instead of waiting for stale_s)."""
    job = os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID")
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    return {"worker": worker or f"{socket.gethostname()}:{os.getpid()}", "pid": os.getpid(),
            "host": socket.gethostname(),
            "owner": f"slurm:{job}_{task}" if job else None}


def dead_here(held: dict) -> bool:
    """The claim's worker ran on this host and its process is gone (e.g. killed with SIGKILL):
    no need to wait for the stale timeout. A reused pid only makes us wait, never steal."""
    if held.get("host") != socket.gethostname() or not isinstance(held.get("pid"), int):
        return False
    if held["pid"] == os.getpid():
        return False
    try:
        os.kill(held["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def read_claim(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def claims(run_dir: Path) -> list[tuple[int, Path]]:
    try:
        names = os.listdir(run_dir)
    except FileNotFoundError:
        return []
    out = [(int(m.group(1)), run_dir / n) for n in names if (m := _CLAIM.match(n))]
    return sorted(out)


def claim_age(path: Path) -> float | None:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None


class Claim:
    """A held claim on one run folder; touch it with a heartbeat thread, release when done."""

    def __init__(self, path: Path, generation: int, info: dict, heartbeat_s: float):
        self.path, self.generation, self.info = path, generation, info
        self.heartbeat_s = heartbeat_s
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_lost = None  # called once from the heartbeat thread if the claim is superseded

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            newer = [g for g, _ in claims(self.path.parent) if g > self.generation]
            if newer or not self.path.exists():
                self.lost.set()
                warnings.warn(f"{self.path}: claim taken over by another worker (this worker "
                              "stalled past the stale timeout); stopping this run", stacklevel=1)
                if self.on_lost is not None:
                    self.on_lost()
                return
            try:
                os.utime(self.path)
            except FileNotFoundError:
                pass

    def start(self) -> "Claim":
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{self.path.parent.name}",
                                        daemon=True)
        self._thread.start()
        return self

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if not self.lost.is_set():
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    def __enter__(self) -> "Claim":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.release()


def claim_dir(d: Path, info: dict, stale_s: float, heartbeat_s: float, *,
              log: bool = True) -> Claim | None:
    """Claim run folder `d` (see the module docstring); None if a live worker holds it."""
    d.mkdir(parents=True, exist_ok=True)
    held_claims = claims(d)
    if held_claims:
        gen, path = held_claims[-1]
        age = claim_age(path)
        held = read_claim(path)
        mine = (info.get("owner") and held.get("owner") == info["owner"]
                and held.get("pid") != info.get("pid"))  # this SLURM task, requeued
        if age is not None and age <= stale_s and not mine and not dead_here(held):
            return None  # held by a live worker
        gen = gen + 1 if age is not None else gen  # vanished: released, reuse its number
    else:
        gen = 0
    path = d / f"claim.{gen}"
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return None  # another worker won this generation
    body = dict(info, generation=gen, claimed_at=time.time(),
                took_over=bool(held_claims and gen > held_claims[-1][0]))
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(body))
    # a newer generation may have been created between our listing and our create (we then
    # hold a lower number than the live claim): back off
    if any(g > gen for g, _ in claims(d)):
        path.unlink(missing_ok=True)
        return None
    for g, old in claims(d):  # older generations are dead: tidy them
        if g < gen:
            old.unlink(missing_ok=True)
    if log:
        with open(d / "claims.jsonl", "a") as f:
            f.write(json.dumps(body) + "\n")
    return Claim(path, gen, body, heartbeat_s)


def held_here(run_dir: Path) -> bool:
    """This process holds the folder's live claim (a sweep worker, around its train() call)."""
    held_claims = claims(run_dir)
    held = read_claim(held_claims[-1][1]) if held_claims else {}
    return held.get("pid") == os.getpid() and held.get("host") == socket.gethostname()


@contextlib.contextmanager
def hold_run_dir(run_dir: Path, stale_s: float = 180.0,
                 heartbeat_s: float = 15.0) -> Iterator[None]:
    """Lock a run folder while this process trains it, with the sweep's claim (one mechanism
    for both: a `scaling train` and a sweep worker on one folder exclude each other too). Taken
    unless this process holds it already; an InputError while another process's claim is fresh;
    a claim whose process died (SIGKILL) is taken over at once, so a rerun resumes."""
    run_dir = Path(run_dir)
    if held_here(run_dir):
        yield
        return
    claim = claim_dir(run_dir, worker_info(), stale_s, heartbeat_s, log=False)
    if claim is None:
        held_claims = claims(run_dir)
        held = read_claim(held_claims[-1][1]) if held_claims else {}
        age = claim_age(held_claims[-1][1]) if held_claims else None
        raise InputError(f"being trained by another process (pid {held.get('pid')} on "
                         f"{held.get('host')}, heartbeat {age or 0:.0f} s ago)",
                         file=str(run_dir), fix="wait for it to finish; a process that died "
                         f"is taken over at once on its host, elsewhere after {stale_s:.0f} s")
    claim.on_lost = _thread.interrupt_main  # superseded: stop training rather than mix
    with claim:
        yield


