"""What a sweep is planned for, and what fits on it.

A `Device` is the local one (on CPU: the RAM available now) or, with `--device NAME`, an entry of
scaling/hardware.py's table, so that a GPU sweep can be planned from a laptop. Memory comes from
scaling/budget/memory.py (`fits`) for the per-device batch (data parallel: parameters and
optimizer states replicated unless train.fsdp, the batch split over devices).

`microbatches_for` is the one place that decides a point's gradient accumulation: the grid stage
calls it while it builds each point (scaling/sweep/grid.py), because a count > 1 is part of the
run's identity; the planner only reads the result.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from scaling.budget.compute import DEFAULT_MFU_ACCEL
from scaling.budget.memory import fits, training_memory
from scaling.train.record import RunRecord

#: Assumed MFU on CPU when not measured: measured here on tiny models (d 32-128) with the suite's
#: train loop (accelerators: DEFAULT_MFU_ACCEL of scaling/budget/compute.py).
DEFAULT_MFU_CPU = 0.15


@dataclass(frozen=True)
class Device:
    """What a plan is made for."""

    name: str
    peak: float | None         # FLOP/s per device at the model's dtype
    peak_source: str
    memory_bytes: float        # per device
    memory_source: str
    n_devices: int
    mfu: float
    mfu_source: str
    is_local: bool = True
    remat_saves: bool = True   # XLA:CPU was measured to save nothing from remat (memory.py)
    #: --compile-for: the target's compiler (scaling/compile/session.py CompileSession), which
    #: then decides microbatches, memory, refusals and time in place of the calculator
    compiler: object | None = field(default=None, compare=False, repr=False)


def local_device(dtype: str, mfu: float | None = None) -> Device:
    """The devices of this process (after jax.distributed is initialised, in a multi-process
    job: this asks JAX for its devices)."""
    import jax

    from scaling.hardware import local_memory, peak_flops

    dev = jax.devices()[0]
    p = peak_flops(dtype, dev)
    n = jax.device_count()
    mem, msrc = local_memory(dev)
    cpu = dev.platform == "cpu"
    n_eff = 1 if cpu else n  # forced host devices share one RAM and one set of cores
    default = DEFAULT_MFU_CPU if cpu else DEFAULT_MFU_ACCEL
    return Device(name=f"{dev.device_kind} x{n}", peak=p.flops, peak_source=p.source,
                  memory_bytes=mem, memory_source=msrc, n_devices=n_eff,
                  mfu=mfu or default,
                  mfu_source="given (--mfu)" if mfu else f"assumed {default:g} ({dev.platform})",
                  remat_saves=dev.platform != "cpu")


def target_device(name: str, dtype: str, n_devices: int = 1, mfu: float | None = None) -> Device:
    """An accelerator of the hardware table (planning only: nothing runs on it here)."""
    from scaling.hardware import accelerator_peak, resolve

    acc = resolve(name)
    p = accelerator_peak(acc, dtype)
    return Device(name=f"{acc.name} x{n_devices}", peak=p.flops, peak_source=p.source,
                  memory_bytes=acc.memory_bytes, memory_source=f"{acc.name} (hardware table)",
                  n_devices=n_devices, mfu=mfu or DEFAULT_MFU_ACCEL,
                  mfu_source="given (--mfu)" if mfu else f"assumed {DEFAULT_MFU_ACCEL:g}",
                  is_local=False)


def compile_target_device(name: str, dtype: str, mfu: float | None = None) -> Device:
    """`--compile-for NAME`: the target's devices, planned by its own compiler (one InputError
    line when the name is unknown or the compiler is not installed)."""
    from runstore import InputError
    from scaling.budget.memory import fmt_bytes
    from scaling.compile.mesh import CompilerMissing
    from scaling.compile.session import CompileSession
    from scaling.hardware import accelerator_peak

    try:
        session = CompileSession(name)
    except CompilerMissing as e:
        tpu = "TPU" in str(e)
        raise InputError(str(e).split(":")[0], key="--compile-for",
                         fix="pip install -e '.[tpu]'" if tpu else
                         "build the GPU venv (scripts/gpu_venv.sh) and run from it") from None
    except (RuntimeError, NotImplementedError, ValueError) as e:  # the compiler would not start
        if isinstance(e, InputError):
            raise
        raise InputError(f"{name}'s compiler did not start: {type(e).__name__}: "
                         f"{str(e).splitlines()[0][:200]}", key="--compile-for",
                         fix="GPU: run with CUDA_VISIBLE_DEVICES=-1 "
                             "JAX_SKIP_CUDA_CONSTRAINTS_CHECK=1 from the GPU venv") from None
    t, n = session.target, session.n_devices
    acc = t.hardware
    p = accelerator_peak(acc, dtype)
    per_device = t.chips / n  # a v4 chip's two cores are two devices
    return Device(name=f"{t.name} ({acc.name} x{t.chips})",
                  peak=p.flops * per_device if p.flops else None, peak_source=p.source,
                  memory_bytes=acc.memory_bytes * per_device,
                  memory_source=f"{t.name}'s compiler, {acc.name} HBM "
                                f"{fmt_bytes(acc.memory_bytes * per_device)}",
                  n_devices=n, mfu=mfu or DEFAULT_MFU_ACCEL,
                  mfu_source="given (--mfu)" if mfu else f"assumed {DEFAULT_MFU_ACCEL:g}",
                  is_local=False, compiler=session)


def run_memory(run: RunRecord, device: Device, precision: str, microbatches: int):
    """(breakdown, fits, reason) of the run at `microbatches` on the device."""
    t, m = run.cfg.train, run.model
    per_device = max(1, run.batch_size // device.n_devices)
    remat = m.remat if device.remat_saves else "none"
    kw = dict(microbatches=microbatches, remat=remat)
    mem = training_memory(m, per_device, precision, shards=device.n_devices if t.fsdp else 1,
                          **kw)
    ok, reason = fits(m, per_device, precision, device.memory_bytes, device.n_devices,
                      sharded=t.fsdp, **kw)
    return mem, ok, reason


def microbatches_for(run: RunRecord, device: Device, precision: str) -> int:
    """The run's microbatches on the device: the file's train.microbatches when it sets one
    (> 1), else the fewest (dividing the per-device batch) that fit the device's memory; 1 when
    none fits (the planner then refuses the point with the reason at one microbatch). A count
    > 1 is part of the run's identity (its numbers differ in rounding), so pin it in the sweep
    file (base.train.microbatches) when the same sweep must give the same run ids on devices of
    different memory."""
    if device.compiler is not None:  # --compile-for: by the compiled peak
        return device.compiler.microbatches(run)
    k = run.cfg.train.microbatches
    if k > 1 or run_memory(run, device, precision, 1)[1]:
        return k
    per_device = max(1, run.batch_size // device.n_devices)
    for k in range(2, per_device + 1):
        if per_device % k == 0 and run_memory(run, device, precision, k)[1]:
            return k
    return 1
