"""The plan: one row per point (shape, N, D, C, steps, batch, lr, memory, time, epochs) and the
checks that refuse a sweep before anything runs. Read-only: it takes the grid stage's final
points (scaling/sweep/grid.py) and changes none of them.

Memory and the device are scaling/sweep/device.py's. Time = exact FLOPs
(`ModelConfig.flops_per_token`, the suite's one FLOPs function) / (peak x MFU x devices); the MFU
is assumed (stated in the output) or measured with `--measure` (a few timed steps per shape on the
local device). Refusals (exit 2, nothing written): a point that does not fit, a point with zero
steps, a batch that does not split over the devices, span corruption with too few sentinels.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

from runstore import PF_DAY, InputError, fmt_si
from scaling.budget.memory import fmt_bytes, stored_weight_bytes, training_memory  # noqa: F401 (tests use training_memory here)
from scaling.sweep.config import SweepConfig
from scaling.sweep.device import (  # noqa: F401 (the CLI's names for them)
    DEFAULT_MFU_CPU,
    Device,
    local_device,
    microbatches_for,
    run_memory,
    target_device,
)
from scaling.sweep.point import Point
from scaling.train.sharding import batch_split_problem


@dataclass
class Row:
    point: Point
    memory: float
    fits: bool
    memory_reason: str
    seconds: float | None
    epochs: float | None
    refused: list[str] = field(default_factory=list)
    measured_tokens_per_s: float | None = None


@dataclass
class SweepPlan:
    sweep: SweepConfig
    device: Device
    rows: list[Row]
    corpus_tokens: float | None
    corpus_note: str
    precision: str
    resolved: "object | None" = None  # the data stage's answer (pipeline.py), if known

    @property
    def points(self) -> list[Point]:
        return [r.point for r in self.rows]

    @property
    def refused(self) -> list[Row]:
        return [r for r in self.rows if r.refused]

    def check(self, file: str | None = None) -> None:
        """Raise InputError (exit 2) naming every refused point and why."""
        bad = self.refused
        if not bad:
            return
        lines = [f"point {r.point.index} ({r.point.cfg.objective}, N {r.point.run.n_total:,}, "
                 f"D {r.point.run.tokens:,}, seed {r.point.cfg.seed}): {'; '.join(r.refused)}"
                 for r in bad]
        raise InputError(f"{len(bad)} of {len(self.rows)} points refused before running:\n  "
                          + "\n  ".join(lines), file=file, key="grid",
                          fix="drop or shrink those points, lower the batch size, or plan for "
                              "a larger --device")


# ---- corpus size (for epochs), without building the token cache ----

def corpus_tokens(data_cfg) -> tuple[float | None, str]:
    """Training tokens of the corpus, from the token cache or the source's manifest: a dry run
    never reads the corpus (scaling/data/dataset.py)."""
    from scaling.data.dataset import corpus_tokens as tokens_of
    return tokens_of(data_cfg)


def _span_sentinels_needed(point: Point) -> int:
    """Spans per example for span corruption: the objective's own length rule."""
    from scaling.objectives.span import SpanCorruption
    return SpanCorruption(point.cfg.span).lengths(point.run.model)[2]


# ---- measured throughput ----

def measure_throughput(point: Point, steps: int = 4) -> float:
    """Tokens/s (counted in D) of a few timed train steps of this point's shape on the local
    devices, with the train state a run builds (random tokens stand in for the corpus)."""
    import jax
    import numpy as np

    from scaling.train import sharding

    run = point.run
    mesh = sharding.data_mesh()
    ts, sp = point_train_state(point, mesh)
    params, opt = ts.state["params"], ts.state["opt_state"]
    rng = np.random.default_rng(0)
    win = sharding.put_batch(rng.integers(sp.n_reserved, run.model.vocab_size,
                                          (run.batch_size, run.window), dtype=np.int32), mesh)
    params, opt, m = ts.step_fn(params, opt, win, 0)  # compile
    jax.block_until_ready(m)
    t0 = time.perf_counter()
    for k in range(1, steps + 1):
        params, opt, m = ts.step_fn(params, opt, win, k)
    jax.block_until_ready(m)
    return run.tokens_at(steps) / (time.perf_counter() - t0)


def point_train_state(point: Point, mesh):
    """The train state a run of this point builds (build_train_state), on `mesh`, and the
    reserved ids of a byte tokenizer widened to the point's vocabulary."""
    from scaling.data.tokenizer import ByteTokenizer
    from scaling.objectives.base import Specials
    from scaling.train.state import build_train_state

    run = point.run
    sp = Specials.from_tokenizer(ByteTokenizer(run.cfg.data.n_sentinels))
    sp = Specials(run.model.vocab_size, sp.pad_id, sp.bos_id, sp.eos_id, sp.mask_id,
                  sp.first_sentinel, sp.n_sentinels, sp.n_reserved)
    t = run.cfg.train
    ts = build_train_state(run.model, run.objective(), run.cfg.optim, max(run.steps, 2), sp,
                           run.cfg.seed, microbatches=t.microbatches, fsdp=t.fsdp)
    ts.put(mesh)
    return ts, sp


