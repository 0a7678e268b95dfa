"""The run store: results/<sweep>/ with claims, heartbeats and per-point status.

Layout (DESIGN.md, "Results layout"), plus what the sweep adds:

    results/<sweep>/sweep.yaml             the sweep as run (every default filled in)
    results/<sweep>/points.json            the expanded grid: run id, nominal and actual N, D, C
    results/<sweep>/runs/<id>/point.json   this point's row of points.json
    results/<sweep>/runs/<id>/claim.<k>    claim generation k (JSON: worker, pid, host)
    results/<sweep>/runs/<id>/claims.jsonl one line per claim taken (who trained it, when)
    results/<sweep>/runs/<id>/...          config.json, metrics.jsonl, summary.json, checkpoints/

Claims. A worker claims a point by creating `claim.0` with O_CREAT | O_EXCL (atomic on local
file systems and NFSv3+): exactly one creator wins. While it trains, a background thread touches
the claim's mtime every `heartbeat_s`. A claim whose mtime is older than `stale_s` belongs to a
dead worker: another worker takes it over by creating the NEXT generation, `claim.<k+1>`, again
with O_EXCL, so of several workers that find the same stale claim exactly one wins (no check-then-
act race). The live claim is the highest generation. A worker releases its claim (deletes it) when
the run ends, however it ends; a worker that finds its claim superseded stops training.

Status per point, from summary.json first, then the claim: done | diverged | failed (summary),
running (a fresh claim), pending (no claim, or a stale one: shown as `pending (stale claim)`),
damaged (a summary.json that cannot be read: never retrained over, never counted as done).

The same claim is the lock of a run folder for `scaling train` (`hold_run_dir`): a second process
on one folder is refused while the first one's heartbeat is fresh.
"""
from __future__ import annotations

import _thread
import contextlib
import json
import math
import os
import re
import socket
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import yaml

from analysis.contract import (InputError, atomic_write_json, atomic_write_text, read_jsonl,
                               read_summary)

FINISHED = ("done", "diverged")
_CLAIM = re.compile(r"^claim\.(\d+)$")


def worker_info(worker: str = "") -> dict:
    """Who claims: pid and host, and under SLURM the array task (stable across a requeue, so a
    requeued task takes its own previous claim back at once instead of waiting for stale_s)."""
    job = os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID")
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    return {"worker": worker or f"{socket.gethostname()}:{os.getpid()}", "pid": os.getpid(),
            "host": socket.gethostname(),
            "owner": f"slurm:{job}_{task}" if job else None}


def _dead_here(held: dict) -> bool:
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


def _read_claim(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _claims(run_dir: Path) -> list[tuple[int, Path]]:
    try:
        names = os.listdir(run_dir)
    except FileNotFoundError:
        return []
    out = [(int(m.group(1)), run_dir / n) for n in names if (m := _CLAIM.match(n))]
    return sorted(out)


def _age(path: Path) -> float | None:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None


@dataclass
class PointStatus:
    status: str                   # done | diverged | failed | running | pending
    detail: str = ""
    claim: dict | None = None


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
            newer = [g for g, _ in _claims(self.path.parent) if g > self.generation]
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


class Store:
    """One sweep's results folder."""

    def __init__(self, root: str | Path, stale_s: float = 180.0, heartbeat_s: float = 15.0):
        self.root = Path(root)
        self.runs = self.root / "runs"
        self.stale_s, self.heartbeat_s = stale_s, heartbeat_s

    def run_dir(self, run_id: str) -> Path:
        return self.runs / run_id

    # ---- the sweep's own files ----

    def write_sweep(self, resolved: dict, points: list[dict]) -> None:
        self.runs.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.root / "sweep.yaml",
                          "# the sweep as run: every default filled in (written by scaling sweep)\n"
                          + yaml.safe_dump(resolved, sort_keys=False))
        atomic_write_json(self.root / "points.json", points)

    def read_points(self) -> list[dict]:
        """points.json's rows; a damaged file is an InputError naming it (a reader may then
        fall back to listing runs/)."""
        p = self.root / "points.json"
        if not p.exists():
            return []
        try:
            rows = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(f"unreadable points.json ({e})", file=str(p),
                             fix="rerun the sweep (it rewrites points.json)") from None
        if not (isinstance(rows, list) and all(isinstance(r, dict) and isinstance(
                r.get("run_id"), str) for r in rows)):
            raise InputError("points.json is not a list of points with run ids", file=str(p),
                             fix="rerun the sweep (it rewrites points.json)")
        return rows

    # ---- status ----

    def status(self, run_id: str) -> PointStatus:
        d = self.run_dir(run_id)
        try:
            s = read_summary(d)
        except InputError as e:  # reported with its path; the run is neither done nor retried
            return PointStatus("damaged", str(e))
        if s is not None and s.status in ("done", "diverged", "failed"):
            return PointStatus(s.status, s.error or "")
        claims = _claims(d)
        if not claims:
            return PointStatus("pending")
        gen, path = claims[-1]
        age = _age(path)
        info = _read_claim(path) or None
        if age is None:
            return PointStatus("pending")
        if age > self.stale_s or _dead_here(info or {}):
            return PointStatus("pending", f"stale claim ({age:.0f} s old, worker gone)", info)
        return PointStatus("running", f"claim {gen}, heartbeat {age:.0f} s ago", info)

    # ---- claims ----

    def try_claim(self, run_id: str, info: dict, *, log: bool = True) -> Claim | None:
        """Claim the point, or take over a stale claim; None if another worker holds it.
        `log`: append the claim to claims.jsonl (the sweep's record of who trained a point)."""
        return claim_dir(self.run_dir(run_id), info, self.stale_s, self.heartbeat_s, log=log)

    def claim_log(self, run_id: str) -> list[dict]:
        return read_jsonl(self.run_dir(run_id) / "claims.jsonl")


