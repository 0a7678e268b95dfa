"""Learning-rate schedules as pure functions of the step, usable in jit and on the host.

All decay over exactly the run's steps: a cosine run reaches min_lr_ratio x peak at its last
step (Chinchilla); WSD holds the peak and decays over the last decay_frac of the steps.
"""
from __future__ import annotations

import math

import jax.numpy as jnp

from scaling.train.config import OptimConfig


def warmup_steps(cfg: OptimConfig, total: int) -> int:
    w = cfg.warmup_steps if cfg.warmup_steps > 0 else int(round(cfg.warmup_frac * total))
    return min(w, max(total - 1, 0))


def make_schedule(cfg: OptimConfig, total: int):
    """lr(step) for step = 0 .. total-1 (the lr used by the update at that step)."""
    peak, floor = cfg.lr, cfg.lr * cfg.min_lr_ratio
    warm = warmup_steps(cfg, total)
    last = max(total - 1, 1)

    def lr(step):
        xp = jnp if not isinstance(step, (int, float)) else math
        s = step * 1.0
        ramp = (s + 1.0) / warm if warm > 0 else 1.0
        if cfg.schedule == "constant":
            frac = 0.0
            decay = 1.0
        elif cfg.schedule == "cosine":
            frac = (s - warm) / max(last - warm, 1)
            frac = _clip(xp, frac)
            decay = floor / peak + (1 - floor / peak) * 0.5 * (1 + xp.cos(math.pi * frac))
        else:  # wsd
            n_decay = max(int(round(cfg.decay_frac * total)), 1)
            start = total - n_decay  # first decaying step
            frac = _clip(xp, (s - start + 1) / n_decay)
            if cfg.decay_shape == "linear":
                shape = 1 - frac
            elif cfg.decay_shape == "cosine":
                shape = 0.5 * (1 + xp.cos(math.pi * frac))
            else:  # 1-sqrt (Hägele et al. 2024)
                shape = 1 - xp.sqrt(frac)
            decay = floor / peak + (1 - floor / peak) * shape
        if xp is math:
            return peak * (min(ramp, 1.0) if s < warm else decay)
        return peak * jnp.where(s < warm, jnp.minimum(ramp, 1.0), decay)

    return lr


def _clip(xp, x):
    if xp is math:
        return min(max(x, 0.0), 1.0)
    return jnp.clip(x, 0.0, 1.0)
