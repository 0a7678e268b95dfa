#!/usr/bin/env python
"""Variants of the suite's causal train step, timed interleaved in one process.

    python -m benchmarks.step_variants --config A [--variants base,grads_only,no_attention,
        attention_vjp] [--steps 8] [--rounds 8]

Every variant is compiled first; then each round runs `--steps` steps of every variant in turn,
so that the machine's drift (these VMs are shared) falls on all of them alike. Prints the
median, 25th percentile and minimum step time and a digest of the parameters after the run
(equal digests: the same bits).

  base           the suite's step (benchmarks.suite_step.build, as every step benchmark)
  grads_only     value_and_grad and a plain SGD update: what the optimizer chain costs
  no_attention   attention replaced by its values (y = v): what attention costs in the model
  attention_vjp  causal attention with a hand-written backward (flash-attention's formulas on
                 the same blocks) whose dK / dV products take materialised transposes, so that
                 every attention matmul goes to YNNPACK rather than XLA's Eigen dot (YNNPACK
                 takes no left operand contracted on a non-minor dimension). Not bit-identical.
"""
from __future__ import annotations

import argparse
import hashlib
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import suite_step  # imports scaling first: the malloc fix, before jax allocates
from benchmarks.shapes import SHAPES
from scaling.model import layers
from scaling.train import step as step_mod

BLOCK = layers.CAUSAL_BLOCK
_T = lambda a: jax.lax.optimization_barrier(jnp.swapaxes(a, -1, -2))  # a transpose XLA keeps


def _blocks(T):
    return [(s, s + BLOCK) for s in range(0, T, BLOCK)]


def _probs(q_i, k_e, s0, e):
    s_BxHxCxE = jnp.einsum("bhtk,bhsk->bhts", q_i, k_e)
    rows, cols = jnp.arange(s0, e)[:, None], jnp.arange(e)[None, :]
    return jax.nn.softmax(jnp.where(cols <= rows, s_BxHxCxE, -jnp.inf), axis=-1)


def _forward(q, k, v):
    probs = [_probs(q[:, :, s0:e], k[:, :, :e], s0, e) for s0, e in _blocks(q.shape[2])]
    outs = [jnp.einsum("bhts,bhsk->bhtk", p, v[:, :, :p.shape[-1]]) for p in probs]
    return jnp.concatenate(outs, axis=2), probs


@jax.custom_vjp
def causal_vjp(q, k, v):
    return _forward(q, k, v)[0]


def _fwd(q, k, v):
    o, probs = _forward(q, k, v)
    return o, (q, k, v, probs)


def _bwd(res, do):
    q, k, v, probs = res
    dq, dk, dv = [], jnp.zeros_like(k), jnp.zeros_like(v)
    for (s0, e), p in zip(_blocks(q.shape[2]), probs):
        do_i = do[:, :, s0:e]
        dv = dv.at[:, :, :e].add(jnp.einsum("bhst,bhtk->bhsk", _T(p), do_i))
        dp = jnp.einsum("bhtk,bhsk->bhts", do_i, v[:, :, :e])
        ds = p * (dp - jnp.sum(dp * p, axis=-1, keepdims=True))
        dq.append(jnp.einsum("bhts,bhsk->bhtk", ds, k[:, :, :e]))
        dk = dk.at[:, :, :e].add(jnp.einsum("bhst,bhtk->bhsk", _T(ds), q[:, :, s0:e]))
    return jnp.concatenate(dq, axis=2), dk, dv


causal_vjp.defvjp(_fwd, _bwd)


def attend_vjp(q, k, v, causal, impl="einsum"):
    q = q * jnp.asarray(q.shape[-1] ** -0.5, q.dtype)
    q, k, v = (t.transpose(0, 2, 1, 3) for t in (q, k, v))
    return causal_vjp(q, k, v).transpose(0, 2, 1, 3)


def no_attention(q, k, v, causal, impl="einsum"):
    return v


def build(variant: str, batch: int, **shape):
    """(step, params, opt_state, suite step) compiled for one variant of the step that
    `suite_step.build("clm", **shape)` makes, for windows of `batch` examples."""
    patch = {"no_attention": no_attention, "attention_vjp": attend_vjp}.get(variant)
    orig = layers.attend
    layers.attend = patch or orig
    try:
        ss = suite_step.build("clm", **shape)
        ts, obj, sp = ss.train, ss.objective, ss.specials
        p, o = ts.state["params"], ts.state["opt_state"]
        fn = ts.step_fn
        if variant == "grads_only":
            def sgd(params, opt_state, w, s):
                batch = obj.make_batch(w, jax.random.fold_in(jax.random.key(0), s), sp)
                loss_fn = lambda q: step_mod._loss_fn(ts.graphdef, obj, q, batch)
                (loss, _), g = jax.value_and_grad(loss_fn, has_aux=True)(params)
                return jax.tree.map(lambda a, b: a - 0.1 * b, params, g), opt_state, {"loss": loss}
            fn = jax.jit(sgd, donate_argnums=(0, 1))
        w = jax.ShapeDtypeStruct((batch, ss.window), np.int32)
        compiled = fn.lower(p, o, w, 0).compile()  # compiled while the patch is in place
    finally:
        layers.attend = orig
    return compiled, p, o, ss


def digest(tree) -> str:
    h = hashlib.sha256()
    for x in jax.tree.leaves(tree):
        h.update(np.asarray(x).tobytes())
    return h.hexdigest()[:12]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", choices=sorted(SHAPES), default="A")
    ap.add_argument("--variants", default="base,grads_only,no_attention,attention_vjp")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=8)
    a = ap.parse_args()
    shape = SHAPES[a.config]
    B = shape.batch
    pool = None
    names = a.variants.split(",")
    state = {}
    for v in names:
        fn, p, o, ss = build(v, B, **shape.model_kwargs)
        pool = pool or ss.windows(B)  # the same random batches for every variant
        for i in range(3):  # warm-up
            p, o, m = fn(p, o, pool[i % 4], i)
        jax.block_until_ready(m["loss"])
        state[v] = [fn, p, o, 3, []]
    for _ in range(a.rounds):
        for v in names:
            fn, p, o, i0, times = state[v]
            for i in range(i0, i0 + a.steps):
                t = time.perf_counter()
                p, o, m = fn(p, o, pool[i % 4], i)
                jax.block_until_ready(m["loss"])
                times.append(time.perf_counter() - t)
            state[v][1:4] = [p, o, i0 + a.steps]
    print(f"config {a.config}: {a.rounds} rounds x {a.steps} steps per variant, interleaved")
    for v in names:
        times = state[v][4]
        print(f"{v:<15} median {statistics.median(times) * 1e3:8.1f} ms  "
              f"p25 {np.percentile(times, 25) * 1e3:8.1f}  min {min(times) * 1e3:8.1f}  "
              f"params {digest(state[v][1])}")


if __name__ == "__main__":
    main()
