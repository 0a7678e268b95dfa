"""Synthetic runs drawn from a known law, for tests, benchmarks and the fixture folder.

Runs sit on an IsoFLOP grid: for each budget C, model sizes log-spaced around the law's
N_opt(C), D = C / (6 N), loss = law.loss(N, D) * exp(noise * eps) (multiplicative noise, as
the fits work on log loss).  ``write_results_folder`` writes them in the docs/design.md layout,
with a training curve per run whose points lie on the same law (so approach 1 sees the
law's efficient frontier).  Everything is written through the results contract
(runstore: RunSummary and write_summary, write_jsonl, atomic_write_json), so the
fixture is what a real sweep writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from analysis.laws import ParametricLaw
from analysis.table import RunTable
from runstore import (
    RunSummary,
    atomic_write_json,
    flops_6nd,
    tokens_for_flops,
    write_jsonl,
    write_summary,
)


def synthetic_runs(
    law: ParametricLaw,
    budgets: Sequence[float] = tuple(np.logspace(16, 20, 9)),
    sizes_per_budget: int = 9,
    spread: float = 8.0,
    noise: float = 0.005,
    seed: int = 0,
    n_outliers: int = 0,
    outlier_scale: float = 0.3,
    objective: str = "clm",
    tokenizer: str = "byte",
) -> RunTable:
    """An IsoFLOP grid of runs from ``law`` with log-normal noise.

    spread: sizes run from N_opt/spread to N_opt*spread at each budget.
    n_outliers: that many runs, chosen at random among the *smallest budgets*, get their loss
    multiplied by exp(outlier_scale) (as a diverged-but-"done" run would look).
    """
    rng = np.random.default_rng(seed)
    n_list, d_list = [], []
    for c in budgets:
        n_opt = float(law.n_opt(c))
        ns = n_opt * np.logspace(-np.log10(spread), np.log10(spread), sizes_per_budget)
        n_list.extend(ns)
        d_list.extend(tokens_for_flops(c, ns))
    n = np.asarray(n_list)
    d = np.asarray(d_list)
    loss = np.asarray(law.loss(n, d)) * np.exp(noise * rng.standard_normal(n.size))
    if n_outliers:
        small = np.argsort(flops_6nd(n, d), kind="stable")[: max(n_outliers * 4, n_outliers)]
        pick = rng.choice(small, size=n_outliers, replace=False)
        loss[pick] *= np.exp(outlier_scale)
    m = n.size
    return RunTable({
        "run_id": [f"{objective}-{tokenizer}-{i:03d}" for i in range(m)],
        "objective": [objective] * m,
        "tokenizer": [tokenizer] * m,
        "n_total": n,
        "n_nonembedding": n * 0.8,
        "tokens": d,
        "loss": loss,
        "bpb": loss / np.log(2.0),  # byte tokenizer: one token is one byte
        "status": ["done"] * m,
        "epochs": np.full(m, 0.5),
        "seed": np.full(m, float(seed)),
        "bytes_per_token": np.ones(m) if tokenizer == "byte" else np.full(m, np.nan),
    })


#: A law whose IsoFLOP curves rise steeply on the large-N side (beta > alpha), as real curves
#: do over 2+ decades of N: the shape that biases an all-points parabola.
STEEP_LAW = ParametricLaw(E=1.8, A=400.0, B=4000.0, alpha=0.35, beta=0.45, name="steep",
                          source="analysis.synthetic: steep IsoFLOP curves for tests")


def wide_isoflop_runs(
    law: ParametricLaw = STEEP_LAW,
    budgets: Sequence[float] = tuple(1.25e16 * 2.0 ** np.arange(12)),
    sizes_per_budget: int = 12,
    decades: float = 2.5,
    shift: float = 0.8,
    edge_budget: bool = True,
    noise: float = 0.003,
    seed: int = 0,
    tokenizer: str = "unknown",
) -> RunTable:
    """IsoFLOP curves over `decades` of N per budget, as a fixed size grid gives them: the
    sizes' centre sits `shift` decades above the optimum at the smallest budget and as far
    below it at the largest, so the optimum moves across the sizes.  edge_budget: one more
    budget, half the smallest, whose optimum lies below all its sizes (no measured minimum)."""
    budgets = list(budgets)
    offsets = list(np.linspace(shift, -shift, len(budgets)))
    if edge_budget:
        budgets.insert(0, budgets[0] / 2)
        offsets.insert(0, decades / 2 + 0.3)
    rng = np.random.default_rng(seed)
    n_list, d_list = [], []
    for c, off in zip(budgets, offsets):
        ns = float(law.n_opt(c)) * 10 ** (np.linspace(-decades / 2, decades / 2,
                                                      sizes_per_budget) + off)
        n_list.extend(ns)
        d_list.extend(tokens_for_flops(c, ns))
    n, d = np.asarray(n_list), np.asarray(d_list)
    loss = np.asarray(law.loss(n, d)) * np.exp(noise * rng.standard_normal(n.size))
    m = n.size
    return RunTable({"run_id": [f"wide-{i:03d}" for i in range(m)], "objective": ["clm"] * m,
                     "tokenizer": [tokenizer] * m, "n_total": n, "tokens": d, "loss": loss,
                     "seed": np.full(m, float(seed))})


def _opt(x: float, cast: Any = float) -> Any:
    """cast(x), or None for NaN (summary.json is strict JSON: a missing value is null)."""
    return None if np.isnan(x) else cast(x)


def _summary(r: dict[str, Any], steps: int) -> RunSummary:
    """The summary.json of one synthetic run (exact FLOPs: 6.6 N D, 10% over 6ND)."""
    n, tok = r["n_total"], r["tokens"]
    return RunSummary(
        status=r["status"], objective=r["objective"], run_id=r["run_id"],
        seed=_opt(r["seed"], int), tokenizer=r["tokenizer"], n_params_total=int(round(n)),
        n_params_nonembedding=_opt(r["n_nonembedding"], lambda x: int(round(x))), steps=steps,
        tokens=int(round(tok)), flops=6.6 * n * tok, flops_6nd=flops_6nd(round(n), round(tok)),
        flops_per_token=6.6 * n, final_eval_loss=round(r["loss"], 6),
        final_eval_bpb=_opt(r["bpb"], lambda x: round(x, 6)), epochs=_opt(r["epochs"]),
        bytes_per_token=_opt(r["bytes_per_token"]), wall_s=1.0,
        versions={"analysis.synthetic": "1"})


def _curve(r: dict[str, Any], law: ParametricLaw | None, points: int,
           rng: np.random.Generator) -> list[dict[str, Any]]:
    """metrics.jsonl records: `points` log-spaced token counts ending at the run's final loss."""
    n, tok = r["n_total"], r["tokens"]
    toks = np.logspace(np.log10(tok) - 1.5, np.log10(tok), points)
    if law is not None:
        base = np.asarray(law.loss(n, toks))
        ratio = r["loss"] / float(law.loss(n, tok))
        curve = base * ratio * np.exp(0.002 * rng.standard_normal(points))
        curve[-1] = r["loss"]
    else:
        curve = np.full(points, r["loss"])
    rows = []
    for k, (t, lo) in enumerate(zip(toks, curve)):
        rec = {"step": (k + 1) * 10, "tokens": int(t), "flops": 6.6 * n * t, "lr": 1e-3,
               "train_loss": round(float(lo), 5)}
        if k == points - 1:
            rec["eval_loss"] = round(float(lo), 5)
        rows.append(rec)
    return rows


