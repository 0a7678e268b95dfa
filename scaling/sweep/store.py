"""The run store: results/<sweep>/ with claims, heartbeats and per-point status.

Layout (runstore.layout; docs/design.md, "Folder layout"):

    results/<sweep>/sweep.yaml             the sweep as run (every default filled in)
    results/<sweep>/points.json            the expanded grid: run id, nominal and actual N, D, C
    results/<sweep>/runs/<id>/point.json   this point's row of points.json
    results/<sweep>/runs/<id>/claim.<k>    claim generation k (JSON: worker, pid, host)
    results/<sweep>/runs/<id>/claims.jsonl one line per claim taken (who trained it, when)
    results/<sweep>/runs/<id>/...          config.json, metrics.jsonl, summary.json, checkpoints/

Claims (runstore.claims) lock each run folder; a sweep worker takes one per point.

Status per point, from summary.json first, then the claim: done | diverged | failed (summary),
running (a fresh claim), pending (no claim, or a stale one: shown as `pending (stale claim)`),
damaged (a summary.json that cannot be read, or one beside no valid config.json: never retrained
over, never counted as done; the sweep refuses to start while a point is damaged).

"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from runstore import (
    InputError,
    SweepDir,
    atomic_write_json,
    atomic_write_text,
    finite_number,
    read_json,
    read_jsonl,
    read_metrics,
    read_summary,
)
from runstore.claims import Claim, claim_age, claim_dir, claims, dead_here, read_claim

FINISHED = ("done", "diverged")


@dataclass
class PointStatus:
    status: str                   # done | diverged | failed | running | pending
    detail: str = ""
    claim: dict | None = None


class Store:
    """One sweep's results folder."""

    def __init__(self, root: str | Path, stale_s: float = 180.0, heartbeat_s: float = 15.0):
        self.dir = SweepDir(root)
        self.root, self.runs = self.dir.root, self.dir.runs
        self.stale_s, self.heartbeat_s = stale_s, heartbeat_s

    def run_dir(self, run_id: str) -> Path:
        return self.runs / run_id

    # ---- the sweep's own files ----

    def write_sweep(self, resolved: dict, points: list[dict]) -> None:
        self.runs.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.dir.sweep_yaml,
                          "# the sweep as run: every default filled in (written by scaling sweep)\n"
                          + yaml.safe_dump(resolved, sort_keys=False))
        atomic_write_json(self.dir.points, points)

    def read_points(self) -> list[dict]:
        """points.json's rows; a damaged file is an InputError naming it (a reader may then
        fall back to listing runs/)."""
        p = self.dir.points
        rows = read_json(p, default=[], fix="rerun the sweep (it rewrites points.json)")
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
            if s is not None:
                _config_of(d)
        except InputError as e:  # reported with its path; the run is neither done nor retried
            return PointStatus("damaged", str(e))
        if s is not None and s.status in ("done", "diverged", "failed"):
            return PointStatus(s.status, s.error or "")
        held = claims(d)
        if not held:
            return PointStatus("pending")
        gen, path = held[-1]
        age = claim_age(path)
        info = read_claim(path) or None
        if age is None:
            return PointStatus("pending")
        if age > self.stale_s or dead_here(info or {}):
            return PointStatus("pending", f"stale claim ({age:.0f} s old, worker gone)", info)
        return PointStatus("running", f"claim {gen}, heartbeat {age:.0f} s ago", info)

    # ---- claims ----

    def try_claim(self, run_id: str, info: dict, *, log: bool = True) -> Claim | None:
        """Claim the point, or take over a stale claim; None if another worker holds it.
        `log`: append the claim to claims.jsonl (the sweep's record of who trained a point)."""
        return claim_dir(self.run_dir(run_id), info, self.stale_s, self.heartbeat_s, log=log)

    def claim_log(self, run_id: str) -> list[dict]:
        return read_jsonl(self.dir.run(run_id).claims_log)


def _config_of(run_dir: Path) -> dict:
    """The config.json beside a summary.json: without a readable one, whose results these are
    cannot be told, so the run is never counted as done (nor trained over: train() refuses such
    a folder, scaling/train/rundir.py)."""
    fix = "move this run folder aside and rerun the sweep"
    cfg = read_json(run_dir / "config.json", fix=fix)
    if not isinstance(cfg, dict):
        raise InputError("config.json is not a JSON object", file=str(run_dir / "config.json"),
                         fix=fix)
    return cfg


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
    # a damaged line (binary bytes, a wrong type) is skipped: status never fails on it
    rows = read_metrics(run_dir, quiet=True)
    pr = Progress(steps=int(finite_number(point.get("steps")) or 0))
    flops, tokens = finite_number(point.get("flops")), finite_number(point.get("tokens"))
    if rows:
        last = rows[-1]
        pr.step = int(last["step"])
        pr.loss = finite_number(last.get("train_loss"))
        evals = [finite_number(r.get("eval_loss")) for r in rows]
        evals = [e for e in evals if e is not None]
        pr.eval_loss = evals[-1] if evals else None
        rates = [finite_number(r.get("tokens_per_s")) for r in rows[-5:]]
        rates = [r for r in rates if r]
        pr.tokens_per_s = sum(rates) / len(rates) if rates else None
    if pr.steps:
        pr.flops_left = (flops or 0.0) * max(pr.steps - pr.step, 0) / pr.steps
    if pr.tokens_per_s and flops and tokens:
        pr.flops_per_s = pr.tokens_per_s * flops / tokens
    return pr
