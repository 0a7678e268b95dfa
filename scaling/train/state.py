"""The train state of one model: built the same way by the trainer, the planner's `--measure`
and the step benchmark, so that what they time is what a run trains."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import optax

from scaling.model.config import ModelConfig
from scaling.model.transformer import build_model
from scaling.objectives import Objective, Specials
from scaling.train import sharding
from scaling.train.config import OptimConfig
from scaling.train.step import make_optimizer, make_train_step, split_model


@dataclass
class TrainState:
    """The split model, its optimizer and the jitted step; `state` is {"params", "opt_state"}."""

    graphdef: Any
    tx: optax.GradientTransformation
    state: dict
    step_fn: Callable   # step(params, opt_state, windows_BxW, step) -> (params, opt_state, metrics)

    def put(self, mesh) -> None:
        """Replicate the state over the mesh's devices (after any restore)."""
        self.state = sharding.put_replicated(self.state, mesh)


def build_train_state(model: ModelConfig, objective: Objective, optim: OptimConfig,
                      total_steps: int, specials: Specials, seed: int) -> TrainState:
    """Initialise the model from `seed`, its AdamW state on the run's schedule, and the step."""
    graphdef, params = split_model(build_model(model, seed))
    tx = make_optimizer(optim, total_steps)
    step_fn = make_train_step(graphdef, objective, tx, specials, seed)
    return TrainState(graphdef, tx, {"params": params, "opt_state": tx.init(params)}, step_fn)
