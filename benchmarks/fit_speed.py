"""Approach-3 fit speed: vectorised 4,500-start L-BFGS against a scipy L-BFGS-B loop.

    .venv/bin/python benchmarks/fit_speed.py [--runs 300] [--boot 1000] [--seed 0]

Both fit the same synthetic runs (an IsoFLOP grid drawn from Hoffmann's law with 1% noise)
from the same 4,500 starts of Hoffmann's grid, in one invocation.  The vectorised fit is timed
cold (first call in the process: JAX import and XLA compilation included) and warm (second
call, as in a notebook or a bootstrap).  Objectives are both evaluated in float64.  Then
1,000 bootstrap resamples are timed (warm starts, see analysis/parametric.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np


_FRESH = """
import sys, time
t0 = time.perf_counter()
import numpy as np
from analysis import optim
from analysis.laws import REFERENCE_LAWS
from analysis.parametric import minimize_grid
from analysis.synthetic import synthetic_runs
runs = synthetic_runs(REFERENCE_LAWS["hoffmann"], budgets=np.logspace(16, 20, int(sys.argv[1])),
                      sizes_per_budget=15, noise=0.01, seed=int(sys.argv[2]))
x, y, ll = np.log(runs["n_total"]), np.log(runs["tokens"]), np.log(runs["loss"])
minimize_grid(x, y, ll, 1e-3, optim.hoffmann_grid())
print(time.perf_counter() - t0)
"""


def fresh_process_fit(n_budgets: int, seed: int) -> float:
    """Seconds for the first fit of a new process (imports included), as a notebook's first
    cell pays it; run twice, so that the second finds JAX's persistent compilation cache warm."""
    cmd = [sys.executable, "-c", _FRESH, str(n_budgets), str(seed)]
    for _ in range(2):
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def scipy_loop(x, y, ll, grid) -> tuple[float, float]:
    """(best objective, seconds) of scipy's L-BFGS-B from every start, one after another."""
    from analysis import optim
    t = time.perf_counter()
    results = [optim.scipy_minimize(s, x, y, ll, 1e-3) for s in grid]
    return min(r[1] for r in results), time.perf_counter() - t


def timed_bootstrap(x, y, ll, starts, n: int, seed: int) -> tuple[np.ndarray, float]:
    """n resamples after a small call that compiles the bootstrap's shapes; (thetas, seconds)."""
    from analysis.parametric import bootstrap_thetas
    bootstrap_thetas(x, y, ll, 1e-3, starts, 8, seed)
    t = time.perf_counter()
    boot = bootstrap_thetas(x, y, ll, 1e-3, starts, n, seed + 1)
    return boot, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=300, help="about this many runs (budgets x 15 sizes)")
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-scipy", action="store_true")
    args = ap.parse_args()

    from analysis import optim
    from analysis.laws import REFERENCE_LAWS
    from analysis.parametric import minimize_grid
    from analysis.synthetic import synthetic_runs

    law = REFERENCE_LAWS["hoffmann"]
    runs = synthetic_runs(law, budgets=np.logspace(16, 20, max(args.runs // 15, 2)),
                          sizes_per_budget=15, noise=0.01, seed=args.seed)
    x, y, ll = np.log(runs["n_total"]), np.log(runs["tokens"]), np.log(runs["loss"])
    grid = optim.hoffmann_grid()
    print(f"{len(runs)} runs, {len(grid)} starts, {os.cpu_count()} CPU cores visible")

    t = time.perf_counter()
    theta, f_vec, diag = minimize_grid(x, y, ll, 1e-3, grid)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    theta, f_vec, diag = minimize_grid(x, y, ll, 1e-3, grid)
    warm = time.perf_counter() - t

    f_sp, t_sp = (float("nan"), float("nan")) if args.skip_scipy else scipy_loop(x, y, ll, grid)
    fresh = fresh_process_fit(max(args.runs // 15, 2), args.seed)
    starts = np.vstack([theta[None], grid[diag["grid_rows"][:3]]])
    boot, t_boot = timed_bootstrap(x, y, ll, starts, args.boot, args.seed)

    e, a, b, al, be = theta
    print()
    print(f"{'fitter':<42}{'wall s':>10}{'objective (sum Huber)':>26}{'speed-up':>10}")
    print("-" * 88)
    print(f"{'scipy L-BFGS-B loop, 4,500 starts':<42}{t_sp:>10.2f}{f_sp:>26.10e}{1.0:>10.1f}")
    print(f"{'vectorised, cold (import + compile)':<42}{cold:>10.2f}{f_vec:>26.10e}{t_sp / cold:>10.1f}")
    print(f"{'vectorised, fresh process, warm cache':<42}{fresh:>10.2f}{'':>26}"
          f"{t_sp / fresh:>10.1f}")
    print(f"{'vectorised, warm':<42}{warm:>10.2f}{f_vec:>26.10e}{t_sp / warm:>10.1f}")
    print("-" * 88)
    print(f"objective: vectorised - scipy = {f_vec - f_sp:+.3e} (negative or zero: no worse)")
    print(f"starts reaching the best objective: {diag['n_at_best']} / {len(grid)}")
    print(f"fit: E {np.exp(e):.4f}  A {np.exp(a):.2f}  B {np.exp(b):.2f}  alpha {al:.4f}  beta {be:.4f}"
          f"   (true {law.E}, {law.A}, {law.B}, {law.alpha}, {law.beta})")
    ok = np.isfinite(boot).all(axis=1)
    lo, hi = np.quantile(boot[ok, 3], [0.1, 0.9])
    print(f"bootstrap: {args.boot} resamples in {t_boot:.2f} s ({ok.sum()} finite); "
          f"alpha 80% interval [{lo:.4f}, {hi:.4f}]")
    print(f"targets (issue 15): fresh process with a warm cache >= 20x the scipy loop "
          f"({t_sp / fresh:.1f}x), warm >= 40x ({t_sp / warm:.1f}x), 1,000 resamples <= 15 s "
          f"({t_boot * 1000 / args.boot:.1f} s)")


if __name__ == "__main__":
    main()
