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


@functools.lru_cache(maxsize=None)
def _stepper(memory: int) -> Any:
    """Build (once) the jitted batched L-BFGS stepper; jit caches one program per shape/dtype.

    The line search is folded into the outer loop: every loop turn makes exactly one
    objective evaluation for every row.  A row whose trial step passes the Armijo test takes
    it and computes its next L-BFGS direction; a row whose trial fails shrinks its step and
    tries again on the next turn.  So no row waits for another's backtracking, and the cost
    is (evaluations of the slowest row) x rows -- which the driver keeps small by compacting
    finished rows away between calls.
    """
    import jax
    import jax.numpy as jnp
    from jax import lax

    _enable_persistent_cache()

    def fg(theta, x, y, logl, W, delta):
        # theta (S,5); x, y, logl (M,); W (S,M) or (1,M) run weights.
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

    def steepest(g):
        # No usable history: a step of length at most 1, as scipy's L-BFGS-B takes first.
        gnorm = jnp.sqrt(jnp.sum(g * g, axis=1))
        return -g * jnp.minimum(1.0, 1.0 / jnp.maximum(gnorm, 1e-30))[:, None]

    def direction(g, Sh, Yh, rho, n_hist):
        # Two-loop recursion as fori_loops (unrolling it made compiling 3x slower).
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
        return jnp.where(use_steepest[:, None], steepest(g), d)

    def run(st, x, y, logl, W, delta, max_evals, max_iter, ftol, gtol):
        def cond(carry):
            k, st = carry
            return (k < max_evals) & jnp.any(st["active"])

        def body(carry):
            k, st = carry
            th, f, g, d, t = st["th"], st["f"], st["g"], st["d"], st["t"]
            active = st["active"]
            gd = jnp.sum(g * d, axis=1)
            cand = th + t[:, None] * d
            fc, gc = fg(cand, x, y, logl, W, delta)
            ok = active & (fc <= f + 1e-4 * t * gd)
            # -- rows whose step passed: take it, update the history, check convergence.
            s_new = t[:, None] * d
            y_new = gc - g
            sy = jnp.sum(s_new * y_new, axis=1)
            keep = ok & (sy > 1e-10 * jnp.sqrt(jnp.sum(s_new**2, 1) * jnp.sum(y_new**2, 1)))
            shift = lambda h, new: jnp.concatenate([h[:, 1:], new[:, None]], 1)
            Sh = jnp.where(keep[:, None, None], shift(st["Sh"], s_new), st["Sh"])
            Yh = jnp.where(keep[:, None, None], shift(st["Yh"], y_new), st["Yh"])
            rho = jnp.where(keep[:, None], shift(st["rho"], 1.0 / jnp.where(keep, sy, 1.0)), st["rho"])
            n_hist = st["n_hist"] + keep.astype(jnp.int32)
            th2 = jnp.where(ok[:, None], cand, th)
            f2 = jnp.where(ok, fc, f)
            g2 = jnp.where(ok[:, None], gc, g)
            rel = (f - fc) / jnp.maximum(jnp.maximum(jnp.abs(f), jnp.abs(fc)), 1.0)
            # The first turn of a fresh state (f = inf, d = 0) just evaluates the start.
            iters = st["iters"] + (ok & jnp.isfinite(f)).astype(jnp.int32)
            done = ok & ((rel <= ftol) | (jnp.max(jnp.abs(gc), axis=1) <= gtol)
                         | (iters >= max_iter) | ~jnp.isfinite(fc))
            d2 = jnp.where(ok[:, None], direction(g2, Sh, Yh, rho, n_hist), d)
            # -- rows whose step failed: backtrack to the minimiser of the quadratic through
            # f(0), f'(0) and f(t), kept within [0.1 t, 0.5 t].
            denom = 2.0 * (fc - f - t * gd)
            tq = jnp.where(jnp.isfinite(fc) & (denom > 0), -gd * t * t / denom, 0.1 * t)
            t_back = jnp.clip(tq, 0.1 * t, 0.5 * t)
            trials = jnp.where(ok, 0, st["trials"] + active.astype(jnp.int32))
            stuck = active & ~ok & (trials >= 30)  # no acceptable step: stop, as scipy does
            new = dict(th=th2, f=f2, g=g2, d=d2, t=jnp.where(ok, 1.0, jnp.where(active, t_back, t)),
                       Sh=Sh, Yh=Yh, rho=rho, n_hist=n_hist, active=active & ~done & ~stuck,
                       iters=iters, trials=trials)
            return k + 1, new

        k, st = lax.while_loop(cond, body, (jnp.int32(0), st))
        return st, k

    return jax.jit(run)


