"""`recipe.schedule: wsd_branch`: one warmup-stable trunk per model size, a cooldown branch per D.

For each (objective, size, seed, precision) the grid's points, of s_1 < ... < s_k steps, become branches:
branch i is the WSD run of s_i steps whose cooldown is c_i = round(cooldown_frac x s_i) steps
(shape base.optim.decay_shape), starting from the trunk's checkpoint at b_i = s_i - c_i. The
trunk is the WSD run of s_k steps stopped at b_k, keeping its checkpoints at every b_i. All share
one warmup (that of the shortest point), so their stable phases are the same computation
(scaling/train/branch.py). Cost: b_k + sum(c_i) steps instead of sum(s_i) (Hägele et al. 2024:
about 0.6 for three durations per size). IsoFLOP grids group the same way: by N, each budget a D.
"""
from __future__ import annotations

import dataclasses

from runstore import InputError
from scaling.sweep.point import Point
from scaling.train.config import RunConfig


def _wsd(cfg: RunConfig, steps: int, cooldown: int, warmup: int, **train) -> RunConfig:
    optim = dataclasses.replace(cfg.optim, schedule="wsd", decay_frac=cooldown / steps,
                                warmup_steps=warmup)
    return dataclasses.replace(cfg, optim=optim,
                               train=dataclasses.replace(cfg.train, steps=steps, **train))


def _warmup(cfg: RunConfig, steps: int) -> int:
    o = cfg.optim
    w = o.warmup_steps if o.warmup_steps > 0 else int(round(o.warmup_frac * steps))
    return min(w, max(steps - 1, 0))


def _group(pts: list[Point], frac: float) -> list[Point]:
    """The trunk of one size's points, then their branches (shortest first)."""
    pts = sorted(pts, key=lambda p: p.run.steps)
    cool = [max(1, int(round(frac * p.run.steps))) for p in pts]
    at = [p.run.steps - c for p, c in zip(pts, cool)]
    warm = _warmup(pts[0].cfg, pts[0].run.steps)
    if at[0] <= warm:
        raise InputError(f"point of {pts[0].run.steps} steps would branch at step {at[0]}, "
                          f"inside its {warm}-step warmup", key="recipe.cooldown_frac",
                          fix="lower cooldown_frac or the warmup, or drop the shortest D")
    last = pts[-1]
    trunk_cfg = _wsd(last.cfg, last.run.steps, cool[-1], warm, stop_at=at[-1],
                     branch_points=tuple(sorted(set(at))))
    trunk = dataclasses.replace(last, run=dataclasses.replace(last.run, cfg=trunk_cfg),
                                tokens_target=last.run.tokens_at(at[-1]), role="trunk")
    out = [trunk]
    for p, c, b in zip(pts, cool, at):
        cfg = _wsd(p.cfg, p.run.steps, c, warm, branch_from=trunk.run_id, branch_step=b)
        out.append(dataclasses.replace(p, run=dataclasses.replace(p.run, cfg=cfg),
                                       role="branch", trunk_id=trunk.run_id))
    return out


def branch_points(points: list[Point], frac: float) -> list[Point]:
    """The grid's points as trunks and branches, in the grid's order of first appearance."""
    groups: dict[tuple, list[Point]] = {}
    for p in points:
        if p.run.steps > 0:  # zero-step points stay plain: the planner refuses them
            key = (p.cfg.objective, p.run.n_total, p.cfg.seed, p.run.model.quant)
            groups.setdefault(key, []).append(p)
    out: list[Point] = [p for p in points if p.run.steps <= 0]
    for pts in groups.values():
        out += _group(pts, frac)
    return out


def flops_summary(points: list[Point]) -> dict:
    """Exact FLOPs of the branched plan against one cosine run per point, and their ratio."""
    branched = sum(p.run.flops_at(p.run.end_step - p.run.start_step) for p in points)
    separate = sum(p.run.flops for p in points if p.is_point)
    trunks = sum(1 for p in points if p.role == "trunk")
    return {"trunks": trunks, "branches": sum(1 for p in points if p.role == "branch"),
            "flops_branched": branched, "flops_separate": separate,
            "ratio": branched / separate if separate else None}


def format_branches(points: list[Point]) -> str:
    """The dry run's branching section: each trunk, its branch points, and the FLOPs ratio."""
    lines = ["trunks and branches (wsd_branch):"]
    for t in (p for p in points if p.role == "trunk"):
        kids = [p for p in points if p.trunk_id == t.run_id]
        at = ", ".join(f"{p.run.start_step}->{p.run.steps}" for p in kids)
        prec = "" if t.run.model.quant is None else f" {t.precision}"
        lines.append(f"  trunk #{t.index} {t.cfg.objective}{prec} N {t.run.n_total:,} seed "
                     f"{t.cfg.seed}: steps 0..{t.run.end_step}; branches #"
                     f"{', #'.join(str(p.index) for p in kids)} at {at}")
    f = flops_summary(points)
    lines.append(f"FLOPs (exact): branched plan {f['flops_branched']:.3g} ({f['trunks']} trunks, "
                 f"{f['branches']} branches) vs one cosine run per point "
                 f"{f['flops_separate']:.3g}: ratio {f['ratio']:.3f}")
    return "\n".join(lines)
