"""Accelerator peaks and memory, keyed by `jax.devices()[0].device_kind`; on CPU, a measured peak.

Peaks are DENSE (NVIDIA's datasheets print tensor-core figures "with sparsity", twice the dense
rate; those are halved here). Memory is the vendor's stated capacity in the vendor's unit: NVIDIA
"80 GB" as 80e9 bytes (the HBM holds 80 GiB, but the CUDA context and runtime take some of it, so
the decimal figure is a fair usable bound), Google's "32 GiB" as 32 * 2**30. Note that JAX on GPU
preallocates 75% of the memory by default (XLA_PYTHON_CLIENT_MEM_FRACTION).

`peak_flops("float32")` returns the rate at which JAX runs float32 matmuls *by default*: JAX's
default matmul precision uses TF32 tensor cores on Ampere and newer GPUs and one bfloat16 pass on
TPU (docs.jax.dev, "Matmul precision"), so the true-fp32 (non-tensor) peak would make MFU exceed
1. With `jax_default_matmul_precision` set to "highest"/"float32" the true fp32 peak is used.

On CPU there is no datasheet figure to trust, so the peak is measured: the sustained throughput of
a jitted float32 square matmul, cached per machine (CPU model, cores, jax version) in
`$SCALING_CACHE/cpu_peak.json` (default `~/.cache/scaling/`). Unknown accelerators get
`flops=None`: MFU is then reported as null, never invented.

HBM bandwidths (bytes/s, the vendor's decimal GB/s and TB/s) feed the compiled dry run's roofline
(scaling/compile/roofline.py); each entry's `bandwidth_source` names the page.
"""
from __future__ import annotations

import json
import os
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runstore import InputError, atomic_write_json, cache_dir
from scaling.precision import canonical_precision

GiB = 2**30
GB = 10**9

_NV_DATASHEET = "https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet"


@dataclass(frozen=True)
class Accelerator:
    """One accelerator model: dense peak FLOP/s per precision and memory per device."""

    name: str
    kinds: tuple[str, ...]  # exact jax device_kind strings (compared case-insensitively)
    pattern: str  # regex fallback on the lower-cased device_kind, for variants not listed
    bf16: float | None
    fp16: float | None
    fp32: float | None  # true float32 (CUDA cores / no tensor cores)
    tf32: float | None
    memory_bytes: int
    fp32_default: str  # which column JAX's default float32 matmul precision runs at
    source: str
    hbm_bandwidth: float | None = None  # bytes/s per device: the roofline's memory bound
    bandwidth_source: str = ""

    def peak(self, column: str) -> float | None:
        return getattr(self, column)


