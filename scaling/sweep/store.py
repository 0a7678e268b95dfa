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
running (a fresh claim), pending (no claim, or a stale one: shown as `pending (stale claim)`).
"""
from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from analysis.contract import atomic_write_json, atomic_write_text, read_jsonl, read_summary

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
        p = self.root / "points.json"
        if not p.exists():
            return []
        return json.loads(p.read_text())

    # ---- status ----

    def status(self, run_id: str) -> PointStatus:
        d = self.run_dir(run_id)
        s = read_summary(d)
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

    def try_claim(self, run_id: str, info: dict) -> Claim | None:
        """Claim the point, or take over a stale claim; None if another worker holds it."""
        d = self.run_dir(run_id)
        d.mkdir(parents=True, exist_ok=True)
        claims = _claims(d)
        if claims:
            gen, path = claims[-1]
            age = _age(path)
            held = _read_claim(path)
            mine = (info.get("owner") and held.get("owner") == info["owner"]
                    and held.get("pid") != info.get("pid"))  # this SLURM task, requeued
            if age is not None and age <= self.stale_s and not mine and not _dead_here(held):
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
        with open(d / "claims.jsonl", "a") as f:
            f.write(json.dumps(body) + "\n")
        return Claim(path, gen, body, self.heartbeat_s)

    def claim_log(self, run_id: str) -> list[dict]:
        return read_jsonl(self.run_dir(run_id) / "claims.jsonl")


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
    pr = Progress(steps=int(point.get("steps", 0)))
    if rows:
        last = rows[-1]
        pr.step = int(last.get("step", 0))
        pr.loss = last.get("train_loss")
        evals = [r["eval_loss"] for r in rows if r.get("eval_loss") is not None]
        pr.eval_loss = evals[-1] if evals else None
        rates = [r["tokens_per_s"] for r in rows[-5:] if r.get("tokens_per_s")]
        pr.tokens_per_s = sum(rates) / len(rates) if rates else None
    if pr.steps:
        pr.flops_left = float(point.get("flops") or 0.0) * max(pr.steps - pr.step, 0) / pr.steps
    if pr.tokens_per_s and point.get("flops") and point.get("tokens"):
        pr.flops_per_s = pr.tokens_per_s * point["flops"] / point["tokens"]
    return pr
