"""The approach-3 objective and a batched L-BFGS that minimises it from many starts at once.

Model (log-sum-exp form, Hoffmann et al. 2022):
    log L_hat = LSE(a - alpha x, b - beta y, e),   x = log N, y = log D
    objective(theta) = SUM over runs of w_i * Huber_delta(log L_hat_i - log L_i)
theta = (e, a, b, alpha, beta); A = exp(a), B = exp(b), E = exp(e).  The sum, not the mean:
a mean scales the objective down by the number of runs, and L-BFGS's stopping rule (relative
reduction below ~1e-9 of max(|f|, 1)) then stops it early -- one reason Hoffmann's printed fit
is off (Besiroglu et al. 2024).

Huber is written as c (r - c/2) with c = clip(r, -delta, delta), which equals r^2/2 inside
[-delta, delta] and delta (|r| - delta/2) outside; its derivative is c.  Gradients are analytic.

``batched_lbfgs`` runs L-BFGS (memory 10, Armijo backtracking with quadratic interpolation)
on S independent problems in one jitted JAX while-loop: every start of Hoffmann's grid is a row,
and for the bootstrap every (resample, start) pair is a row with its own run weights.  A row
stops on its own (relative reduction below ftol, max |gradient| below gtol, or no step
possible) and is frozen while the others go on.  The jitted stepper is in lbfgs_step.py; JAX
is imported lazily, there and here only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from analysis import huber
from analysis.lbfgs_step import stepper as _stepper


def hoffmann_grid() -> np.ndarray:
    """Hoffmann et al.'s 4,500 starts as rows (e, a, b, alpha, beta).

    alpha, beta in {0, 0.5, ..., 2}; e in {-1, -0.5, ..., 1}; a, b in {0, 5, ..., 25}.
    """
    alpha = np.arange(0.0, 2.01, 0.5)
    e = np.arange(-1.0, 1.01, 0.5)
    ab = np.arange(0.0, 25.1, 5.0)
    E_, A_, B_, AL, BE = np.meshgrid(e, ab, ab, alpha, alpha, indexing="ij")
    return np.stack([E_.ravel(), A_.ravel(), B_.ravel(), AL.ravel(), BE.ravel()], axis=1)


def objective_np(theta: np.ndarray, x: np.ndarray, y: np.ndarray, log_loss: np.ndarray,
                 delta: float, w: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Sum of Huber losses and its gradient for one theta, in float64 numpy (for scipy)."""
    e1, e2, e3, s, r, c = huber.terms(np, *(float(v) for v in theta), x, y, log_loss, delta)
    hub = c * (r - 0.5 * c)
    psi = c / s
    if w is not None:
        hub = hub * w
        psi = psi * w
    p1, p2 = psi * e1, psi * e2
    grad = np.array([np.sum(psi * e3), p1.sum(), p2.sum(), -(p1 @ x), -(p2 @ y)])
    f = float(hub.sum())
    if not np.isfinite(f):
        return 1e30, np.zeros(5)
    return f, grad


def objective_rows(theta: np.ndarray, x: np.ndarray, y: np.ndarray, log_loss: np.ndarray,
                   delta: float, block: int = 256) -> np.ndarray:
    """objective_np's value for every row of theta (S, 5), a block of rows at a time.

    The same float64 operations on rows of a C-ordered block (a row's sum is numpy's pairwise
    sum, as for one vector), so each value equals objective_np's bit for bit -- the grid fit
    ranks its 4,500 results by them -- in a quarter of the time of a Python loop.
    """
    theta = np.asarray(theta, dtype=float)
    out = np.empty(len(theta))
    for i in range(0, len(theta), block):
        cols = (theta[i:i + block, j:j + 1] for j in range(5))
        *_, r, c = huber.terms(np, *cols, x, y, log_loss, delta)
        out[i:i + block] = (c * (r - 0.5 * c)).sum(axis=1)
    out[~np.isfinite(out)] = 1e30
    return out


def residuals(theta: np.ndarray, x: np.ndarray, y: np.ndarray, log_loss: np.ndarray) -> np.ndarray:
    """log L_hat - log L for each run (float64)."""
    e, a, b, al, be = (float(v) for v in theta)
    t = np.stack([a - al * x, b - be * y, np.full_like(x, e)])
    m = t.max(axis=0)
    return m + np.log(np.exp(t - m).sum(axis=0)) - log_loss


