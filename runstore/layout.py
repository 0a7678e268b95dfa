"""The results folder layout as objects with named paths (docs/design.md, "Folder layout").

    <sweep>/sweep.yaml              the sweep as run (every default filled in)
    <sweep>/points.json             the expanded grid: run id, nominal and actual N, D, C
    <sweep>/runs/<id>/              one RunDir per point (and per trunk of a branched sweep)
    <sweep>/fits/, <sweep>/figures/ written by analysis

    <run>/config.json               the run's full resolved config (its identity)
    <run>/summary.json              the run record (runstore.summary.RunSummary)
    <run>/metrics.jsonl             one row per logged step
    <run>/point.json                the sweep's row for this point
    <run>/claim.<k>, claims.jsonl   the claim (runstore.claims) and who trained it
    <run>/checkpoints/              orbax; never committed
    <run>/branch_points/            a trunk's saved states that its cooldown branches start from
    <run>/tensorboard/              event files when the tensorboard tracker is on
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def cache_dir() -> Path:
    """The suite's cache folder (token caches, the measured CPU peak, compiled programs):
    $SCALING_CACHE, else ~/.cache/scaling."""
    env = os.environ.get("SCALING_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "scaling"


@dataclass(frozen=True)
class RunDir:
    """One run's folder."""

    path: Path

    def __init__(self, path: str | Path):
        object.__setattr__(self, "path", Path(path))

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config(self) -> Path:
        return self.path / "config.json"

    @property
    def summary(self) -> Path:
        return self.path / "summary.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def point(self) -> Path:
        return self.path / "point.json"

    @property
    def claims_log(self) -> Path:
        return self.path / "claims.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def branch_points(self) -> Path:
        return self.path / "branch_points"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"


@dataclass(frozen=True)
class SweepDir:
    """One sweep's results folder."""

    root: Path

    def __init__(self, root: str | Path):
        object.__setattr__(self, "root", Path(root))

    def __fspath__(self) -> str:
        return str(self.root)

    @property
    def sweep_yaml(self) -> Path:
        return self.root / "sweep.yaml"

    @property
    def points(self) -> Path:
        return self.root / "points.json"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def fits(self) -> Path:
        return self.root / "fits"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    def run(self, run_id: str) -> RunDir:
        return RunDir(self.runs / run_id)