ACCELERATORS: dict[str, Accelerator] = {a.name: a for a in (
    Accelerator("V100 SXM2", ("Tesla V100-SXM2-16GB", "Tesla V100-SXM2-32GB"), r"v100.*sxm",
                bf16=None, fp16=125e12, fp32=15.7e12, tf32=None, memory_bytes=32 * GB,
                fp32_default="fp32",
                source="NVIDIA Tesla V100 datasheet (volta-v100-datasheet-update-us-1165301-r5): "
                       "SXM2 125 TFLOPS tensor fp16, 15.7 TFLOPS fp32, 16/32 GB HBM2 (32 GB "
                       "assumed); Volta has no bf16",
                hbm_bandwidth=900e9, bandwidth_source="V100 datasheet: 900 GB/s HBM2"),
    Accelerator("V100 PCIe", ("Tesla V100-PCIE-16GB", "Tesla V100-PCIE-32GB"), r"v100",
                bf16=None, fp16=112e12, fp32=14e12, tf32=None, memory_bytes=32 * GB,
                fp32_default="fp32",
                source="NVIDIA Tesla V100 datasheet: PCIe 112 TFLOPS tensor fp16, 14 TFLOPS fp32, "
                       "16/32 GB HBM2 (32 GB assumed); Volta has no bf16",
                hbm_bandwidth=900e9, bandwidth_source="V100 datasheet: 900 GB/s HBM2"),
    Accelerator("A100 40GB", ("NVIDIA A100-SXM4-40GB", "NVIDIA A100-PCIE-40GB"), r"a100.*40",
                bf16=312e12, fp16=312e12, fp32=19.5e12, tf32=156e12, memory_bytes=40 * GB,
                fp32_default="tf32",
                source="NVIDIA A100 datasheet (nvidia-a100-datasheet-us-nvidia-1758950-r4): 312 "
                       "TFLOPS bf16/fp16 and 156 TFLOPS tf32 dense (624/312 with sparsity), 19.5 "
                       "TFLOPS fp32, 40 GB HBM2",
                hbm_bandwidth=1555e9,
                bandwidth_source="A100 datasheet: 1,555 GB/s HBM2 (40 GB SXM)"),
    Accelerator("A100 80GB", ("NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB PCIe"), r"a100",
                bf16=312e12, fp16=312e12, fp32=19.5e12, tf32=156e12, memory_bytes=80 * GB,
                fp32_default="tf32",
                source="NVIDIA A100 datasheet (nvidia-a100-datasheet-us-nvidia-1758950-r4): 312 "
                       "TFLOPS bf16/fp16 and 156 TFLOPS tf32 dense, 19.5 TFLOPS fp32, 80 GB HBM2e",
                hbm_bandwidth=2039e9,
                bandwidth_source="A100 datasheet: 2,039 GB/s HBM2e (80 GB SXM)"),
    Accelerator("H100 SXM", ("NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM5 80GB"), r"h100.*(hbm3|sxm)",
                bf16=989e12, fp16=989e12, fp32=67e12, tf32=494.5e12, memory_bytes=80 * GB,
                fp32_default="tf32",
                source=f"NVIDIA H100 datasheet ({_NV_DATASHEET}): SXM 1,979 TFLOPS bf16/fp16 and "
                       "989 TFLOPS tf32 with sparsity (dense: half), 67 TFLOPS fp32, 80 GB HBM3",
                hbm_bandwidth=3.35e12, bandwidth_source="H100 datasheet: 3.35 TB/s HBM3 (SXM)"),
    Accelerator("H100 PCIe", ("NVIDIA H100 PCIe",), r"h100",
                bf16=756.5e12, fp16=756.5e12, fp32=51e12, tf32=378e12, memory_bytes=80 * GB,
                fp32_default="tf32",
                source=f"NVIDIA H100 datasheet ({_NV_DATASHEET}): PCIe 1,513 TFLOPS bf16/fp16 and "
                       "756 TFLOPS tf32 with sparsity (dense: half), 51 TFLOPS fp32, 80 GB HBM2e",
                hbm_bandwidth=2.0e12, bandwidth_source="H100 datasheet: 2 TB/s HBM2e (PCIe)"),
    Accelerator("H200", ("NVIDIA H200",), r"h200",
                bf16=989e12, fp16=989e12, fp32=67e12, tf32=494.5e12, memory_bytes=141 * GB,
                fp32_default="tf32",
                source="NVIDIA H200 datasheet (nvidia.com/en-us/data-center/h200): SXM 1,979 "
                       "TFLOPS bf16/fp16 and 989 TFLOPS tf32 with sparsity (dense: half), "
                       "67 TFLOPS fp32, 141 GB HBM3e",
                hbm_bandwidth=4.8e12, bandwidth_source="H200 datasheet: 4.8 TB/s HBM3e"),
    Accelerator("TPU v4", ("TPU v4",), r"^tpu v4$",
                bf16=275e12, fp16=None, fp32=None, tf32=None, memory_bytes=32 * GiB,
                fp32_default="bf16",
                source="Google Cloud TPU v4 docs (cloud.google.com/tpu/docs/v4): 275 TFLOPS bf16 "
                       "per chip, 32 GiB HBM2; no fp32 matmul peak is published",
                hbm_bandwidth=1228e9,
                bandwidth_source="Cloud TPU v4 docs (as above): 1,228 GB/s HBM"),
    Accelerator("TPU v5e", ("TPU v5 lite", "TPU v5e"), r"tpu v5.?(lite|e)",
                bf16=197e12, fp16=None, fp32=None, tf32=None, memory_bytes=16 * GiB,
                fp32_default="bf16",
                source="Google Cloud TPU v5e docs (cloud.google.com/tpu/docs/v5e): 197 TFLOPS bf16 "
                       "(394 TOPS int8) per chip, 16 GiB HBM2; no fp32 matmul peak is published",
                hbm_bandwidth=819e9,
                bandwidth_source="Cloud TPU v5e docs (as above): 819 GB/s HBM"),
    Accelerator("TPU v5p", ("TPU v5p", "TPU v5"), r"tpu v5p?$",
                bf16=459e12, fp16=None, fp32=None, tf32=None, memory_bytes=95 * GiB,
                fp32_default="bf16",
                source="Google Cloud TPU v5p docs (cloud.google.com/tpu/docs/v5p): 459 TFLOPS bf16 "
                       "per chip, 95 GiB HBM2e; no fp32 matmul peak is published",
                hbm_bandwidth=2765e9,
                bandwidth_source="Cloud TPU v5p docs (as above): 2,765 GB/s HBM"),
    Accelerator("TPU v6e", ("TPU v6 lite", "TPU v6e"), r"tpu v6.?(lite|e)",
                bf16=918e12, fp16=None, fp32=None, tf32=None, memory_bytes=32 * GiB,
                fp32_default="bf16",
                source="Google Cloud TPU v6e (Trillium) docs (cloud.google.com/tpu/docs/v6e): 918 "
                       "TFLOPS bf16 per chip, 32 GB HBM; no fp32 matmul peak is published",
                hbm_bandwidth=1640e9,
                bandwidth_source="Cloud TPU v6e docs (cloud.google.com/tpu/docs/v6e): 1,640 GB/s "
                                 "HBM"),
)}

