"""`compile_points(points, target)`: every distinct step of a sweep compiled for a target, with
the compiler's memory beside the calculator's, its FLOPs beside the suite's, and a roofline.

Points that share a step (objective, model, batch, window, microbatches, FSDP) compile once.
Where a point's file leaves train.microbatches at 1, the fewest microbatches (dividing the
per-device batch) whose compiled peak fits the target's HBM with no matmul recomputed by the
compiler's own rematerialization are picked by compiling (`pick`), the way the planner picks them
by the calculator; where every count that fits recomputes, the fewest that fit. A count the file
sets is kept. A compile that fails is a result with one line of error, never a traceback.

On GPU targets the calculator's estimate is capped at XLA:GPU's rematerialization limit
(`scaling.budget.memory.xla_gpu_remat_limit`): above it the compiler recomputes until its step
fits under it, and the recomputed FLOPs (`scaling.compile.hlo`) are added to the roofline.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from scaling.compile import cache
from scaling.compile.roofline import Roofline, roofline
from scaling.compile.targets import Target, resolve_target
from scaling.train.record import RunRecord


@dataclass(frozen=True)
class CompiledPoint:
    """One distinct step of a sweep, compiled for a target (per device throughout)."""

    indices: tuple[int, ...]     # the sweep's points that share this step
    label: str
    target: Target
    run: RunRecord               # as compiled (microbatches as picked)
    result: dict                 # compile_step's: ok/error, memory, cost, seconds, attention
    estimate: int                # the calculator's total (scaling/budget/memory.py)
    n_devices: int
    cached: bool
    uncapped: int = 0            # GPU: the calculator's total above XLA's remat limit, else 0

    @property
    def ok(self) -> bool:
        return bool(self.result.get("ok"))

    @property
    def peak(self) -> int | None:
        return self.result.get("peak")

    @property
    def hbm(self) -> float:
        """Per device (a TPU v4 chip's two cores, where listed as two devices, share its HBM)."""
        return self.target.hardware.memory_bytes * self.target.chips / self.n_devices

    @property
    def fits(self) -> bool:
        return self.ok and self.peak <= self.hbm

    @property
    def calc_ratio(self) -> float | None:
        """Calculator / compiler peak."""
        return self.estimate / self.peak if self.ok and self.peak else None

    @property
    def microbatches(self) -> int:
        return self.run.cfg.train.microbatches

    @property
    def recomputed(self) -> dict:
        """What the compiler's rematerialization recomputes per step, per device: {"ops",
        "flops", "bytes"} (scaling/compile/hlo.py; empty where not read)."""
        return self.result.get("remat") or {}

    @property
    def recomputed_flops(self) -> float:
        return float(self.recomputed.get("flops") or 0.0)

    @property
    def suite_flops(self) -> float:
        """The suite's exact training FLOPs of one step, per device."""
        return self.run.flops_at(1) / self.n_devices

    @property
    def kernel_flops(self) -> float:
        """Per device, the attention FLOPs run inside kernels the compiler cannot count (Pallas
        splash, cuDNN): XLA's cost analysis sees no FLOPs in a custom call."""
        return hidden_attention_flops(self.run, self.result.get("attention", {})) / self.n_devices

    @property
    def flops_ratio(self) -> float | None:
        """Compiler FLOPs / the suite's, both without what kernels hide from the compiler."""
        f = self.result.get("flops")
        visible = self.suite_flops - self.kernel_flops
        return f / visible if f and visible > 0 else None

    def roofline(self) -> Roofline:
        hw = self.target.hardware
        chips_per_device = self.target.chips / self.n_devices  # v4 lists 2 cores per chip
        peak = hw.peak(_peak_column(self.run.model.dtype, hw))
        peak = peak * chips_per_device if peak else None
        bw = hw.hbm_bandwidth * chips_per_device if hw.hbm_bandwidth else None
        flops = self.result.get("flops")
        flops = flops + self.kernel_flops if flops else None  # the kernels' work is still work
        # the compiler's count holds its recomputation; the suite's must be given it
        suite = self.suite_flops + self.recomputed_flops
        return roofline(flops, self.result.get("bytes_accessed"), suite, peak, bw)


def _peak_column(dtype: str, hw) -> str:
    if dtype in ("bfloat16", "float16"):
        return "bf16" if dtype == "bfloat16" else "fp16"
    return hw.fp32_default


def hidden_attention_flops(run: RunRecord, attention: dict) -> float:
    """Training FLOPs of one step in the attentions that ran as kernels (suite convention: QK and
    AV counted in full, 3 x forward: 12 x d x T_q x T_kv per layer per example)."""
    m = run.model
    Te, Td = m.seq_len, m.decoder_len
    lengths = {"self (causal)": Te * Te, "self (bidirectional)": Te * Te,
               "encoder self": Te * Te, "decoder self (causal)": Td * Td, "cross": Td * Te}
    pairs = sum(lengths[k] for k, (impl, _) in attention.items() if impl in ("splash", "cudnn"))
    return 12.0 * m.n_layers * m.d_model * pairs * run.batch_size


def with_microbatches(run: RunRecord, k: int) -> RunRecord:
    cfg = run.cfg
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, microbatches=k))
    return dataclasses.replace(run, cfg=cfg)


