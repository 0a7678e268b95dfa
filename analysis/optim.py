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
possible) and is frozen while the others go on.  JAX is imported lazily, here only.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np


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
    e, a, b, al, be = (float(v) for v in theta)
    t1 = a - al * x
    t2 = b - be * y
    m = np.maximum(np.maximum(t1, t2), e)
    e1, e2, e3 = np.exp(t1 - m), np.exp(t2 - m), np.exp(e - m)
    s = e1 + e2 + e3
    r = m + np.log(s) - log_loss
    c = np.clip(r, -delta, delta)
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
        e, a, b, al, be = (theta[i:i + block, j:j + 1] for j in range(5))
        t1 = a - al * x
        t2 = b - be * y
        m = np.maximum(np.maximum(t1, t2), e)
        s = np.exp(t1 - m) + np.exp(t2 - m) + np.exp(e - m)
        r = m + np.log(s) - log_loss
        c = np.clip(r, -delta, delta)
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


#: Largest (rows x runs) array, in bytes, that the objective evaluates in one piece.  The
#: evaluation materialises about eight such arrays; once they overflow the last-level cache
#: (32 MiB here) each element costs 2.5x more (4,608 x 384 float32: 24 ms, against 8 ms in
#: blocks of 2,304 rows).  Smaller problems (every committed fit: at most 4,608 x 64) run in
#: one piece, exactly the program they always ran.
_BLOCK_BYTES = 4 << 20


