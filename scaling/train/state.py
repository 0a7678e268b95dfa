"""The train state of one model: built the same way by the trainer, the planner's `--measure`
and `--check-memory`, and the step benchmark, so that what they time is what a run trains."""
from __future__ import annotations

import functools
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
    make_step: Callable[[Any], Callable]  # shardings -> a step that keeps them
    fsdp: bool = False

    def put(self, mesh) -> None:
        """Lay the state out over the mesh's devices (after any restore): replicated, or with
        FSDP sharded by `sharding.state_shardings`, and the step compiled to keep it so."""
        if not self.fsdp:
            self.state = sharding.put_replicated(self.state, mesh)
            return
        shardings = sharding.state_shardings(self.state, mesh, fsdp=True)
        self.state = sharding.put_tree(self.state, shardings)
        gathered = sharding.state_shardings(self.state["params"], mesh, fsdp=False)
        self.step_fn = self.make_step((shardings["params"], shardings["opt_state"], gathered))


def build_train_state(model: ModelConfig, objective: Objective, optim: OptimConfig,
                      total_steps: int, specials: Specials, seed: int, *,
                      microbatches: int = 1, fsdp: bool = False) -> TrainState:
    """Initialise the model from `seed`, its AdamW state on the run's schedule, and the step
    (accumulating over `microbatches`; `fsdp`: state sharded once `put` on a mesh)."""
    graphdef, params = split_model(build_model(model, seed))
    tx = make_optimizer(optim, total_steps)
    make_step = functools.partial(make_train_step, graphdef, objective, tx, specials, seed,
                                  microbatches)
    return TrainState(graphdef, tx, {"params": params, "opt_state": tx.init(params)},
                      make_step(None), lambda sh: make_step(shardings=sh), fsdp)


def compiled_memory(ts: TrainState, mesh, batch_size: int, window: int) -> dict[str, int]:
    """XLA's memory analysis of the compiled train step (per device, bytes): arguments (state and
    batch), outputs, temporaries, and the peak = arguments + outputs - donated aliases +
    temporaries. Lowered for abstract windows: nothing is run."""
    import jax
    import numpy as np

    w = jax.ShapeDtypeStruct((batch_size, window), np.int32,
                             sharding=sharding.batch_sharding(mesh))
    s = ts.state
    m = ts.step_fn.lower(s["params"], s["opt_state"], w, 0).compile().memory_analysis()
    out = {"arguments": int(m.argument_size_in_bytes), "outputs": int(m.output_size_in_bytes),
           "aliased": int(m.alias_size_in_bytes), "temporaries": int(m.temp_size_in_bytes)}
    out["peak"] = out["arguments"] + out["outputs"] - out["aliased"] + out["temporaries"]
    return out