#: CLI names -> table entries.
ALIASES: dict[str, str] = {
    "v100": "V100 SXM2", "v100-pcie": "V100 PCIe",
    "a100": "A100 80GB", "a100-40gb": "A100 40GB", "a100-80gb": "A100 80GB",
    "h100": "H100 SXM", "h100-sxm": "H100 SXM", "h100-pcie": "H100 PCIe",
    "h200": "H200",
    "tpu-v4": "TPU v4", "tpu-v5e": "TPU v5e", "tpu-v5p": "TPU v5p", "tpu-v6e": "TPU v6e",
}

#: The peak table's column for each precision (names and aliases: budget/memory.py's table).
_COLUMNS = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16", "tf32": "tf32"}


@dataclass(frozen=True)
class Peak:
    """A peak FLOP/s for one device and dtype, and where the number comes from."""

    flops: float | None  # None when unknown: MFU is then null
    dtype: str
    device_kind: str
    source: str
    measured: bool


def lookup(device_kind: str) -> Accelerator | None:
    """The table entry for a jax device_kind string, or None if unknown."""
    low = device_kind.strip().lower()
    for acc in ACCELERATORS.values():
        if low in (k.lower() for k in acc.kinds):
            return acc
    for acc in ACCELERATORS.values():
        if re.search(acc.pattern, low):
            return acc
    return None


def resolve(name: str) -> Accelerator:
    """A CLI name (`h100`, `tpu-v5e`, ...), a table name or a device_kind -> its entry."""
    key = name.strip().lower()
    if key in ALIASES:
        return ACCELERATORS[ALIASES[key]]
    for acc in ACCELERATORS.values():
        if acc.name.lower() == key:
            return acc
    acc = lookup(name)
    if acc is None:
        raise InputError(f"unknown GPU/accelerator '{name}'", key="--gpu",
                         fix=f"use one of {', '.join(ALIASES)}")
    return acc


def _column(dtype: str) -> str:
    if dtype.lower() in ("tf32", "tensorfloat32"):
        return "tf32"
    try:
        col = _COLUMNS.get(canonical_precision(dtype))
    except InputError:
        col = None
    if col is None:
        raise ValueError(f"unknown dtype '{dtype}'; use one of {', '.join(_COLUMNS)}")
    return col


def _fp32_column(acc: Accelerator) -> str:
    import jax  # lazily: the table itself must not need jax

    prec = str(jax.config.jax_default_matmul_precision or "").lower()
    if prec in ("highest", "float32", "f32_f32_f32"):
        return "fp32"
    return acc.fp32_default


def accelerator_peak(acc: Accelerator, dtype: str = "float32", *,
                     fp32_column: str | None = None) -> Peak:
    """Peak of a table entry for `dtype`; float32 means JAX's default matmul precision."""
    col = _column(dtype)
    note = ""
    if col == "fp32":
        col = fp32_column or acc.fp32_default
        if col != "fp32":
            note = (f"; float32 matmuls run as {col} under JAX's default matmul precision "
                    f"(docs.jax.dev 'Matmul precision'), so the {col} peak applies")
    flops = acc.peak(col)
    if flops is None:
        note += f"; no {col} peak for {acc.name} (MFU reported as null)"
    return Peak(flops, dtype, acc.kinds[0], f"{acc.name}: {acc.source}{note}", measured=False)


def peak_flops(dtype: str = "float32", device: Any = None) -> Peak:
    """Peak FLOP/s of `device` (default `jax.devices()[0]`) for `dtype`.

    GPU/TPU: dense datasheet peak from the table. CPU: measured fp32 matmul throughput (cached);
    XLA:CPU runs bf16 matmuls no faster, so the same figure is returned for every dtype.
    Unknown accelerator: flops=None with a source saying so.
    """
    import jax

    device = device if device is not None else jax.devices()[0]
    kind = str(device.device_kind)
    if device.platform == "cpu":
        flops, src = cpu_peak()
        return Peak(flops, dtype, kind, src, measured=True)
    acc = lookup(kind)
    if acc is None:
        return Peak(None, dtype, kind, f"device_kind '{kind}' is not in scaling/hardware.py's "
                    "table: no peak known, MFU reported as null", measured=False)
    peak = accelerator_peak(acc, dtype, fp32_column=_fp32_column(acc) if _column(dtype) == "fp32"
                            else None)
    exact = kind.strip().lower() in (k.lower() for k in acc.kinds)
    src = peak.source if exact else f"{peak.source} (device_kind '{kind}' matched by family)"
    return Peak(peak.flops, dtype, kind, src, measured=False)


