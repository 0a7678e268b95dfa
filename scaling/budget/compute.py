"""Compute units, in one place: FLOPs, PF/s-days, device-days, tokens for a budget.

Conventions (docs/design.md, "Units"): C = 6 N D FLOPs for fits and budgets; 1 PF/s-day = 1e15 FLOP/s
for 86,400 s = 8.64e19 FLOP; device-days = C / (peak x MFU x 86,400). Time estimates should be fed
the *exact* FLOPs (`ModelConfig.flops_per_token() x D`); 6ND is the budget's bookkeeping unit.
Every function takes and returns plain floats and checks its inputs are positive and finite.
"""
from __future__ import annotations

import math

from runstore import PF_DAY, tokens_for_flops
from runstore import flops_6nd as _flops_6nd

#: Assumed model-FLOPs utilisation on accelerators when not measured: a typical figure for small
#: dense transformers (Chowdhery et al. 2022 report 46% for PaLM 540B; models of 1e7-1e9
#: parameters usually reach less). The planner, `scaling plan` and the calculator share it.
DEFAULT_MFU_ACCEL = 0.35
#: Seconds in a day.
DAY_S = 86_400.0
#: Chinchilla's rule of thumb: compute-optimal training tokens per parameter.
CHINCHILLA_TOKENS_PER_PARAM = 20.0


def _pos(name: str, x: float) -> float:
    x = float(x)
    if not math.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {x}")
    return x


def flops_6nd(n_params: float, tokens: float) -> float:
    """Training compute C = 6 N D FLOPs."""
    return _flops_6nd(_pos("n_params", n_params), _pos("tokens", tokens))


def tokens_for_budget(flops: float, n_params: float) -> float:
    """D = C / (6 N): tokens that budget C buys for a model of N parameters."""
    return tokens_for_flops(_pos("flops", flops), _pos("n_params", n_params))


def params_for_budget(flops: float, tokens: float) -> float:
    """N = C / (6 D): the model size that budget C allows for D tokens."""
    return tokens_for_flops(_pos("flops", flops), _pos("tokens", tokens))


def pf_days(flops: float) -> float:
    """FLOPs -> PF/s-days."""
    return _pos("flops", flops) / PF_DAY


def flops_from_pf_days(days: float) -> float:
    """PF/s-days -> FLOPs."""
    return _pos("pf_days", days) * PF_DAY


def _mfu(mfu: float) -> float:
    mfu = _pos("mfu", mfu)
    if mfu > 1:
        raise ValueError(f"mfu is a fraction in (0, 1], got {mfu}")
    return mfu


def device_days(flops: float, peak_flops: float, mfu: float = DEFAULT_MFU_ACCEL,
                n_devices: int = 1) -> float:
    """Wall-clock days to spend `flops` on `n_devices` devices of `peak_flops` at `mfu`.

    With n_devices = 1 this is GPU-days = C / (peak x MFU x 86,400); device-days in total are
    this times n_devices.
    """
    rate = _pos("peak_flops", peak_flops) * _mfu(mfu) * _pos("n_devices", n_devices)
    return _pos("flops", flops) / (rate * DAY_S)


def flops_for_devices(peak_flops: float, mfu: float, n_devices: int, days: float) -> float:
    """Inverse of device_days: the FLOPs that n_devices deliver in `days` at `mfu`."""
    return (_pos("peak_flops", peak_flops) * _mfu(mfu) * _pos("n_devices", n_devices)
            * _pos("days", days) * DAY_S)


def devices_for_days(flops: float, peak_flops: float, mfu: float, days: float) -> float:
    """Devices needed to spend `flops` in `days` (fractional; round up to use)."""
    return _pos("flops", flops) / (_pos("peak_flops", peak_flops) * _mfu(mfu)
                                   * _pos("days", days) * DAY_S)


def chinchilla_tokens(n_params: float) -> float:
    """The 20-tokens-per-parameter rule of thumb: D = 20 N."""
    return CHINCHILLA_TOKENS_PER_PARAM * _pos("n_params", n_params)
