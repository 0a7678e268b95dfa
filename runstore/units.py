"""Units and the compute arithmetic every part shares: PF/s-days, C = 6 N D, the Chinchilla
allocation, finite numbers and the one number formatter."""
from __future__ import annotations

import math
from typing import Any

#: 1 PF/s-day in FLOPs.
PF_DAY = 8.64e19


def flops_6nd(n_params: Any, tokens: Any) -> Any:
    """Chinchilla's training compute C = 6 N D (scalars or numpy arrays)."""
    return 6.0 * n_params * tokens


def tokens_for_flops(flops: Any, n_params: Any) -> Any:
    """D = C / (6 N), the inverse of `flops_6nd`."""
    return flops / (6.0 * n_params)


def params_for_flops(flops: Any, tokens: Any) -> Any:
    """N = C / (6 D): the model size that budget C allows for D tokens."""
    return flops / (6.0 * tokens)


def chinchilla_allocation(E: Any, A: Any, B: Any, alpha: Any, beta: Any, flops: Any
                          ) -> tuple[Any, Any]:
    """Compute-optimal (N_opt, D_opt) of L = E + A/N^alpha + B/D^beta under C = 6ND
    (Hoffmann et al. 2022, eq. 4): G = (alpha A / (beta B))^(1/(alpha+beta)),
    N_opt = G (C/6)^(beta/(alpha+beta)), D_opt = C / (6 N_opt). Broadcasts over numpy arrays
    (bootstrap draws); E does not enter (kept so a law's five constants pass as they are)."""
    del E
    G = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
    n_opt = G * (flops / 6.0) ** (beta / (alpha + beta))
    return n_opt, tokens_for_flops(flops, n_opt)


def finite_number(v: Any) -> float | int | None:
    """`v` if it is a finite JSON number (not a bool), else None: a damaged or foreign value."""
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    return v if ok else None


def finite_float(v: Any) -> float | None:
    """float(v) if that is finite, else None (numpy scalars included)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) and not isinstance(v, bool) else None


_SI = (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3))


def fmt_si(x: float | None, unit: str = "", *, digits: int = 3, sep: str = "",
           floor: float = 1.0) -> str:
    """12_500_000 -> '12.5M' (`digits` significant); None -> 'n/a'. Values below 1k print plain.

    `floor` < 1 lets a value just under a unit round up into it (run ids: 999,900 -> '1M').
    """
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    for s, scale in _SI:
        if abs(x) >= scale * floor:
            v = f"{x / scale:.{digits}g}"
            return (v if "e" not in v else f"{x / scale:.0f}") + sep + s + unit
    return f"{x:.{digits}g}{sep}{unit}"