def scipy_minimize(theta0: np.ndarray, x: np.ndarray, y: np.ndarray, log_loss: np.ndarray,
                   delta: float, w: np.ndarray | None = None, tight: bool = False
                   ) -> tuple[np.ndarray, float]:
    """One scipy L-BFGS-B run (no bounds) from theta0: the reference optimiser.

    tight=False uses scipy's defaults (what a plain loop over the grid does); tight=True is
    the float64 polish applied to the best rows of the batched fit.
    """
    from scipy.optimize import minimize

    opts = {"ftol": 1e-15, "gtol": 1e-12, "maxiter": 2000, "maxcor": 10} if tight else {}
    res = minimize(objective_np, np.asarray(theta0, dtype=float), jac=True, method="L-BFGS-B",
                   args=(x, y, log_loss, delta, w), options=opts)
    return np.asarray(res.x), float(res.fun)


#: Batch sizes (rows) the driver pads to and compacts unfinished rows into.  A fixed ladder
#: (and run counts padded by ``_runs_bucket``) keeps the number of distinct shapes, hence of
#: XLA compilations (about 1.5 s each on 2 CPU cores), small.
_LADDER = (32, 128, 512, 2048, 4608)


def _runs_bucket(m: int) -> int:
    """Padded run count (the pads weigh 0): 32 and 64, then two sizes per doubling (96, 128,
    192, 256, 384, ...), so a notebook compiles the fitter for a handful of sizes at most,
    never once per run count.  32 and 64 stay as they were: the float32 summation order
    depends on the padded size, and the committed approach-3 fits (22-42 runs) on it."""
    if m <= 64:
        return 32 if m <= 32 else 64
    size = 64
    while size < m:
        size = size * 3 // 2 if size & (size - 1) == 0 else size * 4 // 3
    return size


