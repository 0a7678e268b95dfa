"""The trainer's own hooks: divergence check, metrics row, throughput/MFU, eval, checkpoint,
progress bar (scaling/train/hooks.py says how they are called)."""
from __future__ import annotations

import math
import sys
import time
import warnings
from typing import Callable

from scaling.train.hooks import Diverged, StepInfo
from scaling.train.record import RunRecord


def check_divergence(info: StepInfo) -> None:
    """A NaN or Inf train loss stops the run as diverged at that step."""
    if not math.isfinite(info.loss):
        raise Diverged(info.step)


class MetricsRow:
    """Starts the row: step, D so far, exact FLOPs so far, the step's lr, loss, grad norm."""

    def __init__(self, record: RunRecord, lr_at: Callable[[int], float]):
        self.record, self.lr_at = record, lr_at

    def __call__(self, info: StepInfo) -> None:
        k = info.step
        info.row.update(step=k, tokens=self.record.tokens_at(k), flops=self.record.flops_at(k),
                        lr=self.lr_at(k - 1), train_loss=info.loss, grad_norm=info.grad_norm)


class Throughput:
    """tokens/s (tokens counted in D) and MFU since the previous row, without the time that
    eval and checkpoints took; MFU is null when the hardware peak is unknown."""

    def __init__(self, record: RunRecord, start: int, peak: float | None, peak_source: str):
        self.record, self.peak, self.peak_source = record, peak, peak_source
        self.t, self.k, self.busy = time.perf_counter(), start, 0.0
        self.warned = False

    def __call__(self, info: StepInfo) -> None:
        now = time.perf_counter()
        seconds = max(now - self.t - (info.busy_s - self.busy), 1e-9)
        ex_s = (info.step - self.k) * self.record.batch_size / seconds
        self.t, self.k, self.busy = now, info.step, info.busy_s
        mfu = ex_s * self.record.flops_per_example / self.peak if self.peak else None
        info.row.update(tokens_per_s=ex_s * self.record.tokens_per_example, mfu=mfu)
        if mfu is not None and mfu > 1 and not self.warned:
            self.warned = True
            warnings.warn(f"MFU {mfu:.0%} > 100%: the peak ({self.peak_source}) is too low; on "
                          "CPU it was likely measured under load (delete "
                          "$SCALING_CACHE/cpu_peak.json to measure again)", stacklevel=2)


class Evaluate:
    """Validation loss and bits per byte on the fixed validation windows; `last` keeps the
    latest (the summary's final numbers)."""

    def __init__(self, evaluate_fn: Callable[[dict], dict]):
        self.evaluate_fn = evaluate_fn
        self.last: dict | None = None

    def __call__(self, info: StepInfo) -> None:
        self.last = self.evaluate_fn(info.state["params"])
        info.row.update(self.last)


class Checkpoint:
    """An orbax checkpoint of (params, opt_state) with the step and run id."""

    def __init__(self, checkpointer, run_id: str):
        self.checkpointer, self.run_id = checkpointer, run_id

    def __call__(self, info: StepInfo) -> None:
        self.checkpointer.save(info.step, info.state, {"step": info.step, "run_id": self.run_id})

    def close(self) -> None:
        self.checkpointer.close()


class Progress:
    """A tqdm bar on stderr: one tick per step, loss / tokens/s / MFU at each row."""

    def __init__(self, total: int, start: int, desc: str):
        from tqdm import tqdm
        self.bar = tqdm(total=total, initial=start, desc=desc[:40], unit="step",
                        dynamic_ncols=True, file=sys.stderr, mininterval=0.5)

    def __call__(self, info: StepInfo) -> None:
        self.bar.update(1)
        r = info.row
        if "tokens_per_s" in r:
            mfu = r.get("mfu")
            self.bar.set_postfix(loss=f"{info.loss:.3f}", tok_s=f"{r['tokens_per_s']:.0f}",
                                 mfu=f"{mfu:.1%}" if mfu else "n/a")

    def close(self) -> None:
        self.bar.close()
