"""The jitted batched L-BFGS stepper of optim.batched_lbfgs: objective and gradient of every
row, the two-loop direction, the Armijo backtracking folded into one turn per evaluation, and
the while-loop that runs turns until every row has converged or stalled. JAX is imported
lazily, here only; the persistent compilation cache is switched on when the stepper is first
built.
"""
from __future__ import annotations

import functools
from typing import Any

#: Largest (rows x runs) array, in bytes, that the objective evaluates in one piece.  The
#: evaluation materialises about eight such arrays; once they overflow the last-level cache
#: (32 MiB here) each element costs 2.5x more (4,608 x 384 float32: 24 ms, against 8 ms in
#: blocks of 2,304 rows).  Smaller problems (every committed fit: at most 4,608 x 64) run in
#: one piece, exactly the program they always ran.
_BLOCK_BYTES = 4 << 20


def _fg(theta, x, y, logl, W, delta):
    """Objective and gradient of every row: theta (S,5); x, y (M,); logl (M,) shared or (S,M)
    per row (a residual bootstrap's resampled losses); W (S,M) or (1,M).

    Large batches are split into equal blocks of rows (``_BLOCK_BYTES``), evaluated in turn.
    """
    import jax.numpy as jnp
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
    if logl.ndim == 2:
        W = W if W.shape[0] > 1 else jnp.broadcast_to(W, (S, M))
        f, g = lax.map(lambda tw: _fg_rows(tw[0], x, y, tw[2], tw[1], delta),
                       (split(theta), split(W), split(logl)))
    elif W.shape[0] == 1:
        f, g = lax.map(lambda t: _fg_rows(t, x, y, logl, W, delta), split(theta))
    else:
        f, g = lax.map(lambda tw: _fg_rows(tw[0], x, y, logl, tw[1], delta), (split(theta), split(W)))
    return f.reshape(S), g.reshape(S, 5)


def _fg_rows(theta, x, y, logl, W, delta):
    """``_fg`` in one piece."""
    import jax.numpy as jnp

    from analysis import huber

    cols = (theta[:, i:i + 1] for i in range(5))
    e1, e2, e3, s, r, c = huber.terms(jnp, *cols, x, y, logl, delta)
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
def stepper(memory: int) -> Any:
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