def compile_run(run: RunRecord, target: Target, *, use_cache: bool = True) -> tuple[dict, bool]:
    """(compile_step's result, whether it came from the cache) for the run's step on target."""
    from scaling.compile.mesh import CompilerMissing, target_mesh
    from scaling.compile.program import compile_step

    key = cache.program_key(run, target)
    hit = cache.load(key) if use_cache else None
    if hit is not None:
        return hit, True
    try:
        mesh = target_mesh(target)
    except CompilerMissing:
        raise
    except Exception as e:  # noqa: BLE001 - the topology itself was refused
        return {"ok": False, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}",
                "compile_s": 0.0}, False
    result = compile_step(run, mesh, target.platform)
    result.update(target=target.name, devices=int(mesh.devices.size), key=key,
                  at=time.strftime("%Y-%m-%dT%H:%M:%S"))
    if result["ok"]:  # failures are not cached: a busy libtpu lockfile is not the program's
        cache.store(key, result)
    return result, False


def _estimate(run: RunRecord, n_devices: int, attention: dict, target: Target) -> tuple[int, int]:
    """(estimate, uncapped) for the step as compiled: the calculator's total, flash-aware where
    every attention ran as a kernel; on GPU at most XLA's rematerialization limit (uncapped: the
    total it replaced, else 0)."""
    from scaling.budget.memory import training_memory, xla_gpu_remat_limit

    t, m = run.cfg.train, run.model
    per_device = max(1, run.batch_size // n_devices)
    flash = bool(attention) and all(i in ("splash", "cudnn") for i, _ in attention.values())
    est = training_memory(m, per_device, m.dtype, microbatches=t.microbatches, remat=m.remat,
                          shards=n_devices if t.fsdp else 1, flash=flash)
    if target.device_memory:  # a GPU target's config
        limit = xla_gpu_remat_limit(target.device_memory,
                                    (est.states - est.gradients) // est.shards)
        if est.total > limit:
            return limit, est.total
    return est.total, 0


def label(run: RunRecord) -> str:
    m, t = run.model, run.cfg.train
    return (f"{run.cfg.objective} d{m.d_model} L{m.n_layers} T{m.seq_len} B{run.batch_size} "
            f"mb{t.microbatches} remat {m.remat}{' fsdp' if t.fsdp else ''}"
            f"{' scan' if m.scan_layers else ''}")


def step_key(run: RunRecord) -> tuple:
    """What makes two points the same compiled step (their length and seed only change the
    schedule's constants, not the program's shapes or memory)."""
    t = run.cfg.train
    return (run.cfg.objective, run.model, run.batch_size, run.window, t.microbatches, t.fsdp)


def compile_one(run: RunRecord, target: Target | str, *, fit: bool = True,
                use_cache: bool = True, indices: tuple[int, ...] = ()) -> CompiledPoint:
    """The run's step compiled for target; with `fit`, at the fewest microbatches that fit."""
    from scaling.compile.mesh import target_devices

    target = resolve_target(target) if isinstance(target, str) else target
    ks = [run.cfg.train.microbatches]
    if fit and run.cfg.train.microbatches == 1:
        ks = microbatch_counts(run, target_devices(target))

    def at(k: int) -> CompiledPoint:
        r = run if k == run.cfg.train.microbatches else with_microbatches(run, k)
        result, cached = compile_run(r, target, use_cache=use_cache)
        n = int(result.get("devices") or target.chips)
        est, uncapped = _estimate(r, n, result.get("attention") or {}, target)
        return CompiledPoint(indices, label(r), target, r, result, est, n, cached, uncapped)

    return pick(ks, at)


def microbatch_counts(run: RunRecord, n_devices: int) -> list[int]:
    """The counts a search tries: the divisors of the per-device batch, fewest first."""
    per = max(1, run.batch_size // n_devices)
    return [k for k in range(1, per + 1) if per % k == 0]


def pick(ks, at) -> CompiledPoint:
    """Walk the counts `ks` (fewest first), compiling each with `at(k)`: the first whose step
    fits with no matmul recomputed by the compiler (its rematerialization costs FLOPs that a
    microbatch more does not); else the first that fits; a failed compile ends the walk (it is
    the answer unless a fit came before); when none fits, the last."""
    fallback = last = None
    for k in ks:
        last = c = at(k)
        if not c.ok:
            return fallback or c
        if c.fits and not c.recomputed_flops:
            return c
        if c.fits and fallback is None:
            fallback = c
    return fallback or last


def compile_points(points, target: Target | str, *, fit: bool = True,
                   use_cache: bool = True) -> list[CompiledPoint]:
    """Every distinct step of `points` (scaling.sweep.grid.Point) compiled for `target`."""
    target = resolve_target(target) if isinstance(target, str) else target
    groups: dict[tuple, list] = {}
    for p in points:
        groups.setdefault(step_key(p.run), []).append(p)
    return [compile_one(pts[0].run, target, fit=fit, use_cache=use_cache,
                        indices=tuple(p.index for p in pts)) for pts in groups.values()]
