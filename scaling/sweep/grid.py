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

from scaling.errors import ConfigError
from scaling.model.config import ModelConfig
from scaling.sweep import recipe as rec
from scaling.sweep.config import SweepConfig
from scaling.train.config import RunConfig


@dataclass(frozen=True)
class Point:
    """One run of the sweep, resolved."""

    index: int
    objective: str
    seed: int
    params_target: float          # nominal N from grid.params
    axis: str                     # tokens | tokens_per_param | flops
    axis_value: float             # the nominal value on that axis
    cfg: RunConfig                # the full run config (train.steps set)
    model: ModelConfig            # resolved (vocab, arch)
    n_total: int
    n_nonembedding: int
    steps: int
    batch_size: int
    tokens_per_example: int       # raw corpus tokens per example (counted in D)
    window: int                   # corpus tokens read per example
    tokens_target: float          # the D the grid asked for, before rounding to whole steps
    flops_per_example: float      # exact training FLOPs (ModelConfig.flops_per_token)
    run_id: str

    @property
    def tokens(self) -> int:
        return self.steps * self.batch_size * self.tokens_per_example

    @property
    def n(self) -> int:
        """The N that the grid uses (total unless grid.count says otherwise)."""
        return self.n_total if self.cfg_count == "total" else self.n_nonembedding

    cfg_count: str = "total"

    @property
    def flops_6nd(self) -> float:
        return 6.0 * self.n_total * self.tokens

    @property
    def flops_exact(self) -> float:
        return self.steps * self.batch_size * self.flops_per_example

    @property
    def flops_nominal(self) -> float | None:
        return self.axis_value if self.axis == "flops" else None

    @property
    def tokens_per_param(self) -> float:
        return self.tokens / self.n_total

    def record(self) -> dict:
        """What results/<sweep>/points.json and runs/<id>/point.json hold for this point."""
        return {
            "index": self.index, "run_id": self.run_id, "objective": self.objective,
            "seed": self.seed, "params_target": self.params_target, "axis": self.axis,
            "axis_value": self.axis_value, "n_params_total": self.n_total,
            "n_params_nonembedding": self.n_nonembedding, "n_count": self.cfg_count,
            "d_model": self.model.d_model, "n_layers": self.model.n_layers,
            "n_heads": self.model.n_heads, "steps": self.steps, "batch_size": self.batch_size,
            "seq_len": self.model.seq_len, "tokens_target": self.tokens_target,
            "tokens": self.tokens, "flops_nominal": self.flops_nominal,
            "flops_6nd": self.flops_6nd, "flops": self.flops_exact,
            "lr": self.cfg.optim.lr, "b2": self.cfg.optim.b2,
            "warmup_steps": self.cfg.optim.warmup_steps, "schedule": self.cfg.optim.schedule,
        }


def _plan(cfg: RunConfig, vocab_size: int, key: str):
    from scaling.train.loop import plan_run  # jax-heavy: only when expanding
    try:
        return plan_run(cfg, vocab_size)
    except (ImportError, ValueError) as e:
        raise ConfigError(f"objective '{cfg.objective}' is not available here ({e})",
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
    except ConfigError as e:
        if file and e.file in (None, "<config>"):
            raise ConfigError(e.detail, file=file, key=e.key, fix=e.fix) from None
        raise


def _expand(sweep: SweepConfig, vocab_size: int) -> list[Point]:
    grid, recipe = sweep.grid, sweep.recipe
    points: list[Point] = []
    seen: dict[str, str] = {}
    for oi, objective in enumerate(sweep.objectives):
        base = sweep.base_run(objective)
        probe = _plan(base, vocab_size, f"objectives[{oi}]")
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
                    d_target = x / (6.0 * n)
                keep = grid.keep_tokens_per_param
                if keep and not keep[0] <= d_target / n <= keep[1]:
                    continue
                steps = int(round(d_target / per_step))
                warm = rec.warmup_steps(recipe, n, per_step, steps)
                for seed in _seeds(sweep, p, x):
                    cfg = rec.apply(dataclasses.replace(sized, seed=seed), h, max(steps, 1), warm)
                    plan = _plan(cfg, vocab_size, f"objectives[{oi}]")
                    assert plan.n_total == n_total, "shape rule and plan disagree on N"
                    where = f"grid.params[{pi}] x grid.{grid.axis}[{xi}] seed {seed}"
                    if plan.run_id in seen and steps > 0:
                        raise ConfigError(f"{where} gives the same run as {seen[plan.run_id]} "
                                          f"(shape d{model.d_model} L{model.n_layers})",
                                          key=f"grid.params[{pi}]",
                                          fix="space the sizes further apart or lower "
                                              "shape.width_step")
                    seen[plan.run_id] = where
                    points.append(Point(
                        index=-1, objective=objective, seed=seed, params_target=p,
                        axis=grid.axis, axis_value=x, cfg=cfg, model=plan.model,
                        n_total=n_total, n_nonembedding=n_nonemb, steps=steps,
                        batch_size=h.batch_size, tokens_per_example=plan.tokens_per_example,
                        window=plan.window, tokens_target=d_target,
                        flops_per_example=plan.flops_per_example, run_id=plan.run_id,
                        cfg_count=grid.count))
    # already in (objective, size, axis, seed) order of the file; number them
    return [dataclasses.replace(pt, index=i) for i, pt in enumerate(points)]


def shard(points: list[Point], i: int, n: int) -> list[Point]:
    """The deterministic slice `--shard i/n`: points whose index % n == i."""
    if not (n >= 1 and 0 <= i < n):
        raise ConfigError(f"shard {i}/{n}: need 0 <= i < n", key="--shard", fix="e.g. --shard 0/4")
    return [p for p in points if p.index % n == i]


def parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ConfigError(f"'{text}' is not i/n", key="--shard", fix="e.g. --shard 0/4") from None
    if not (n >= 1 and 0 <= i < n):
        raise ConfigError(f"shard {text}: need 0 <= i < n", key="--shard", fix="e.g. --shard 0/4")
    return i, n
