"""The compile stage of a sweep's dry run (`scaling sweep FILE --dry-run --compile-for TARGET`):
one `CompileSession` per target, which the sweep pipeline (scaling/sweep/pipeline.py) consults
in its stages instead of the calculator.

- the grid stage asks it for a point's microbatches (`microbatches`): the file's count when it
  sets one (> 1), else the fewest (dividing the per-device batch) whose compiled peak fits the
  target's HBM, by compiling at 1, 2, ... until one fits;
- the plan stage asks it for a point's peak and step time (`compiled`): the point is refused
  when its compiled peak exceeds the HBM or its compile failed (one line, the compiler's
  message), and its time is the roofline bound at the plan's MFU (scaling/compile/report.py);
- the dry run prints its table (`report`): one row per distinct step.

A step (objective, model, batch, window, microbatches, FSDP) compiles once per session, and once
per (program, target) across sessions (scaling/compile/cache.py): a second dry run is served from
the cache.
"""
from __future__ import annotations

import dataclasses

from scaling.compile.points import (
    CompiledPoint,
    compile_one,
    microbatch_counts,
    pick,
    step_key,
    with_microbatches,
)
from scaling.compile.targets import Target, resolve_target
from scaling.train.record import RunRecord


class CompileSession:
    """Compiles for one target, each distinct step once (raises CompilerMissing when the
    target's compiler is not installed)."""

    def __init__(self, target: Target | str, *, use_cache: bool = True):
        from scaling.compile.mesh import target_devices

        self.target = resolve_target(target) if isinstance(target, str) else target
        self.n_devices = target_devices(self.target)
        self.use_cache = use_cache
        self._done: dict[tuple, CompiledPoint] = {}

    def compiled(self, run: RunRecord) -> CompiledPoint:
        """The run's step compiled for the target, at the run's own microbatches."""
        key = step_key(run)
        if key not in self._done:
            self._done[key] = compile_one(run, self.target, fit=False, use_cache=self.use_cache)
        return self._done[key]

    def microbatches(self, run: RunRecord) -> int:
        """The fewest microbatches (dividing the per-device batch) whose compiled peak fits with
        nothing recomputed by the compiler, else the fewest that fit (`points.pick`); the file's
        count when it sets one. A failed compile stops the search at its count (the plan then
        refuses the point with the compiler's message); when none fits, the largest (the plan
        refuses it with that peak)."""
        k0 = run.cfg.train.microbatches
        if k0 > 1:
            return k0
        at = lambda k: self.compiled(run if k == k0 else with_microbatches(run, k))  # noqa: E731
        return pick(microbatch_counts(run, self.n_devices), at).microbatches

    def report(self, points) -> list[CompiledPoint]:
        """One CompiledPoint per distinct step of `points` (scaling.sweep.point.Point), in the
        points' order, each naming the points that share it."""
        groups: dict[tuple, list] = {}
        for p in points:
            groups.setdefault(step_key(p.run), []).append(p)
        return [dataclasses.replace(self.compiled(pts[0].run), indices=tuple(p.index for p in pts))
                for pts in groups.values()]


__all__ = ["CompileSession", "step_key"]
