"""A lower bound on one train step's time from the compiler's own counts: the larger of
compute (FLOPs / peak FLOP/s) and memory traffic (bytes accessed / HBM bandwidth), per device,
with the peaks and bandwidths of scaling/hardware.py (their sources are in the table).

The dry run's time column divides the compute term by the stated MFU (the bandwidth term is
already a bound on traffic, not on utilisation): seconds = max(FLOPs / (peak x MFU),
bytes / bandwidth). XLA's GPU compiler gives no cost analysis when compiling deviceless, so on
GPU targets the compute term uses the suite's exact FLOPs and there is no bandwidth term.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Roofline:
    compute_s: float | None   # FLOPs / peak
    memory_s: float | None    # bytes accessed / HBM bandwidth
    flops_source: str         # "compiler" | "suite"

    @property
    def bound_s(self) -> float | None:
        terms = [t for t in (self.compute_s, self.memory_s) if t is not None]
        return max(terms) if terms else None

    def step_seconds(self, mfu: float) -> float | None:
        """The plan's estimate: compute at `mfu` of the peak, traffic at full bandwidth."""
        if self.compute_s is None:
            return self.memory_s
        return max(self.compute_s / mfu, self.memory_s or 0.0)


def roofline(flops: float | None, bytes_accessed: float | None, suite_flops: float,
             peak: float | None, bandwidth: float | None) -> Roofline:
    """Per device: the compiler's FLOPs where it gives them, else the suite's."""
    use, source = (flops, "compiler") if flops else (suite_flops, "suite")
    compute = use / peak if peak else None
    memory = bytes_accessed / bandwidth if (bytes_accessed and bandwidth) else None
    return Roofline(compute, memory, source)