def _fg(theta, x, y, logl, W, delta):
    """Objective and gradient of every row: theta (S,5); x, y, logl (M,); W (S,M) or (1,M).

    Large batches are split into equal blocks of rows (``_BLOCK_BYTES``), evaluated in turn.
    """
    from jax import lax

    S, M = theta.shape[0], x.shape[0]
    n = 1
    while S * M * theta.dtype.itemsize > n * _BLOCK_BYTES and n < S:
        n += 1
        while S % n:
            n += 1
    if n == 1:
        return _fg_rows(theta, x, y, logl, W, delta)
    split = lambda v: v.reshape(n, S // n, *v.shape[1:])
    if W.shape[0] == 1:
        f, g = lax.map(lambda t: _fg_rows(t, x, y, logl, W, delta), split(theta))
    else:
        f, g = lax.map(lambda tw: _fg_rows(tw[0], x, y, logl, tw[1], delta), (split(theta), split(W)))
    return f.reshape(S), g.reshape(S, 5)


def _fg_rows(theta, x, y, logl, W, delta):
    """``_fg`` in one piece."""
    import jax.numpy as jnp

    e, a, b, al, be = (theta[:, i:i + 1] for i in range(5))
    t1 = a - al * x
    t2 = b - be * y
    m = jnp.maximum(jnp.maximum(t1, t2), e)
    e1, e2, e3 = jnp.exp(t1 - m), jnp.exp(t2 - m), jnp.exp(e - m)
    s = e1 + e2 + e3
    r = m + jnp.log(s) - logl
    c = jnp.clip(r, -delta, delta)
    psi = W * c / s
    # Reductions as matrix products: XLA would otherwise re-run the exp/log chain once
    # per reduction (measured 3x slower on CPU).
    X1 = jnp.stack([jnp.ones_like(x), x], axis=1)
    Y1 = jnp.stack([jnp.ones_like(y), y], axis=1)
    g1 = (psi * e1) @ X1
    g2 = (psi * e2) @ Y1
    fe = jnp.stack([W * c * (r - 0.5 * c), psi * e3], axis=-1).sum(axis=1)
    f = fe[:, 0]
    g = jnp.stack([fe[:, 1], g1[:, 0], g2[:, 0], -g1[:, 1], -g2[:, 1]], axis=1)
    bad = ~jnp.isfinite(f) | ~jnp.all(jnp.isfinite(g), axis=1)
    return jnp.where(bad, jnp.inf, f), jnp.where(bad[:, None], 0.0, g)


def _steepest(g):
    """No usable history: a step of length at most 1, as scipy's L-BFGS-B takes first."""
    import jax.numpy as jnp

    gnorm = jnp.sqrt(jnp.sum(g * g, axis=1))
    return -g * jnp.minimum(1.0, 1.0 / jnp.maximum(gnorm, 1e-30))[:, None]


def _direction(g, Sh, Yh, rho, n_hist, memory):
    """L-BFGS two-loop recursion, as fori_loops (unrolling it made compiling 3x slower)."""
    import jax.numpy as jnp
    from jax import lax

    def back(j, carry):
        q, alphas = carry
        i = memory - 1 - j  # newest pair first; the newest is at index memory-1
        ai = rho[:, i] * jnp.sum(Sh[:, i] * q, axis=1)
        return q - ai[:, None] * Yh[:, i], alphas.at[:, i].set(ai)

    q, alphas = lax.fori_loop(0, memory, back, (g, jnp.zeros_like(rho)))
    sy = jnp.sum(Sh[:, -1] * Yh[:, -1], axis=1)
    yy = jnp.sum(Yh[:, -1] ** 2, axis=1)
    r = jnp.where(yy > 0, sy / jnp.where(yy > 0, yy, 1.0), 1.0)[:, None] * q

    def fwd(i, r):
        bi = rho[:, i] * jnp.sum(Yh[:, i] * r, axis=1)
        return r + Sh[:, i] * (alphas[:, i] - bi)[:, None]

    r = lax.fori_loop(0, memory, fwd, r)
    d = -r
    use_steepest = (n_hist == 0) | ~(jnp.sum(g * d, axis=1) < 0)
    return jnp.where(use_steepest[:, None], _steepest(g), d)


def _history(st, ok, t, d, g, gc):
    """Rows whose step passed push (s, y) into their history when the curvature sy > 0."""
    import jax.numpy as jnp

    s_new = t[:, None] * d
    y_new = gc - g
    sy = jnp.sum(s_new * y_new, axis=1)
    keep = ok & (sy > 1e-10 * jnp.sqrt(jnp.sum(s_new**2, 1) * jnp.sum(y_new**2, 1)))
    shift = lambda h, new: jnp.concatenate([h[:, 1:], new[:, None]], 1)
    Sh = jnp.where(keep[:, None, None], shift(st["Sh"], s_new), st["Sh"])
    Yh = jnp.where(keep[:, None, None], shift(st["Yh"], y_new), st["Yh"])
    rho = jnp.where(keep[:, None], shift(st["rho"], 1.0 / jnp.where(keep, sy, 1.0)), st["rho"])
    return Sh, Yh, rho, st["n_hist"] + keep.astype(jnp.int32)


def _backtrack(f, fc, t, gd):
    """Next trial of a failed step: the minimiser of the quadratic through f(0), f'(0) and
    f(t), kept within [0.1 t, 0.5 t]."""
    import jax.numpy as jnp

    denom = 2.0 * (fc - f - t * gd)
    tq = jnp.where(jnp.isfinite(fc) & (denom > 0), -gd * t * t / denom, 0.1 * t)
    return jnp.clip(tq, 0.1 * t, 0.5 * t)


def _turn(st, data, memory, max_iter, ftol, gtol):
    """One loop turn: one objective evaluation per row.  A row whose trial step passes the
    Armijo test takes it, updates its history and direction and checks convergence; a row
    whose trial fails shrinks its step for the next turn."""
    import jax.numpy as jnp

    th, f, g, d, t = st["th"], st["f"], st["g"], st["d"], st["t"]
    active = st["active"]
    gd = jnp.sum(g * d, axis=1)
    cand = th + t[:, None] * d
    fc, gc = _fg(cand, *data)
    ok = active & (fc <= f + 1e-4 * t * gd)
    Sh, Yh, rho, n_hist = _history(st, ok, t, d, g, gc)
    th2 = jnp.where(ok[:, None], cand, th)
    f2 = jnp.where(ok, fc, f)
    g2 = jnp.where(ok[:, None], gc, g)
    rel = (f - fc) / jnp.maximum(jnp.maximum(jnp.abs(f), jnp.abs(fc)), 1.0)
    # The first turn of a fresh state (f = inf, d = 0) just evaluates the start.
    iters = st["iters"] + (ok & jnp.isfinite(f)).astype(jnp.int32)
    done = ok & ((rel <= ftol) | (jnp.max(jnp.abs(gc), axis=1) <= gtol)
                 | (iters >= max_iter) | ~jnp.isfinite(fc))
    d2 = jnp.where(ok[:, None], _direction(g2, Sh, Yh, rho, n_hist, memory), d)
    t_back = _backtrack(f, fc, t, gd)
    trials = jnp.where(ok, 0, st["trials"] + active.astype(jnp.int32))
    stuck = active & ~ok & (trials >= 30)  # no acceptable step: stop, as scipy does
    return dict(th=th2, f=f2, g=g2, d=d2, t=jnp.where(ok, 1.0, jnp.where(active, t_back, t)),
                Sh=Sh, Yh=Yh, rho=rho, n_hist=n_hist, active=active & ~done & ~stuck,
                iters=iters, trials=trials)


@functools.lru_cache(maxsize=None)
def _stepper(memory: int) -> Any:
    """Build (once) the jitted batched L-BFGS stepper; jit caches one program per shape/dtype.

    The line search is folded into the loop (``_turn``): every turn makes exactly one
    objective evaluation for every row, so no row waits for another's backtracking, and the
    loop stops as soon as every row has converged or stalled (or after max_evals turns, when
    the driver compacts the rows still running into a smaller batch).
    """
    import jax
    import jax.numpy as jnp
    from jax import lax

    _enable_persistent_cache()

    def run(st, x, y, logl, W, delta, max_evals, max_iter, ftol, gtol):
        data = (x, y, logl, W, delta)
        cond = lambda carry: (carry[0] < max_evals) & jnp.any(carry[1]["active"])

        def body(carry):
            st = _turn(carry[1], data, memory, max_iter, ftol, gtol)
            return carry[0] + 1, st  # counted after the turn: op for op the program of old

        k, st = lax.while_loop(cond, body, (jnp.int32(0), st))
        return st, k

    return jax.jit(run)


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


def _enable_persistent_cache() -> None:
    """JAX's persistent compilation cache, so a fresh process reuses the compiled fitter.

    Under the suite's cache folder ($SCALING_CACHE, else ~/.cache/scaling: the rule of
    scaling.data.config.default_cache_dir, which analysis may not import) in jax/; set
    SCALING_JAX_CACHE=0 to leave JAX's settings alone.
    """
    import os
    from pathlib import Path

    import jax

    if os.environ.get("SCALING_JAX_CACHE") == "0" or jax.config.jax_compilation_cache_dir:
        return
    root = os.environ.get("SCALING_CACHE")
    path = (Path(root).expanduser() if root else Path.home() / ".cache" / "scaling") / "jax"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # a read-only home: compile in memory as before
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


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
            res, _ = run(batch, *data, W[idx] if per_row else W, scalar(delta), np.int32(chunk),
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
    pad = lambda v: np.concatenate([np.asarray(v, dtype=dtype), np.zeros(Mp - M, dtype)])
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