def device_memory_bytes(device: Any = None) -> int | None:
    """Memory per device from the table (None on CPU or for an unknown accelerator)."""
    import jax

    device = device if device is not None else jax.devices()[0]
    acc = None if device.platform == "cpu" else lookup(str(device.device_kind))
    return acc.memory_bytes if acc else None


def _available_ram() -> tuple[float, str]:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return (int(line.split()[1]) * 1024.0,
                            "available RAM (/proc/meminfo MemAvailable)")
    except OSError:
        pass
    try:
        return (os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"),
                "available RAM (sysconf)")
    except (ValueError, OSError, AttributeError):
        return 8e9, "RAM unknown: 8 GB assumed"


def local_memory(device: Any = None) -> tuple[float, str]:
    """(bytes per device, where the number comes from) for a device of this process: on CPU
    the RAM available now (forced host devices share it), else the hardware table, else the
    runtime's own bytes_limit."""
    import jax

    dev = device if device is not None else jax.devices()[0]
    if dev.platform == "cpu":
        return _available_ram()
    mem = device_memory_bytes(dev)
    if mem is not None:
        return float(mem), f"{dev.device_kind} (hardware table)"
    stats = getattr(dev, "memory_stats", lambda: None)() or {}
    return float(stats.get("bytes_limit", 16e9)), f"{dev.device_kind}: memory_stats bytes_limit"


# ---- CPU: measured peak -----------------------------------------------------------------------

def cache_path() -> Path:
    """Where the measured CPU peak is cached: $SCALING_CACHE/cpu_peak.json or ~/.cache/scaling/."""
    return cache_dir() / "cpu_peak.json"


def cpu_key() -> str:
    """Identity of this machine for the cache: CPU model, usable cores, jax version."""
    import jax

    model = "unknown-cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return f"{model} | {cores} cores | jax {jax.__version__}"


def measure_cpu_matmul(sizes: tuple[int, ...] = (512, 1024), reps: int = 3,
                       round_s: float = 0.3) -> float:
    """Sustained fp32 jitted square-matmul FLOP/s: best over sizes of the median round.

    Rounds of back-to-back calls (not one call) so that the figure is sustained throughput, as in
    the peer benchmark's matmul_peak.py (docs/performance.md), but short: about 3 s in all with the defaults.
    """
    import jax
    import jax.numpy as jnp

    mm = jax.jit(lambda x, y: x @ y)
    best = 0.0
    for n in sizes:
        ka, kb = jax.random.split(jax.random.key(n))
        a = jax.random.normal(ka, (n, n), jnp.float32)
        b = jax.random.normal(kb, (n, n), jnp.float32)
        mm(a, b).block_until_ready()  # compile
        t0 = time.perf_counter()
        mm(a, b).block_until_ready()
        calls = max(1, int(round_s / max(time.perf_counter() - t0, 1e-6)))
        rates = []
        for _ in range(reps):
            t0 = time.perf_counter()
            out = None
            for _ in range(calls):
                out = mm(a, b)
            out.block_until_ready()
            rates.append(2.0 * n**3 * calls / (time.perf_counter() - t0))
        best = max(best, statistics.median(rates))
    return best


def cpu_peak(**measure_kw: Any) -> tuple[float, str]:
    """(FLOP/s, source) for this CPU: from the cache, else measured once and cached."""
    path, key = cache_path(), cpu_key()
    try:
        cache = json.loads(path.read_text())
        if not isinstance(cache, dict):
            cache = {}
    except (OSError, ValueError):
        cache = {}
    hit = cache.get(key)
    if isinstance(hit, dict) and isinstance(hit.get("flops"), (int, float)) and hit["flops"] > 0:
        return float(hit["flops"]), f"measured fp32 matmul peak of {key} (cached in {path})"
    flops = measure_cpu_matmul(**measure_kw)
    cache[key] = {"flops": flops, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    try:
        atomic_write_json(path, cache, indent=1)
    except OSError:
        pass  # an unwritable cache only costs a re-measurement next time
    return flops, f"measured fp32 matmul peak of {key} (just now)"
