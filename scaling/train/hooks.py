"""What the training loop does besides dispatching steps: hooks with a cadence.

The loop (scaling/train/loop.py) reads step k's metrics one step late (step k+1 is already queued,
so the device never waits for Python), builds a `StepInfo`, and calls every hook that is due at k,
in the order they were added (Levanter's `add_hook(fn, every=)` is the anchor). Hooks that write
the metrics row (throughput, eval) come before the hooks that publish it (the JSONL line, the
trackers, the progress bar). A hook that needs the parameters (eval, checkpoint) sets
`needs_state`: at its steps the loop syncs at once instead of one step late, and the time it spends
is kept out of the throughput figure.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

Cadence = int | Callable[[int, bool], bool]


class Diverged(Exception):
    """Raised by the divergence hook: the loss at `step` is not finite."""

    def __init__(self, step: int):
        super().__init__(f"loss not finite at step {step}")
        self.step = step


@dataclass
class StepInfo:
    """Step k as the hooks see it; `row` is the metrics line being assembled (empty when no row
    is due at k)."""

    step: int                     # optimizer steps done (k = 1 after the first)
    final: bool                   # the run's last step (or the step it stops at)
    loss: float                   # train loss of step k
    grad_norm: float
    busy_s: float                 # seconds spent so far in state hooks (kept out of throughput)
    state: Any = None             # {"params", "opt_state"} when a state hook is due
    row: dict = field(default_factory=dict)


class HookFn(Protocol):
    def __call__(self, info: StepInfo) -> None: ...


@dataclass
class Hook:
    """`fn(info)` every `every` steps (0: only at the end), or when `every(k, final)` says so."""

    fn: HookFn
    every: Cadence = 1
    at_end: bool = True
    needs_state: bool = False
    name: str = ""

    def due(self, k: int, final: bool) -> bool:
        if callable(self.every):
            return bool(self.every(k, final))
        return (final and self.at_end) or (self.every > 0 and k % self.every == 0)

    def close(self) -> None:
        close = getattr(self.fn, "close", None)
        if close is not None:
            close()


class Hooks:
    """An ordered list of hooks; `run` calls the due ones, `close` closes all (even after a
    failure: every hook's close runs, the first error is raised)."""

    def __init__(self) -> None:
        self.hooks: list[Hook] = []
        self.busy_s = 0.0  # time spent in state hooks (eval, checkpoint), for throughput

    def add(self, fn: HookFn, every: Cadence = 1, *, at_end: bool = True,
            needs_state: bool = False, name: str = "") -> Hook:
        hook = Hook(fn, every, at_end, needs_state, name or type(fn).__name__)
        self.hooks.append(hook)
        return hook

    def needs_state(self, k: int, final: bool) -> bool:
        return any(h.needs_state and h.due(k, final) for h in self.hooks)

    def run(self, info: StepInfo) -> None:
        for h in self.hooks:
            if not h.due(info.step, info.final):
                continue
            if h.needs_state:
                t0 = time.perf_counter()
                h.fn(info)
                self.busy_s += time.perf_counter() - t0
            else:
                h.fn(info)

    def close(self) -> None:
        first: BaseException | None = None
        for h in self.hooks:
            try:
                h.close()
            except Exception as e:  # keep closing the others; report the first
                first = first or e
        if first is not None:
            raise first


class Tracker(Protocol):
    """An experiment tracker: gets every metrics row the JSONL file gets, and the run's config."""

    def log(self, row: dict, step: int) -> None: ...

    def close(self) -> None: ...


class TrackerHook:
    """Publishes the assembled row to one tracker (jsonl, tensorboard, wandb)."""

    def __init__(self, tracker: Tracker):
        self.tracker = tracker

    def __call__(self, info: StepInfo) -> None:
        if info.row:
            self.tracker.log(info.row, info.step)

    def close(self) -> None:
        self.tracker.close()