# ---- memory of a point ----

def point_memory(pt: Point, device: Device, precision: str, microbatches: int):
    """(breakdown, fits, reason) of the point at `microbatches` on the device."""
    return run_memory(pt.run, device, precision, microbatches)


def with_microbatches(pt: Point, k: int) -> Point:
    """The point with k microbatches (its run id changes with k > 1: tests and old callers)."""
    cfg = pt.cfg
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, microbatches=k))
    return dataclasses.replace(pt, run=dataclasses.replace(pt.run, cfg=cfg))


def pick_microbatches(pt: Point, device: Device, precision: str) -> Point:
    """Old callers' second pass: the point with `microbatches_for` its device. The pipeline
    decides microbatches in the grid stage instead (grid.expand(..., device=...)), where a
    trunk and its branches get the same count and so agree on the trunk's run id."""
    k = microbatches_for(pt.run, device, precision)
    return pt if k == pt.cfg.train.microbatches else with_microbatches(pt, k)


def compiled_fit(pt: Point, device: Device) -> tuple[float, bool, str, float | None]:
    """(peak, fits, reason, seconds per step) of the point's step compiled by the target's
    compiler (`--compile-for`); a failed compile does not fit, its reason the compiler's line."""
    from scaling.compile.report import step_seconds

    c = device.compiler.compiled(pt.run)
    if not c.ok:
        return 0.0, False, f"compile failed: {c.result.get('error', '?')}", None
    reason = "" if c.fits else (f"compiled peak {fmt_bytes(c.peak)} per device > "
                                f"{fmt_bytes(c.hbm)} at {c.microbatches} microbatches")
    return float(c.peak), c.fits, reason, step_seconds(c, device.mfu)


# ---- the plan ----

def _refusals(pt: Point, device: Device, ok: bool, reason: str) -> list[str]:
    refused = []
    if not ok:
        refused.append(f"{reason} ({device.memory_source})")
    if pt.run.steps < 1:
        refused.append(f"zero steps: D {pt.tokens_target:,.0f} tokens is less than one "
                       f"batch of {pt.run.batch_size * pt.run.tokens_per_example:,} tokens")
    split = batch_split_problem(pt.run.batch_size, pt.cfg.train.microbatches, device.n_devices)
    if split:
        refused.append(split)
    if pt.cfg.objective == "span":
        need = _span_sentinels_needed(pt)
        if pt.cfg.data.n_sentinels < need:
            refused.append(f"span corruption needs {need} sentinels per example, "
                           f"data.n_sentinels is {pt.cfg.data.n_sentinels}")
    return refused


def plan_points(sweep: SweepConfig, points: list[Point], device: Device, *,
                measure: bool = False, corpus: tuple[float | None, str] | None = None,
                resolved: "object | None" = None) -> SweepPlan:
    """The plan of final points on the device: rows, estimates and refusals; reads the points
    and changes none of them (`corpus`: training tokens for epochs, else looked up)."""
    precision = sweep.run_base.model.dtype
    if corpus is None:
        corpus = corpus_tokens(sweep.run_base.data)
    n_corpus, note = corpus
    measured: dict[tuple, float] = {}
    rows = []
    for pt in points:
        if device.compiler is not None:  # --compile-for: the target compiler's peak and time
            memory, ok, reason, step_s = compiled_fit(pt, device)
        else:
            mem, ok, reason = point_memory(pt, device, precision, pt.cfg.train.microbatches)
            memory, step_s = mem.total, None
        refused = _refusals(pt, device, ok, reason)
        rate = None
        if measure and not refused:
            key = (pt.cfg.objective, pt.run.model, pt.run.batch_size)
            if key not in measured:
                measured[key] = measure_throughput(pt)
            rate = measured[key]
        if rate:
            seconds = pt.run.tokens_at(pt.run.end_step - pt.run.start_step) / rate
        elif step_s:  # the roofline bound at the plan's MFU, per step
            seconds = step_s * (pt.run.end_step - pt.run.start_step)
        elif device.peak:  # a branch: its cooldown only
            seconds = pt.flops_own / (device.peak * device.mfu * device.n_devices)
        else:
            seconds = None
        epochs = pt.run.tokens / n_corpus if n_corpus else None
        rows.append(Row(pt, memory, ok, reason, seconds, epochs, refused, rate))
    return SweepPlan(sweep, device, rows, n_corpus, note, precision, resolved)


def make_plan(sweep: SweepConfig, points: list[Point], device: Device, *, measure: bool = False,
              corpus: tuple[float | None, str] | None = None) -> SweepPlan:
    """Old callers' entry (points expanded without a device): their microbatches for the
    device (`pick_microbatches`), then `plan_points`. The pipeline (scaling/sweep/pipeline.py)
    expands with the device and plans its points as they are."""
    precision = sweep.run_base.model.dtype
    return plan_points(sweep, [pick_microbatches(p, device, precision) for p in points],
                       device, measure=measure, corpus=corpus)


# ---- printing ----

