"""Cooldown branches of a warmup-stable trunk (Hägele et al. 2024, arXiv:2405.18392).

A trunk is a WSD run of its size's longest duration that stops where that duration's cooldown
would begin (`train.stop_at`), keeping a checkpoint for good at each branch point
(`train.branch_points`, in `branch_points/`, apart from the rolling `checkpoints/`). A branch is
the WSD run of one duration: it restores the trunk's branch-point checkpoint and trains only its
cooldown. In the stable phase every WSD schedule of the same peak, warmup and floor computes the
same lr (scaling/train/schedule.py), the batches and the objective's noise are functions of
(seed, step), so a branch equals a WSD run trained from scratch to the same length, bit for bit.
A branch's metrics.jsonl starts with the trunk's rows up to the branch step, so its curve is whole
and its folder needs no other.
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from runstore import InputError, read_jsonl, write_jsonl
from scaling.train.checkpoint import Checkpointer
from scaling.train.config import RunConfig
from scaling.train.hooks import StepInfo

BRANCH_DIR = "branch_points"


@contextlib.contextmanager
def _quiet_orbax():
    """A read-only manager logs three warnings per opening; a sweep opens one per point."""
    log = logging.getLogger("absl")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def trunk_dir(run_dir: Path, cfg: RunConfig) -> Path:
    """A branch's trunk: the sibling run folder named by `train.branch_from`."""
    return Path(run_dir).parent / cfg.train.branch_from


def ready_steps(run_dir: Path) -> list[int]:
    """The branch points whose checkpoints are complete in a trunk's folder."""
    d = Path(run_dir) / BRANCH_DIR
    if not d.is_dir():
        return []
    with _quiet_orbax():
        ckpt = Checkpointer(d, read_only=True)
        try:
            return sorted(ckpt.mgr.all_steps())
        finally:
            ckpt.mgr.close()


def check_branch_ready(run_dir: Path, cfg: RunConfig) -> None:
    """Refuse (before anything is written) a branch whose trunk checkpoint does not exist."""
    t = cfg.train
    if t.branch_from and t.branch_step not in ready_steps(trunk_dir(run_dir, cfg)):
        raise InputError(f"trunk {t.branch_from} has no checkpoint at step {t.branch_step} yet",
                          key="train.branch_from",
                          fix="train the trunk first (scaling sweep does it in order)")


def start_branch(state: dict, run_dir: Path, cfg: RunConfig) -> tuple[dict, int]:
    """The trunk's state at the branch step, and the trunk's metric rows up to it copied into
    this run's metrics.jsonl (once: a resumed branch restores its own checkpoints instead)."""
    t = cfg.train
    trunk = trunk_dir(run_dir, cfg)
    with _quiet_orbax():
        src = Checkpointer(trunk / BRANCH_DIR, read_only=True)
        try:
            state, _ = src.restore(t.branch_step, state)
        finally:
            src.mgr.close()
    write_jsonl(Path(run_dir) / "metrics.jsonl", read_jsonl(_rows_path(trunk, t.branch_step)))
    return state, t.branch_step


def _rows_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / BRANCH_DIR / f"metrics-{step}.jsonl"


class BranchPoint:
    """Saves the state at each branch point into branch_points/, kept for good, with the metric
    rows up to it (a resumed trunk truncates and replays its metrics.jsonl: a branch starting
    meanwhile must not copy a half-replayed file)."""

    def __init__(self, run_dir: Path, points: tuple[int, ...], run_id: str):
        self.run_dir, self.points, self.run_id = Path(run_dir), frozenset(points), run_id
        self.checkpointer = Checkpointer(Path(run_dir) / BRANCH_DIR, keep=None)
        self.done = set(self.checkpointer.mgr.all_steps())

    def due(self, k: int, final: bool) -> bool:
        return k in self.points and k not in self.done

    def __call__(self, info: StepInfo) -> None:
        # rows first (the jsonl tracker has written step k's row): the checkpoint marks it ready
        rows = [r for r in read_jsonl(self.run_dir / "metrics.jsonl") if r["step"] <= info.step]
        write_jsonl(_rows_path(self.run_dir, info.step), rows)
        self.checkpointer.save(info.step, info.state, {"step": info.step, "run_id": self.run_id,
                                                       "branch_point": True})
        # complete before the trunk goes on: a later rolling checkpoint must never stand for a
        # branch point whose save a SIGKILL cut short (the resumed trunk would not redo it)
        self.checkpointer.mgr.wait_until_finished()
        self.done.add(info.step)

    def close(self) -> None:
        self.checkpointer.close()
