"""Expanding a sweep's grid into run configs, one per point (objective x size x tokens x seed).

For each nominal size the shape rule (scaling/model/shapes.py) picks the nearest shape; its
ACTUAL N (total, or non-embedding if `grid.count` says so) sets D:
- tokens grid: D as given;  tokens_per_param: D = ratio x N;  IsoFLOP: D = C / (6 N).
D is then rounded to whole steps (steps = round(D / (batch x tokens per example)), at least 0:
a point with zero steps is refused by the planner), so the recorded D and C = 6 N D are the
actual ones; the nominal targets are kept beside them.

Points are sorted (objective, size, tokens or budget, seed, in the file's order) and numbered;
`--shard i/n` takes the points whose index % n == i.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from runstore import tokens_for_flops
from runstore import InputError
from scaling.sweep import recipe as rec
from scaling.sweep.config import SweepConfig
from scaling.train.config import RunConfig
from scaling.train.record import RunRecord, resolve_run


@dataclass(frozen=True)
class Point:
    """One run of the sweep: its run record plus where it sits in the grid."""

    index: int
    run: RunRecord                # the resolved run (config with train.steps set, N, D, FLOPs)
    params_target: float          # nominal N from grid.params
    axis: str                     # tokens | tokens_per_param | flops
    axis_value: float             # the nominal value on that axis
    tokens_target: float          # the D the grid asked for, before rounding to whole steps
    count: str = "total"          # which N the grid uses (grid.count)
    role: str = "run"             # run | trunk (of cooldown branches) | branch
    trunk_id: str = ""            # a branch's trunk

    @property
    def is_point(self) -> bool:
        """A point of the grid (a trunk is a means to its branches, not a point)."""
        return self.role != "trunk"

    @property
    def cfg(self) -> RunConfig:
        return self.run.cfg

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def n(self) -> int:
        """The N that the grid uses (total unless grid.count says otherwise)."""
        return self.run.n_total if self.count == "total" else self.run.n_nonembedding

    @property
    def flops_nominal(self) -> float | None:
        return self.axis_value if self.axis == "flops" else None

    def to_dict(self) -> dict:
        """What results/<sweep>/points.json and runs/<id>/point.json hold for this point."""
        r, m, o = self.run, self.run.model, self.run.cfg.optim
        return {
            "index": self.index, "run_id": r.run_id, "objective": r.cfg.objective,
            "seed": r.cfg.seed, "params_target": self.params_target, "axis": self.axis,
            "axis_value": self.axis_value, "n_params_total": r.n_total,
            "n_params_nonembedding": r.n_nonembedding, "n_count": self.count,
            "d_model": m.d_model, "n_layers": m.n_layers, "n_heads": m.n_heads,
            "steps": r.steps, "batch_size": r.batch_size, "seq_len": m.seq_len,
            "tokens_target": self.tokens_target, "tokens": r.tokens,
            "flops_nominal": self.flops_nominal, "flops_6nd": r.flops_6nd, "flops": r.flops,
            "lr": o.lr, "b2": o.b2, "warmup_steps": o.warmup_steps, "schedule": o.schedule,
            "role": self.role, "trunk_id": self.trunk_id or None,
            "start_step": r.start_step, "end_step": r.end_step, "flops_own": r.flops_at(
                r.end_step - r.start_step),
        }


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


def expand(sweep: SweepConfig, vocab_size: int, file: str | None = None) -> list[Point]:
    """Every point of the sweep for a tokenizer of `vocab_size` ids, sorted and numbered."""
    try:
        return _expand(sweep, vocab_size)
    except InputError as e:
        raise e.located(file) from None


def _expand(sweep: SweepConfig, vocab_size: int) -> list[Point]:
    grid, recipe = sweep.grid, sweep.recipe
    points: list[Point] = []
    seen: dict[str, str] = {}
    for oi, objective in enumerate(sweep.objectives):
        base = sweep.base_run(objective)
        probe = _resolve(base, vocab_size, f"objectives[{oi}]")
        arch_model = probe.model  # arch and vocab resolved for this objective
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
                    cfg = rec.apply(dataclasses.replace(sized, seed=seed), h, max(steps, 1), warm)
                    run = _resolve(cfg, vocab_size, f"objectives[{oi}]")
                    assert run.n_total == n_total, "shape rule and record disagree on N"
                    where = f"grid.params[{pi}] x grid.{grid.axis}[{xi}] seed {seed}"
                    if run.run_id in seen and steps > 0:
                        raise InputError(f"{where} gives the same run as {seen[run.run_id]} "
                                          f"(shape d{model.d_model} L{model.n_layers})",
                                          key=f"grid.params[{pi}]",
                                          fix="space the sizes further apart or lower "
                                              "shape.width_step")
                    seen[run.run_id] = where
                    if steps != run.steps:  # zero steps: kept (with 1) for the planner to refuse
                        run = dataclasses.replace(run, steps=steps)
                    points.append(Point(index=-1, run=run, params_target=p, axis=grid.axis,
                                        axis_value=x, tokens_target=d_target, count=grid.count))
    if recipe.schedule == "wsd_branch":
        from scaling.sweep.branching import branch_points
        points = branch_points(points, recipe.cooldown_frac)
    # already in (objective, size, axis, seed) order of the file; number them
    return [dataclasses.replace(pt, index=i) for i, pt in enumerate(points)]


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
