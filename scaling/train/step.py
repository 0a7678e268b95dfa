"""The jitted train and eval steps: pure functions of arrays, split once out of NNX.

docs/notes.md: plain `nnx.jit` spends more time in Python graph traversal than in the step for
small models, so the model is split once into (graphdef, params) and the step is a `jax.jit`ed
function of the parameter state, with the state buffers donated.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from scaling.objectives.base import Objective, Specials, weighted_xent
from scaling.train.config import OptimConfig
from scaling.train.schedule import make_schedule

EVAL_KEY_SEED = 20221  # fixed masking noise for evaluation: the same for every run of a sweep


def make_optimizer(cfg: OptimConfig, total_steps: int) -> optax.GradientTransformation:
    """AdamW (decay on matrices only) after global-norm clipping, on the run's schedule."""
    decay_mask = lambda tree: jax.tree_util.tree_map_with_path(_decays, tree)
    chain = [optax.clip_by_global_norm(cfg.grad_clip)] if cfg.grad_clip > 0 else []
    chain.append(optax.adamw(make_schedule(cfg, total_steps), b1=cfg.b1, b2=cfg.b2, eps=cfg.eps,
                             weight_decay=cfg.weight_decay, mask=decay_mask))
    return optax.chain(*chain)


def _decays(path, x) -> bool:
    """Weight decay on matrices only; a scanned model's blocks (model.scan_layers) carry a
    leading layer axis that does not make a bias or a norm scale a matrix."""
    stacked = any(getattr(k, "key", getattr(k, "name", None)) == "stacked" for k in path)
    return x.ndim - (1 if stacked else 0) >= 2


def _loss_fn(graphdef, objective: Objective, params, batch):
    model = nnx.merge(graphdef, params)
    logits_BxTxV = objective.logits(model, batch)
    nll, count = weighted_xent(logits_BxTxV, batch["targets"], batch["weights"])
    return nll / jnp.maximum(count, 1.0), (nll, count)


def _sum_loss_fn(graphdef, objective: Objective, params, batch):
    """(sum of nll, loss-bearing tokens) of one microbatch: summed, so that microbatches add."""
    model = nnx.merge(graphdef, params)
    return weighted_xent(objective.logits(model, batch), batch["targets"], batch["weights"])


def split_microbatches(batch: dict, k: int) -> dict:
    """Each array's B rows -> k x (B / k), microbatch j taking rows j, j + k, j + 2k, ...:
    strided, so that a batch sharded in contiguous rows over devices gives every device its
    share of every microbatch (no resharding)."""
    def split(x_BxN):
        B = x_BxN.shape[0]
        return jnp.swapaxes(x_BxN.reshape(B // k, k, *x_BxN.shape[1:]), 0, 1)
    return jax.tree.map(split, batch)


def accumulated_grads(graphdef, objective: Objective, params, batch, k: int):
    """(loss, grads) of the whole batch from k microbatches under one lax.scan: float32 sums of
    nll, token counts and gradients, divided once by the batch's loss-bearing tokens (MLM and
    span counts vary between microbatches, so a mean of means would weigh them wrongly)."""
    grad_fn = jax.value_and_grad(lambda p, mb: _sum_loss_fn(graphdef, objective, p, mb),
                                 has_aux=True)

    def body(carry, mb):
        nll_sum, count_sum, g_sum = carry
        (nll, count), g = grad_fn(params, mb)
        g_sum = jax.tree.map(lambda a, b: a + b.astype(jnp.float32), g_sum, g)
        return (nll_sum + nll, count_sum + count, g_sum), None

    zeros = jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params)
    init = (jnp.zeros((), jnp.float32), jnp.zeros((), jnp.float32), zeros)
    (nll, count, g_sum), _ = jax.lax.scan(body, init, split_microbatches(batch, k))
    denom = jnp.maximum(count, 1.0)
    grads = jax.tree.map(lambda g, p: (g / denom).astype(p.dtype), g_sum, params)
    return nll / denom, grads


def make_train_step(graphdef, objective: Objective, tx: optax.GradientTransformation,
                    specials: Specials, seed: int, microbatches: int = 1,
                    shardings=None) -> Callable:
    """step(params, opt_state, windows_BxW, step) -> (params, opt_state, {loss, grad_norm}).

    The objective's noise is keyed by fold_in(seed, step) and drawn for the whole batch, so a
    resumed run draws the same masks, whatever `microbatches` is. With microbatches k > 1 the
    gradient is accumulated over k slices of the batch (`accumulated_grads`); k = 1 keeps the
    one-pass step (and its golden numbers). `shardings` = (params, opt_state, gathered params):
    FSDP's sharded state stays sharded across steps, and the parameters are gathered where the
    step uses them (otherwise XLA propagates the weights' sharding into the batch-sharded
    activations and reshuffles them).
    """
    base_key = jax.random.key(seed)

    def train_step(params, opt_state, windows_BxW, step):
        key = jax.random.fold_in(base_key, step)
        batch = objective.make_batch(windows_BxW, key, specials)
        use = params if shardings is None else jax.lax.with_sharding_constraint(params,
                                                                                shardings[2])
        if microbatches > 1:
            loss, grads = accumulated_grads(graphdef, objective, use, batch, microbatches)
        else:
            grad_fn = jax.value_and_grad(lambda p: _loss_fn(graphdef, objective, p, batch),
                                         has_aux=True)
            (loss, _), grads = grad_fn(use)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return params, opt_state, {"loss": loss, "grad_norm": _global_norm(grads)}

    if shardings is None:
        return jax.jit(train_step, donate_argnums=(0, 1))
    return jax.jit(train_step, donate_argnums=(0, 1), out_shardings=(*shardings[:2], None))


def _global_norm(tree) -> jax.Array:
    # written out: optax renamed its helper twice between the versions we support
    return jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(tree)))


def make_eval_step(graphdef, objective: Objective, specials: Specials) -> Callable:
    """eval(params, windows_BxW, batch_index, byte_len_V) -> (sum nll, loss tokens, their bytes).

    Noise is keyed by a fixed seed and the batch index only, so every run of a sweep is scored on
    the same masks.
    """
    base_key = jax.random.key(EVAL_KEY_SEED)

    def eval_step(params, windows_BxW, index, byte_len_V):
        batch = objective.make_batch(windows_BxW, jax.random.fold_in(base_key, index), specials)
        _, (nll, count) = _loss_fn(graphdef, objective, params, batch)
        nbytes = (byte_len_V[batch["targets"]] * batch["weights"]).sum()
        return nll, count, nbytes

    return jax.jit(eval_step)


def evaluate(eval_fn, params, batches, byte_len_V, put) -> dict[str, Any]:
    """Mean validation loss (nats per loss-bearing token) and bits per byte over fixed batches."""
    sums = [eval_fn(params, put(w), i, byte_len_V) for i, w in enumerate(batches)]
    nll = sum(float(s[0]) for s in sums)
    count = sum(float(s[1]) for s in sums)
    nbytes = sum(float(s[2]) for s in sums)
    loss = nll / max(count, 1.0)
    bpb = nll / math.log(2) / nbytes if nbytes > 0 else None
    return {"eval_loss": loss, "eval_bpb": bpb, "eval_tokens": int(count)}


def split_model(model: nnx.Module):
    """(graphdef, params) once; the model must hold parameters only."""
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    assert not jax.tree.leaves(rest), "model holds non-parameter state"
    return graphdef, params
