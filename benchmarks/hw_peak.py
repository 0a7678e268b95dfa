"""The CPU's hardware FLOP/s peak from /proc/cpuinfo: cores x FMA units x lanes x 2 x clock.

The suite's own CPU "MFU" divides by the rate JAX reaches on a large fp32 matmul
(scaling/hardware.py), which says how close a step comes to JAX's matmul, not to the machine: it
read 97% on an Intel Xeon where torch ran the same model 1.9x faster. This peak is the
machine's. Assumptions, each printed with the figure:

- cores: the CPUs this process may run on (os.sched_getaffinity), one thread each (the 2-vCPU
  machines of this project report 1 thread per core).
- FMA units: 2 per core (Intel Skylake-SP and later server cores; AMD Zen 1-5).
- datapath width: AVX-512 parts execute 512-bit FMAs at full width, except AMD family 25 (Zen 3 /
  Zen 4), whose FMA pipes are 256 bits wide (Zen 4 splits an AVX-512 op into two halves); AVX2 /
  FMA parts 256, others 128.
- clock: the `cpu MHz` line. Under a hypervisor it is the nominal (TSC) clock; boost is not
  visible, so a core that boosts runs above this "peak" (MFU can then exceed 100%).
- bf16: with AVX512_BF16 (VDPBF16PS does two bf16 products per fp32 lane) twice the fp32 rate;
  with AMX-BF16, 1,024 FLOP per cycle per core (Intel's TMUL figure); without either, the fp32
  rate (XLA widens bf16 to fp32).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CpuInfo:
    model: str
    vendor: str
    family: int
    flags: frozenset[str]
    mhz: float


@dataclass(frozen=True)
class HwPeak:
    fp32: float  # FLOP/s
    bf16: float  # FLOP/s
    cores: int
    fp32_per_cycle: int  # per core
    bf16_per_cycle: int  # per core
    ghz: float
    assumptions: str


def parse_cpuinfo(text: str) -> CpuInfo:
    """The first processor's block of /proc/cpuinfo (all cores of these VMs are alike)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    family = fields.get("cpu family", "0")
    return CpuInfo(model=fields.get("model name", "unknown"), vendor=fields.get("vendor_id", ""),
                   family=int(family) if family.isdigit() else 0,
                   flags=frozenset(fields.get("flags", "").split()),
                   mhz=float(fields.get("cpu mhz", "0") or 0))


def datapath_bits(info: CpuInfo) -> int:
    if "avx512f" in info.flags:
        # Zen 3 has no AVX-512; Zen 4 (also family 25) runs it on 256-bit pipes
        return 256 if (info.vendor == "AuthenticAMD" and info.family == 25) else 512
    if "avx2" in info.flags or "fma" in info.flags:
        return 256
    return 128


def hw_peak(info: CpuInfo, cores: int, fma_units: int = 2, ghz: float | None = None) -> HwPeak:
    """The fp32 and bf16 peaks of `cores` cores of this CPU (see the module doc's assumptions)."""
    ghz = ghz if ghz else info.mhz / 1e3
    bits = datapath_bits(info)
    fp32 = fma_units * (bits // 32) * 2  # FLOP per cycle per core; an FMA is 2 FLOP
    if "amx_bf16" in info.flags:
        bf16, how = 1024, "AMX-BF16 1024 FLOP/cycle/core"
    elif "avx512_bf16" in info.flags:
        bf16, how = 2 * fp32, "AVX512_BF16 dot products: 2x fp32"
    else:
        bf16, how = fp32, "no bf16 instructions: as fp32"
    text = (f"{info.model}: {cores} cores x {fma_units} FMA x {bits // 32} fp32 lanes "
            f"({bits}-bit datapath) x 2 FLOP x {ghz:.2f} GHz (cpuinfo clock, no boost) = "
            f"{cores * fp32 * ghz:.0f} GFLOP/s fp32; bf16: {how}")
    return HwPeak(fp32=cores * fp32 * ghz * 1e9, bf16=cores * bf16 * ghz * 1e9, cores=cores,
                  fp32_per_cycle=fp32, bf16_per_cycle=bf16, ghz=ghz, assumptions=text)


def this_cpu() -> HwPeak | None:
    """The peak of the machine this runs on, or None off Linux or without a clock."""
    try:
        info = parse_cpuinfo(Path("/proc/cpuinfo").read_text())
        cores = len(os.sched_getaffinity(0))
    except (OSError, AttributeError):
        return None
    return hw_peak(info, cores) if info.mhz > 0 else None


def has_fast_bf16(info: CpuInfo) -> bool:
    """Whether this CPU has bf16 arithmetic (AVX512_BF16 or AMX), where a bf16 row is worth it."""
    return bool(info.flags & {"avx512_bf16", "amx_bf16"})


if __name__ == "__main__":
    peak = this_cpu()
    print(peak.assumptions if peak else "no /proc/cpuinfo clock: no hardware peak")