def fmt_time(s: float | None) -> str:
    if s is None:
        return "n/a"
    if s < 90:
        return f"{s:.0f}s"
    if s < 5400:
        return f"{s / 60:.1f}m"
    if s < 2 * 86400:
        return f"{s / 3600:.1f}h"
    return f"{s / 86400:.1f}d"


def _plan_row(r: Row, quant: bool, isoflop: bool) -> list[str]:
    """One point's cells of the dry-run table (format_plan's columns)."""
    p, m = r.point, r.point.run.model
    row = [str(p.index), p.cfg.objective]
    row += [p.precision, fmt_bytes(stored_weight_bytes(m))] if quant else []
    row += [str(p.cfg.seed), str(m.n_layers), str(m.d_model), str(m.n_heads),
            fmt_si(p.run.n_total), fmt_si(p.run.n_nonembedding), fmt_si(p.run.tokens),
            f"{(p.run.tokens / p.run.n_total):.1f}", f"{p.run.flops_6nd:.3g}"]
    row += [f"{p.flops_nominal:.3g}"] if isoflop else []
    row += [f"{p.run.flops:.3g}", str(p.run.steps), str(p.run.batch_size),
            str(p.cfg.train.microbatches), f"{p.cfg.optim.lr:.3g}",
            fmt_bytes(r.memory), "n/a" if r.epochs is None else f"{r.epochs:.2f}",
            fmt_time(r.seconds),
            ("REFUSED: " + "; ".join(r.refused)) if r.refused else
            ("repeats data" if (r.epochs or 0) > 1 else "")]
    return row


def format_plan(plan: SweepPlan) -> str:
    d = plan.device
    isoflop = plan.sweep.grid.axis == "flops"
    quant = any(r.point.run.model.quant is not None for r in plan.rows)
    head = ["#", "obj"] + (["prec", "weights"] if quant else []) + [
        "seed", "L", "d", "H", "N", "N_ne", "D", "D/N", "C=6ND"]
    head += ["C_nom"] if isoflop else []
    head += ["C_exact", "steps", "batch", "mb", "lr", "memory", "epochs", "time", "note"]
    body = [_plan_row(r, quant, isoflop) for r in plan.rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h)
              for i, h in enumerate(head)]
    left = (1, 2) if quant else (1,)
    fmt = lambda cells: "  ".join(c.rjust(w) if i not in (*left, len(cells) - 1) else c.ljust(w)
                                  for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    lines = [f"sweep {plan.sweep.name}: {len(plan.rows)} points, objectives "
             f"{', '.join(plan.sweep.objectives)}, grid {plan.sweep.grid.axis}, "
             f"out {plan.sweep.out_dir}",
             f"device {d.name}: peak {fmt_si(d.peak, 'FLOP/s')} ({plan.precision}; "
             f"{d.peak_source.split(':')[0]}), memory {fmt_bytes(d.memory_bytes)} per device "
             f"({d.memory_source}), MFU {d.mfu:g} {d.mfu_source}",
             f"corpus: {plan.corpus_note}"]
    if plan.resolved is not None:
        lines.append(f"vocabulary: {plan.resolved.vocab_size:,} ids ({plan.resolved.vocab_note})")
    lines += ["", fmt(head), fmt(["-" * w for w in widths])]
    lines += [fmt(b) for b in body]
    tot_c = sum(r.point.run.flops_6nd for r in plan.rows if r.point.is_point)
    tot_x = sum(r.point.run.flops for r in plan.rows if r.point.is_point)
    secs = [r.seconds for r in plan.rows if r.seconds is not None]
    tot_t = sum(secs) if len(secs) == len(plan.rows) else None
    lines += ["", f"total: {len(plan.rows)} points, C = 6ND {tot_c:.3g} FLOPs "
              f"({tot_c / PF_DAY:.3g} PF/s-days), exact {tot_x:.3g} FLOPs, estimated time "
              f"{fmt_time(tot_t)} on {d.name}"
              + (" (measured tokens/s)" if any(r.measured_tokens_per_s for r in plan.rows)
                 else f" at MFU {d.mfu:g}")]
    over = [r for r in plan.rows if (r.epochs or 0) > 1]
    if over:
        lines.append(f"warning: {len(over)} points repeat data (epochs > 1: up to "
                     f"{max(r.epochs for r in over):.1f}); multi-epoch training bends scaling "
                     "laws: use a larger corpus (data.source)")
    if plan.refused:
        lines.append(f"REFUSED: {len(plan.refused)} points cannot run (see the note column)")
    lines.append("columns: N total / N_ne non-embedding parameters; D training tokens; C=6ND "
                 "with total N; C_exact from ModelConfig.flops_per_token (attention counted in "
                 "full, no causal halving); mb microbatches per step (gradient accumulation); "
                 + ("memory for training on one device at the per-device batch"
                    if plan.device.compiler is None else
                    "memory the compiler's peak per device; time its roofline bound at the MFU")
                 + ("; prec the run's model.quant (fake quantisation), weights its weights "
                    "stored at those bits (quantised layers at bits / 8, the rest in the "
                    "compute dtype); fake-quant training holds float32 weights and Adam states, "
                    "so its memory is the full-precision one" if quant else ""))
    return "\n".join(lines)