def write_results_folder(
    table: RunTable,
    root: str | Path,
    law: ParametricLaw | None = None,
    curve_points: int = 12,
    extra_statuses: Sequence[str] = (),
    half_written_line: bool = False,
    seed: int = 0,
) -> Path:
    """Write ``table`` as results/<sweep>/runs/<run-id>/{summary.json, metrics.jsonl, config.json}.

    Curves: ``curve_points`` log-spaced token counts per run, loss from ``law`` (with the
    same multiplicative noise ratio as the final point) so the curve ends at the run's loss.
    extra_statuses: add one extra run per status (e.g. "diverged") that load() must exclude.
    half_written_line: end the first run's metrics.jsonl with a truncated JSON line.
    """
    root = Path(root)
    runs = root / "runs"
    rng = np.random.default_rng(seed)
    for i, r in enumerate(table.rows()):
        d = runs / r["run_id"]
        write_summary(d, _summary(r, curve_points * 10))
        atomic_write_json(d / "config.json",
                          {"objective": r["objective"], "n": r["n_total"], "tokens": r["tokens"]})
        write_jsonl(d / "metrics.jsonl", _curve(r, law, curve_points, rng))
        if half_written_line and i == 0:
            with open(d / "metrics.jsonl", "a") as f:
                f.write('{"step": 999, "tokens": 12')  # a crash mid-append
    for status in extra_statuses:
        write_summary(runs / f"{status}-run", RunSummary(
            status=status, objective="clm", run_id=f"{status}-run", n_params_total=1000,
            tokens=1000, final_eval_loss=None))
    return root
