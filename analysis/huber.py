"""The forward chain of the approach-3 objective (optim.py's docstring), written once for numpy
(float64: scipy, the ranking of the grid's results) and for JAX (float32: the batched L-BFGS).

Both callers pass their array module; the operations and their order are the same, so every
caller computes the numbers it computed when each had its own copy.
"""
from __future__ import annotations


def terms(xp, e, a, b, al, be, x, y, log_loss, delta):
    """(e1, e2, e3, s, r, c) of log L_hat = LSE(a - alpha x, b - beta y, e) against log_loss:
    the three exponentials after the max shift, their sum, the residual r = log L_hat - log L
    and c = clip(r, -delta, delta), from which Huber = c (r - c/2) and its derivative c."""
    t1 = a - al * x
    t2 = b - be * y
    m = xp.maximum(xp.maximum(t1, t2), e)
    e1, e2, e3 = xp.exp(t1 - m), xp.exp(t2 - m), xp.exp(e - m)
    s = e1 + e2 + e3
    r = m + xp.log(s) - log_loss
    return e1, e2, e3, s, r, xp.clip(r, -delta, delta)
