"""The compiled dry run's table: per distinct step, per device, what the target's compiler says
beside what the suite's calculator and FLOPs count say."""
from __future__ import annotations

from scaling.budget.memory import fmt_bytes
from scaling.compile.points import CompiledPoint


def _f(x, fmt="{:.2f}") -> str:
    return "-" if x is None else fmt.format(x)


def _attention(c: CompiledPoint) -> str:
    impls = sorted({impl for impl, _ in c.result.get("attention", {}).values()})
    return "/".join(impls) or "-"


def recomputed_cell(c: CompiledPoint) -> str:
    r = c.recomputed
    if not r.get("ops"):
        return "-"
    share = c.recomputed_flops / c.suite_flops if c.suite_flops else 0.0
    return f"{r['ops']} ops, +{share:.1%}"


def row(c: CompiledPoint, mfu: float) -> list[str]:
    r = c.result
    pts = ",".join(map(str, c.indices)) or "-"
    if not c.ok:
        return [pts, c.label, "FAILED: " + r.get("error", "?")]
    rl = c.roofline()
    step = rl.step_seconds(mfu)
    return [pts, c.label, _attention(c), fmt_bytes(r["arguments"]), fmt_bytes(r["temporaries"]),
            fmt_bytes(r["peak"]), f"{r['peak'] / c.hbm:.0%}",
            fmt_bytes(c.estimate) + (" (limit)" if c.uncapped else ""), _f(c.calc_ratio),
            recomputed_cell(c), _f(r.get("compile_s"), "{:.1f}") + (" (cached)" if c.cached else ""),
            _f(r.get("flops"), "{:.3g}"), f"{c.suite_flops:.3g}", _f(c.flops_ratio, "{:.3f}"),
            _f(rl.bound_s * 1e3 if rl.bound_s else None, "{:.3g}"),
            _f(step * 1e3 if step else None, "{:.3g}"),
            "fits" if c.fits else "DOES NOT FIT"]


HEAD = ["points", "step", "attention", "args", "temps", "peak", "peak/HBM", "calculator",
        "calc/XLA", "recomputed", "compile s", "XLA FLOPs", "suite FLOPs", "FLOPs ratio", "roofline ms",
        "step ms", "verdict"]


def format_report(compiled: list[CompiledPoint], mfu: float = 0.35) -> str:
    """The table `--dry-run --compile-for TARGET` prints after the plan."""
    if not compiled:
        return ""
    t = compiled[0].target
    hw = t.hardware
    lines = ["", f"compiled for {t.name} ({t.platform}, topology {t.topology}, "
                 f"{compiled[0].n_devices} devices of {hw.name}, HBM {fmt_bytes(hw.memory_bytes)}"
                 f" each), per device:"]
    body = [row(c, mfu) for c in compiled]
    full = [b for b in body if len(b) == len(HEAD)]
    widths = [max([len(h)] + [len(b[i]) for b in full]) for i, h in enumerate(HEAD)]
    fmt = lambda cells: "  ".join(c.ljust(w) if i < 3 else c.rjust(w)  # noqa: E731
                                  for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    lines += [fmt(HEAD), fmt(["-" * w for w in widths])]
    lines += [fmt(b) if len(b) == len(HEAD) else "  ".join(b) for b in body]
    lines += ["", "peak = arguments + outputs - donated + temporaries (the compiler's memory "
                  "analysis); calc/XLA: scaling/budget/memory.py's estimate over that peak.",
              "recomputed: instructions the compiler's rematerialization recomputes to fit its "
              "memory limit, and their matmul FLOPs over the suite's (in the roofline).",
              "FLOPs per device per step: the compiler's cost analysis and the suite's exact "
              "count (ModelConfig.flops_per_token), without attention run in kernels "
              "(Pallas splash, cuDNN), which the compiler cannot count.",
              f"roofline: max(FLOPs / peak, bytes accessed / HBM bandwidth), peaks and "
              f"bandwidths from scaling/hardware.py ({hw.name}: {hw.source.split(': ')[0]}; "
              f"{hw.bandwidth_source or 'no bandwidth'}); step ms: the compute term at MFU "
              f"{mfu:g}."]
    if any(c.uncapped for c in compiled):
        lines.append("calculator (limit): its estimate exceeded XLA:GPU's rematerialization limit "
                     "(0.95 x (0.8 x device memory - inputs) + inputs), under which the compiler "
                     "recomputes; the estimate is that limit.")
    notes = sorted({f"  {where}: {impl} ({why})" for c in compiled
                    for where, (impl, why) in c.result.get("attention", {}).items()
                    if impl == "xla"})
    if notes:
        lines += ["attention fell back to XLA's (scores materialised):", *notes]
    return "\n".join(lines)


def step_seconds(c: CompiledPoint, mfu: float) -> float | None:
    """The planner's time per step for a compiled point: the roofline at `mfu`."""
    return c.roofline().step_seconds(mfu) if c.ok else None


__all__ = ["format_report", "step_seconds"]