def _rows_bucket(n: int) -> int:
    for b in _LADDER:
        if n <= b:
            return b
    return -(-n // _LADDER[-1]) * _LADDER[-1]


def batched_lbfgs(theta0: np.ndarray, x: np.ndarray, y: np.ndarray, log_loss: np.ndarray,
                  delta: float, weights: np.ndarray | None = None, *, max_iter: int = 1000,
                  ftol: float = 2.2e-9, gtol: float = 1e-5, float64: bool = False,
                  memory: int = 10, chunk: int = 40, progress: str | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimise the Huber objective from every row of theta0 (S, 5) at once.

    weights: None (every run weight 1), (M,) shared, or (S, M) per row (bootstrap counts).
    log_loss: (M,) shared, or (S, M) per row (a residual bootstrap's resampled losses).
    ftol/gtol default to scipy L-BFGS-B's (factr 1e7 x machine epsilon, pgtol 1e-5).
    float64=False runs in float32 (about twice as fast; the caller polishes the best rows
    in float64).  Every ``chunk`` evaluations the rows still running are moved into the
    smallest batch of the ladder that holds them, so a slow tail does not cost the work of
    all S rows.  progress: a label for a progress bar of finished rows on stderr (tqdm; shown
    on a terminal or in a notebook).  Returns theta (S, 5), objective (S,), iterations (S,).
    """
    import jax

    dtype = np.float64 if float64 else np.float32
    S = len(theta0)
    ll_rows = np.ndim(log_loss) == 2
    theta, W, (xp, yp, lp) = _padded(theta0, weights, (x, y, log_loss), dtype)
    Sp, per_row = len(theta), W.shape[0] > 1
    out = _fresh_state(theta, memory)  # indexed by (padded) original row
    out["active"][S:] = False
    run = _stepper(memory)
    # Arguments go to the jitted stepper as numpy arrays: jnp.asarray would compile a small
    # transfer program per shape and dtype (33 of them, 0.5 s, in a fresh process).
    scalar = lambda v: np.asarray(v, dtype=dtype)
    data = (xp, yp, lp)
    tail = (np.int32(max_iter), scalar(ftol), scalar(gtol))
    with jax.enable_x64(float64):
        evals = 0
        bar = _bar(progress, S)
        while out["active"].any() and evals < 50 * max_iter:
            idx, n = _live_rows(out["active"], Sp)
            batch = {k: v[idx] for k, v in out.items()}
            if len(idx) < Sp:
                batch["active"] = np.arange(len(idx)) < n
            rows = (xp, yp, lp[idx]) if ll_rows else data
            res, _ = run(batch, *rows, W[idx] if per_row else W, scalar(delta), np.int32(chunk),
                         *tail)
            for k, v in res.items():
                out[k][idx[:n]] = np.asarray(v)[:n]
            evals += chunk
            if bar is not None:
                bar.update(S - int(out["active"][:S].sum()) - bar.n)
        if bar is not None:
            bar.close()
    return out["th"][:S].astype(float), out["f"][:S].astype(float), out["iters"][:S]


def _padded(theta0, weights, runs, dtype) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Starts padded to a batch of the ladder (copies of the first, never run), run weights
    W (1 or Sp, Mp) and the runs' arrays padded to ``_runs_bucket`` with weight 0."""
    S, M = len(theta0), len(runs[0])
    Mp, Sp = _runs_bucket(M), _rows_bucket(S)
    w = None if weights is None else np.asarray(weights, dtype=dtype)
    per_row = w is not None and w.ndim == 2
    W = np.zeros((Sp if per_row else 1, Mp), dtype)
    W[: (S if per_row else 1), :M] = 1.0 if w is None else w
    theta = np.concatenate([np.asarray(theta0, dtype=dtype),
                            np.repeat(np.asarray(theta0[:1], dtype=dtype), Sp - S, axis=0)])
    def pad(v):
        v = np.asarray(v, dtype=dtype)
        if v.ndim == 2:  # per-row losses: rows padded like theta, runs like the weights
            v = np.concatenate([v, np.repeat(v[:1], Sp - S, axis=0)])
            return np.concatenate([v, np.zeros((Sp, Mp - M), dtype)], axis=1)
        return np.concatenate([v, np.zeros(Mp - M, dtype)])
    return theta, W, [pad(v) for v in runs]


def _live_rows(active: np.ndarray, Sp: int) -> tuple[np.ndarray, int]:
    """(rows of the next batch, how many of them run): all Sp rows while the live ones need
    a batch that large, else the live rows in the smallest batch of the ladder that holds
    them, padded with copies of one of them that stay inactive."""
    live = np.flatnonzero(active)
    size = min(_rows_bucket(live.size), Sp)
    if size >= Sp:
        return np.arange(Sp), Sp
    return np.concatenate([live, np.full(size - live.size, live[0])]), live.size


def bar_label(label: str, progress: bool | None = None) -> str | None:
    """`label` when a progress bar is wanted, else None: ``progress=False``, or left as None
    with the environment variable SCALING_PROGRESS=0 (or 'false', 'no', 'off'), hides it."""
    import os

    if progress is None:
        progress = os.environ.get("SCALING_PROGRESS", "1").strip().lower() not in (
            "0", "false", "no", "off")
    return label if progress else None


def _bar(label: str | None, total: int) -> Any:
    """A tqdm bar of finished rows: None without a label; hidden on a stderr that is no
    terminal, except in a notebook (ipykernel loaded), whose streams never are: there a
    widget with ipywidgets, else the text bar (tqdm.auto would warn and then hide it)."""
    if label is None:
        return None
    import sys

    from tqdm import std

    kw = dict(total=total, desc=label, unit="fit", leave=False)
    if "ipykernel" not in sys.modules:
        return std.tqdm(**kw, disable=None)
    from tqdm import notebook

    if notebook.IProgress is not None:
        return notebook.tqdm(**kw)
    return std.tqdm(**kw, disable=False)


def _fresh_state(theta0: np.ndarray, memory: int) -> dict[str, np.ndarray]:
    """Stepper state before the first evaluation: f = inf and d = 0, so the first turn
    evaluates each start and sets its first (steepest-descent) direction."""
    S, dt = len(theta0), theta0.dtype
    return dict(th=theta0.copy(), f=np.full(S, np.inf, dt), g=np.zeros((S, 5), dt),
                d=np.zeros((S, 5), dt), t=np.ones(S, dt), Sh=np.zeros((S, memory, 5), dt),
                Yh=np.zeros((S, memory, 5), dt), rho=np.zeros((S, memory), dt),
                n_hist=np.zeros(S, np.int32), active=np.isfinite(theta0).all(axis=1),
                iters=np.zeros(S, np.int32), trials=np.zeros(S, np.int32))