#: Batch sizes (rows) the driver pads to and compacts unfinished rows into.  A fixed ladder
#: (and run counts padded to a multiple of 32, with weight 0) keeps the number of distinct
#: shapes, hence of XLA compilations (about 1.5 s each on 2 CPU cores), small.
_LADDER = (32, 128, 512, 2048, 4608)


#: Run counts are padded (weight 0) to a multiple of this: 1-32 runs share one compilation,
#: 33-64 the next.  (A coarser ladder would compile less often but changes the float32
#: summation order, and with it the committed approach-3 fits' last digits: kept at 32.)
_RUNS_STEP = 32


def _runs_bucket(m: int) -> int:
    return -(-m // _RUNS_STEP) * _RUNS_STEP


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
    import jax.numpy as jnp

    dtype = np.float64 if float64 else np.float32
    S, M = len(theta0), len(x)
    Mp = _runs_bucket(M)  # runs padded with weight 0 to a fixed size: one compilation per session
    Sp = _rows_bucket(S)
    pad_m = lambda v: np.concatenate([np.asarray(v, dtype=dtype), np.zeros(Mp - M, dtype)])
    w = None if weights is None else np.asarray(weights, dtype=dtype)
    per_row = w is not None and w.ndim == 2
    W = np.zeros((Sp if per_row else 1, Mp), dtype)
    W[: (S if per_row else 1), :M] = 1.0 if w is None else w
    theta = np.concatenate([np.asarray(theta0, dtype=dtype),
                            np.repeat(np.asarray(theta0[:1], dtype=dtype), Sp - S, axis=0)])
    out = _fresh_state(theta, memory)  # indexed by (padded) original row
    out["active"][S:] = False
    run = _stepper(memory)
    with jax.enable_x64(float64):
        cast = lambda v: jnp.asarray(np.asarray(v, dtype=dtype))
        xj, yj, lj, dj = cast(pad_m(x)), cast(pad_m(y)), cast(pad_m(log_loss)), cast(delta)
        tail = (jnp.int32(max_iter), cast(ftol), cast(gtol))
        evals = 0
        bar = _bar(progress, S)
        while out["active"].any() and evals < 50 * max_iter:
            live = np.flatnonzero(out["active"])
            size = min(_rows_bucket(live.size), Sp)
            if size >= Sp:
                idx, n = np.arange(Sp), Sp
            else:
                # Compact: the live rows, padded with inactive copies of one of them.
                idx, n = np.concatenate([live, np.full(size - live.size, live[0])]), live.size
            batch = {k: jnp.asarray(v[idx]) for k, v in out.items()}
            if size < Sp:
                batch["active"] = jnp.asarray(np.arange(size) < n)
            res, _ = run(batch, xj, yj, lj, cast(W[idx] if per_row else W), dj, jnp.int32(chunk), *tail)
            for k, v in res.items():
                out[k][idx[:n]] = np.asarray(v)[:n]
            evals += chunk
            if bar is not None:
                bar.update(S - int(out["active"][:S].sum()) - bar.n)
        if bar is not None:
            bar.close()
    return out["th"][:S].astype(float), out["f"][:S].astype(float), out["iters"][:S]


def _bar(label: str | None, total: int) -> Any:
    """A tqdm bar (None without a label; tqdm hides it when stderr is not a terminal)."""
    if label is None:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=label, unit="fit", leave=False, disable=None)


def _fresh_state(theta0: np.ndarray, memory: int) -> dict[str, np.ndarray]:
    """Stepper state before the first evaluation: f = inf and d = 0, so the first turn
    evaluates each start and sets its first (steepest-descent) direction."""
    S, dt = len(theta0), theta0.dtype
    return dict(th=theta0.copy(), f=np.full(S, np.inf, dt), g=np.zeros((S, 5), dt),
                d=np.zeros((S, 5), dt), t=np.ones(S, dt), Sh=np.zeros((S, memory, 5), dt),
                Yh=np.zeros((S, memory, 5), dt), rho=np.zeros((S, memory), dt),
                n_hist=np.zeros(S, np.int32), active=np.isfinite(theta0).all(axis=1),
                iters=np.zeros(S, np.int32), trials=np.zeros(S, np.int32))
