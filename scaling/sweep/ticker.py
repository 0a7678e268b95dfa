"""One progress line for the whole sweep while a quiet worker trains (`scaling sweep --quiet`):

    sweep quickstart: 4/10 points done, 2 running, ETA 2m10s

Counted from the results folder, so it covers every worker on it, not only this one. On a
terminal the line is redrawn in place every few seconds; otherwise (a log file) a plain line is
written each time the counts change. The ETA is the exact FLOPs left (each point's own: a branch
its cooldown) over the rate at which the folder's FLOPs done have grown since they first grew
while this worker watched (its start-up, the data and the first compile are not counted);
"ETA ?" until then. FLOPs done count each point's steps from its metrics.jsonl.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Callable, TextIO

from runstore import read_metrics
from scaling.sweep.point import Point
from scaling.sweep.store import FINISHED, Store


def fmt_eta(seconds: float | None) -> str:
    """2m10s, 45s, 1h05m: short, and to the precision that matters at that scale."""
    if seconds is None:
        return "?"
    s = max(int(round(seconds)), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class ProgressLine:
    """The line, refreshed by a daemon thread every `every_s` seconds between start() and
    stop(); `tick()` is one refresh (tests call it directly)."""

    def __init__(self, name: str, store: Store, points: list[Point], *,
                 stream: TextIO | None = None, every_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self.name, self.store, self.points = name, store, points
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every_s, self.clock = every_s, clock
        self.first: tuple[float, float] | None = None  # (time, FLOPs done) the rate is from
        self.moving = False  # FLOPs done have grown since the first tick
        self.last_counts: tuple | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _done_flops(self, pt: Point, status: str) -> float:
        if status in FINISHED:
            return pt.flops_own
        rows = read_metrics(self.store.run_dir(pt.run_id), quiet=True)
        step = int(rows[-1]["step"]) if rows else 0
        steps = min(max(step - pt.run.start_step, 0), pt.run.end_step - pt.run.start_step)
        return pt.run.flops_at(steps)

    def measure(self) -> tuple[dict[str, int], float, float]:
        """(counts by status, FLOPs done, FLOPs in all) of the folder now."""
        counts: dict[str, int] = {}
        done = total = 0.0
        for pt in self.points:
            st = self.store.status(pt.run_id).status
            counts[st] = counts.get(st, 0) + 1
            total += pt.flops_own
            if st != "damaged":  # a pending point may hold the steps of a killed session
                done += self._done_flops(pt, st)
        return counts, done, total

    def line(self, counts: dict[str, int], done: float, total: float, now: float) -> str:
        if self.first is None or (not self.moving and done <= self.first[1]):
            self.first = (now, done)  # the clock starts at the last tick before any progress
        self.moving = self.moving or done > self.first[1]
        t0, d0 = self.first
        rate = (done - d0) / (now - t0) if now > t0 and done > d0 else None
        eta = 0.0 if done >= total else (total - done) / rate if rate else None
        finished = sum(counts.get(k, 0) for k in FINISHED)
        extra = "".join(f", {counts[k]} {k}" for k in ("failed", "damaged") if counts.get(k))
        return (f"sweep {self.name}: {finished}/{len(self.points)} points done, "
                f"{counts.get('running', 0)} running{extra}, ETA {fmt_eta(eta)}")

    def tick(self) -> None:
        counts, done, total = self.measure()
        text = self.line(counts, done, total, self.clock())
        key = tuple(sorted(counts.items()))
        if self.tty:
            self.stream.write(f"\r{text}\x1b[K")
        elif key != self.last_counts:
            self.stream.write(text + "\n")
        self.last_counts = key
        self.stream.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.tick()
            except Exception:  # a progress line never stops a sweep (a folder moved, say)
                pass

    def start(self) -> "ProgressLine":
        self.tick()
        self._thread = threading.Thread(target=self._loop, name="sweep-progress", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """The last state, and the line ended (on a terminal)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.every_s + 1)
        try:
            self.tick()
        except Exception:
            pass
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
