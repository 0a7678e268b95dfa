"""Per-size training recipe: the run config of one grid point's optimizer and batch.

Rules are functions of the run's ACTUAL parameter count N (the shape rule's, total or
non-embedding as the grid says), never the nominal target, so a table or power law fitted on
recorded N reproduces. Learning rate, batch size and beta2 follow `SizeRule`s
(scaling/sweep/config.py); warmup may be given in tokens per parameter (Porian et al. 2024 warm up
for about N tokens); the schedule decays over exactly the run's steps (scaling/train/schedule.py:
cosine to min_lr_ratio at the last step, Chinchilla; or WSD).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from runstore import InputError
from scaling.sweep.config import RecipeConfig
from scaling.train.config import RunConfig


@dataclass(frozen=True)
class Hyper:
    """The recipe's choices for one size."""

    lr: float
    batch_size: int
    b2: float
    schedule: str


def hyper(recipe: RecipeConfig, base: RunConfig, n: float) -> Hyper:
    """lr, batch size, beta2 and schedule for a model of n parameters."""
    lr = recipe.lr(n) if recipe.lr is not None else base.optim.lr
    bs = recipe.batch_size(n) if recipe.batch_size is not None else base.train.batch_size
    b2 = recipe.b2(n) if recipe.b2 is not None else base.optim.b2
    batch = int(round(bs))
    if batch < 1:
        raise InputError(f"the batch rule gives {bs:g} (< 1) at N = {n:.4g}",
                          key="recipe.batch_size")
    if not 0 < b2 < 1:
        raise InputError(f"the beta2 rule gives {b2:g} at N = {n:.4g}; need (0, 1)",
                          key="recipe.b2")
    if not lr > 0:
        raise InputError(f"the lr rule gives {lr:g} at N = {n:.4g}", key="recipe.lr")
    schedule = recipe.schedule or base.optim.schedule
    return Hyper(lr=float(lr), batch_size=batch, b2=float(b2),
                 schedule="wsd" if schedule == "wsd_branch" else schedule)  # branching.py


def warmup_steps(recipe: RecipeConfig, n: float, tokens_per_step: int, steps: int) -> int:
    """Warmup in steps from warmup_tokens_per_param (0: keep the base's warmup)."""
    if not recipe.warmup_tokens_per_param:
        return 0
    w = max(1, round(recipe.warmup_tokens_per_param * n / tokens_per_step))
    return min(w, max(steps - 1, 1))


def apply(base: RunConfig, h: Hyper, steps: int, warmup: int) -> RunConfig:
    """The base config with this point's recipe and length."""
    optim = dataclasses.replace(base.optim, lr=h.lr, b2=h.b2, schedule=h.schedule,
                                **({"warmup_steps": warmup} if warmup else {}))
    train = dataclasses.replace(base.train, batch_size=h.batch_size, steps=steps, tokens=0)
    return dataclasses.replace(base, optim=optim, train=train)