def claim_dir(d: Path, info: dict, stale_s: float, heartbeat_s: float, *,
              log: bool = True) -> Claim | None:
    """Claim run folder `d` (see the module docstring); None if a live worker holds it."""
    d.mkdir(parents=True, exist_ok=True)
    claims = _claims(d)
    if claims:
        gen, path = claims[-1]
        age = _age(path)
        held = _read_claim(path)
        mine = (info.get("owner") and held.get("owner") == info["owner"]
                and held.get("pid") != info.get("pid"))  # this SLURM task, requeued
        if age is not None and age <= stale_s and not mine and not _dead_here(held):
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
                took_over=bool(claims and gen > claims[-1][0]))
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(body))
    # a newer generation may have been created between our listing and our create (we then
    # hold a lower number than the live claim): back off
    if any(g > gen for g, _ in _claims(d)):
        path.unlink(missing_ok=True)
        return None
    for g, old in _claims(d):  # older generations are dead: tidy them
        if g < gen:
            old.unlink(missing_ok=True)
    if log:
        with open(d / "claims.jsonl", "a") as f:
            f.write(json.dumps(body) + "\n")
    return Claim(path, gen, body, heartbeat_s)


def _held_here(run_dir: Path) -> bool:
    """This process holds the folder's live claim (a sweep worker, around its train() call)."""
    claims = _claims(run_dir)
    held = _read_claim(claims[-1][1]) if claims else {}
    return held.get("pid") == os.getpid() and held.get("host") == socket.gethostname()


@contextlib.contextmanager
def hold_run_dir(run_dir: Path, stale_s: float = 180.0,
                 heartbeat_s: float = 15.0) -> Iterator[None]:
    """Lock a run folder while this process trains it, with the sweep's claim (one mechanism
    for both: a `scaling train` and a sweep worker on one folder exclude each other too). Taken
    unless this process holds it already; an InputError while another process's claim is fresh;
    a claim whose process died (SIGKILL) is taken over at once, so a rerun resumes."""
    run_dir = Path(run_dir)
    if _held_here(run_dir):
        yield
        return
    claim = claim_dir(run_dir, worker_info(), stale_s, heartbeat_s, log=False)
    if claim is None:
        claims = _claims(run_dir)
        held = _read_claim(claims[-1][1]) if claims else {}
        age = _age(claims[-1][1]) if claims else None
        raise InputError(f"being trained by another process (pid {held.get('pid')} on "
                         f"{held.get('host')}, heartbeat {age or 0:.0f} s ago)",
                         file=str(run_dir), fix="wait for it to finish; a process that died "
                         f"is taken over at once on its host, elsewhere after {stale_s:.0f} s")
    claim.on_lost = _thread.interrupt_main  # superseded: stop training rather than mix
    with claim:
        yield


# ---- progress (scaling status) ----

@dataclass
class Progress:
    step: int = 0
    steps: int = 0
    loss: float | None = None
    eval_loss: float | None = None
    tokens_per_s: float | None = None
    flops_left: float = 0.0
    flops_per_s: float | None = None


def progress(run_dir: Path, point: dict) -> Progress:
    """Last step and loss from metrics.jsonl, and the recent throughput."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = read_jsonl(run_dir / "metrics.jsonl")
    # a damaged line (binary bytes, a wrong type) is skipped: status never fails on it
    rows = [r for r in rows if _number(r.get("step")) is not None]
    pr = Progress(steps=int(_number(point.get("steps")) or 0))
    flops, tokens = _number(point.get("flops")), _number(point.get("tokens"))
    if rows:
        last = rows[-1]
        pr.step = int(last["step"])
        pr.loss = _number(last.get("train_loss"))
        evals = [_number(r.get("eval_loss")) for r in rows]
        evals = [e for e in evals if e is not None]
        pr.eval_loss = evals[-1] if evals else None
        rates = [_number(r.get("tokens_per_s")) for r in rows[-5:]]
        rates = [r for r in rates if r]
        pr.tokens_per_s = sum(rates) / len(rates) if rates else None
    if pr.steps:
        pr.flops_left = (flops or 0.0) * max(pr.steps - pr.step, 0) / pr.steps
    if pr.tokens_per_s and flops and tokens:
        pr.flops_per_s = pr.tokens_per_s * flops / tokens
    return pr


def _number(v) -> float | int | None:
    """A finite JSON number, else None (a damaged or foreign value)."""
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    return v if ok else None
