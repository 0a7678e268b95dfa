"""Synthetic runs drawn from a known law, for tests, benchmarks and the fixture folder.

Runs sit on an IsoFLOP grid: for each budget C, model sizes log-spaced around the law's
N_opt(C), D = C / (6 N), loss = law.loss(N, D) * exp(noise * eps) (multiplicative noise, as
the fits work on log loss).  ``write_results_folder`` writes them in the DESIGN.md layout,
with a training curve per run whose points lie on the same law (so approach 1 sees the
law's efficient frontier).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from analysis.laws import ParametricLaw
from analysis.load import RunTable


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
        d_list.extend(c / (6.0 * ns))
    n = np.asarray(n_list)
    d = np.asarray(d_list)
    loss = np.asarray(law.loss(n, d)) * np.exp(noise * rng.standard_normal(n.size))
    if n_outliers:
        small = np.argsort(6 * n * d, kind="stable")[: max(n_outliers * 4, n_outliers)]
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


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


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
    runs.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = list(table.rows())
    for i, r in enumerate(rows):
        rid = r["run_id"]
        d = runs / rid
        d.mkdir(exist_ok=True)
        n, tok = r["n_total"], r["tokens"]
        summary = {
            "status": r["status"], "objective": r["objective"], "run_id": rid,
            "n_params_total": int(round(n)), "n_params_nonembedding": int(round(r["n_nonembedding"])),
            "tokens": int(round(tok)), "flops_6nd": 6.0 * round(n) * round(tok),
            "flops": 6.6 * n * tok, "flops_per_token": 6.6 * n,
            "final_eval_loss": round(r["loss"], 6),
            "final_eval_bpb": None if np.isnan(r["bpb"]) else round(r["bpb"], 6),
            "epochs": r["epochs"], "steps": curve_points * 10, "seed": int(r["seed"]),
            "wall_s": 1.0, "tokenizer": r["tokenizer"],
            "bytes_per_token": None if np.isnan(r["bytes_per_token"]) else r["bytes_per_token"],
            "versions": {"analysis.synthetic": "1"},
        }
        _atomic_write(d / "summary.json", json.dumps(summary, indent=1))
        _atomic_write(d / "config.json", json.dumps({"objective": r["objective"], "n": n, "tokens": tok}))
        toks = np.logspace(np.log10(tok) - 1.5, np.log10(tok), curve_points)
        if law is not None:
            base = np.asarray(law.loss(n, toks))
            ratio = r["loss"] / float(law.loss(n, tok))
            curve = base * ratio * np.exp(0.002 * rng.standard_normal(curve_points))
            curve[-1] = r["loss"]
        else:
            curve = np.full(curve_points, r["loss"])
        lines = []
        for k, (t, lo) in enumerate(zip(toks, curve)):
            rec = {"step": (k + 1) * 10, "tokens": int(t), "flops": 6.6 * n * t, "lr": 1e-3,
                   "train_loss": round(float(lo), 5)}
            if k == curve_points - 1:
                rec["eval_loss"] = round(float(lo), 5)
            lines.append(json.dumps(rec))
        text = "\n".join(lines) + "\n"
        if half_written_line and i == 0:
            text += '{"step": 999, "tokens": 12'  # a crash mid-write
        _atomic_write(d / "metrics.jsonl", text)
    for status in extra_statuses:
        d = runs / f"{status}-run"
        d.mkdir(exist_ok=True)
        _atomic_write(d / "summary.json", json.dumps({
            "status": status, "objective": "clm", "run_id": f"{status}-run",
            "n_params_total": 1000, "tokens": 1000, "final_eval_loss": None}))
    return root
