"""Expanding a sweep's grid into its final points, one per (objective x size x tokens x seed).

For each nominal size the shape rule (scaling/model/shapes.py) picks the nearest shape; its
ACTUAL N (total, or non-embedding if `grid.count` says so) sets D:
- tokens grid: D as given;  tokens_per_param: D = ratio x N;  IsoFLOP: D = C / (6 N).
D is then rounded to whole steps (steps = round(D / (batch x tokens per example)), at least 0:
a point with zero steps keeps them, and the planner refuses it), so the recorded D and C = 6 N D
are the actual ones; the nominal targets are kept beside them.

A point leaves this stage final: with the vocabulary resolved from the data (scaling/sweep/
pipeline.py), the device's microbatches (scaling/sweep/device.py) and, for wsd_branch, its trunk
(scaling/sweep/branching.py), so its run id is the one it trains under; nothing later patches it.

Points are sorted (objective, size, tokens or budget, seed, in the file's order) and numbered;
`--shard i/n` takes the points whose index % n == i.
"""
from __future__ import annotations

import dataclasses

from runstore import InputError, tokens_for_flops
from scaling.model.quant_config import precision_label
from scaling.sweep import recipe as rec
from scaling.sweep.branching import branch_points
from scaling.sweep.config import SweepConfig
from scaling.sweep.device import Device, microbatches_for
from scaling.sweep.point import Point
from scaling.train.config import RunConfig
from scaling.train.record import RunRecord, resolve_run

__all__ = ["Point", "expand", "shard", "parse_shard"]


def _resolve(cfg: RunConfig, vocab_size: int, key: str) -> RunRecord:
    try:
        return resolve_run(cfg, vocab_size)
    except (ImportError, ValueError) as e:
        if isinstance(e, InputError):
            raise
        raise InputError(f"objective '{cfg.objective}' is not available here ({e})",
                          key=key) from None


def _seeds(sweep: SweepConfig, p: float, x: float) -> list[int]:
    seeds = list(sweep.seeds)
    for e in sweep.extra_seeds:
        if e.params == p and getattr(e, sweep.grid.axis) == x:
            seeds += [s for s in e.seeds if s not in seeds]
    return seeds


def expand(sweep: SweepConfig, vocab_size: int, file: str | None = None, *,
           device: Device | None = None) -> list[Point]:
    """Every point of the sweep for a tokenizer of `vocab_size` ids, final, sorted and numbered;
    with `device`, each point's microbatches are the fewest that fit it (device.py), else the
    file's."""
    try:
        return _expand(sweep, vocab_size, device)
    except InputError as e:
        raise e.located(file) from None


class _Fitter:
    """Each point's microbatches on the device, decided once per model and batch: the memory
    of a step does not depend on the run's length or seed."""

    def __init__(self, device: Device | None, precision: str):
        self.device, self.precision, self.seen = device, precision, {}

    def __call__(self, run: RunRecord, vocab_size: int, key: str) -> RunRecord:
        if self.device is None:
            return run
        at = (run.model, run.batch_size, run.cfg.train.fsdp, run.cfg.train.microbatches)
        if at not in self.seen:
            self.seen[at] = microbatches_for(run, self.device, self.precision)
        k = self.seen[at]
        if k == run.cfg.train.microbatches:
            return run
        cfg = run.cfg
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, microbatches=k))
        return _resolve(cfg, vocab_size, key)


def _expand(sweep: SweepConfig, vocab_size: int, device: Device | None) -> list[Point]:
    grid, typed = sweep.grid, sweep.run_base
    fit = _Fitter(device, typed.model.dtype)
    points: list[Point] = []
    seen: dict[str, str] = {}
    for oi, objective in enumerate(sweep.objectives):
        key = f"objectives[{oi}]"
        base = typed.run_config(sweep.name, objective, sweep.seeds[0])
        probe = _resolve(base, vocab_size, key)
        for quant in grid.quant_settings() or (base.model.quant,):
            points += _objective_points(sweep, base, probe, quant, key, vocab_size, fit, seen)
    if sweep.recipe.schedule == "wsd_branch":
        points = branch_points(points, sweep.recipe.cooldown_frac)
    # already in (objective, precision, size, axis, seed) order of the file; number them
    return [dataclasses.replace(pt, index=i) for i, pt in enumerate(points)]


def _objective_points(sweep: SweepConfig, base: RunConfig, probe: RunRecord, quant, key: str,
                      vocab_size: int, fit: _Fitter, seen: dict[str, str]) -> list[Point]:
    """One objective's points at one precision (`quant`, a model.quant value): sizes x axis x
    seeds, in the file's order."""
    grid, recipe = sweep.grid, sweep.recipe
    base = dataclasses.replace(base, model=base.model.replace(quant=quant))
    arch_model = probe.model  # arch and vocab resolved for this objective
    tag = f" precision {precision_label(quant)}" if grid.precision else ""
    points: list[Point] = []
    for pi, p in enumerate(grid.params):
        model = sweep.shape.for_params(p, arch_model)
        n_total, n_nonemb = model.n_params_total(), model.n_params_nonembedding()
        n = n_total if grid.count == "total" else n_nonemb
        h = rec.hyper(recipe, base, n)
        sized = dataclasses.replace(base, model=base.model.replace(
            d_model=model.d_model, n_layers=model.n_layers, n_heads=model.n_heads,
            d_ff=model.d_ff))
        per_step = h.batch_size * probe.tokens_per_example
        for xi, x in enumerate(grid.axis_values):
            if grid.axis == "tokens":
                d_target = x
            elif grid.axis == "tokens_per_param":
                d_target = x * n
            else:
                d_target = tokens_for_flops(x, n)
            keep = grid.keep_tokens_per_param
            if keep and not keep[0] <= d_target / n <= keep[1]:
                continue
            steps = int(round(d_target / per_step))
            warm = rec.warmup_steps(recipe, n, per_step, steps)
            for seed in _seeds(sweep, p, x):
                cfg = rec.apply(dataclasses.replace(sized, seed=seed), h, steps, warm)
                run = fit(_resolve(cfg, vocab_size, key), vocab_size, key)
                assert run.n_total == n_total, "shape rule and record disagree on N"
                where = f"grid.params[{pi}] x grid.{grid.axis}[{xi}] seed {seed}{tag}"
                if run.run_id in seen and steps > 0:
                    raise InputError(f"{where} gives the same run as {seen[run.run_id]} "
                                      f"(shape d{model.d_model} L{model.n_layers})",
                                      key=f"grid.params[{pi}]",
                                      fix="space the sizes further apart or lower "
                                          "shape.width_step")
                seen[run.run_id] = where
                points.append(Point(index=-1, run=run, params_target=p, axis=grid.axis,
                                    axis_value=x, tokens_target=d_target, count=grid.count))
    return points


def shard(points: list[Point], i: int, n: int) -> list[Point]:
    """The deterministic slice `--shard i/n`: points whose index % n == i."""
    if not (n >= 1 and 0 <= i < n):
        raise InputError(f"shard {i}/{n}: need 0 <= i < n", key="--shard", fix="e.g. --shard 0/4")
    return [p for p in points if p.index % n == i]


def parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise InputError(f"'{text}' is not i/n", key="--shard", fix="e.g. --shard 0/4") from None
    if not (n >= 1 and 0 <= i < n):
        raise InputError(f"shard {text}: need 0 <= i < n", key="--shard", fix="e.g. --shard 0/4")
    return i, n
