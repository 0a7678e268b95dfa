"""Fake quantisation: symmetric integer rounding with straight-through gradients.

x -> clip(round(x / s), -qmax, qmax) * s with qmax = 2^(bits-1) - 1 (2 bits: the ternary grid
{-s, 0, s}). The forward pass sees the rounded values; the backward pass (jax.custom_vjp) passes
the gradient straight through where x / s lies inside [-qmax, qmax] and gives zero where the
value was clipped (Bengio et al. 2013's estimator, as in Kumar et al. 2024). The scale's own
gradient is LSQ's (Esser et al. 2020): round(v) - v inside the range, +-qmax outside.

Scales: weights per output channel (a kernel's last axis), activations per token (the feature
axis), keys and values per token and head. Without learned scales s = absmax / qmax, computed
from the tensor and held constant for the gradient (nothing is then clipped). Learned scales are
log-parametrised parameters, so that Adam's step moves them by a share of their size.

`QuantLinear` / `QuantEmbed` are nnx.Linear / nnx.Embed with their weights (and inputs) rounded;
the model builds them only when `model.quant` is set (scaling/model/layers.py), so a run
without it traces the same program as before.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import nnx

from scaling.model.quant_config import QuantConfig

_TINY = 1e-12  # a channel of zeros gets this scale rather than a division by zero


def qmax(bits: int) -> float:
    return float(2 ** (bits - 1) - 1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def fake_quant(x: jax.Array, scale: jax.Array, q: float) -> jax.Array:
    """Round x to the grid scale * {-q, ..., q} (scale broadcasts against x)."""
    return jnp.clip(jnp.round(x / scale), -q, q) * scale


def _fq_fwd(x, scale, q):
    return fake_quant(x, scale, q), (x, scale)


def _sum_to(d: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """d summed over the axes that `shape` broadcast along (the reverse of broadcasting)."""
    d = d.sum(axis=tuple(range(d.ndim - len(shape))))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and d.shape[i] != 1)
    return d.sum(axis=axes, keepdims=True)


def _fq_bwd(q, res, g):
    x, scale = res
    v = x / scale
    inside = jnp.abs(v) <= q
    g_x = jnp.where(inside, g, 0.0).astype(x.dtype)
    # LSQ: d/ds [clip(round(v), -q, q) s] = round(v) - v inside, +-q outside
    d_s = jnp.where(inside, jnp.round(v) - v, jnp.sign(v) * q) * g
    return g_x, _sum_to(d_s, scale.shape).astype(scale.dtype)


fake_quant.defvjp(_fq_fwd, _fq_bwd)


def absmax_scale(x: jax.Array, bits: int, axis) -> jax.Array:
    """absmax / qmax over `axis` (kept as size-1 dims), as a constant for the gradient."""
    m = jnp.max(jnp.abs(x), axis=axis, keepdims=True)
    return jax.lax.stop_gradient(jnp.maximum(m, _TINY) / qmax(bits))


def quantize_weight(kernel: jax.Array, bits: int, log_scale: jax.Array | None = None) -> jax.Array:
    """A kernel (d_in, d_out) rounded per output channel: learned scales exp(log_scale) of
    shape (d_out,), or absmax over d_in."""
    if log_scale is None:
        scale = absmax_scale(kernel, bits, axis=tuple(range(kernel.ndim - 1)))
    else:
        scale = jnp.exp(log_scale).reshape((1,) * (kernel.ndim - 1) + (-1,))
    return fake_quant(kernel, scale.astype(kernel.dtype), qmax(bits))


def quantize_per_token(x: jax.Array, bits: int, axis=-1) -> jax.Array:
    """Activations rounded with a dynamic absmax scale per token (over the feature `axis`)."""
    scale = absmax_scale(x, bits, axis=axis)
    return fake_quant(x, scale.astype(x.dtype), qmax(bits))


def lsq_init(kernel: jax.Array, bits: int) -> jax.Array:
    """LSQ's initial scale per output channel, 2 mean|w| / sqrt(qmax), as its log."""
    mean_abs = jnp.mean(jnp.abs(kernel), axis=tuple(range(kernel.ndim - 1)))
    return jnp.log(jnp.maximum(2.0 * mean_abs / jnp.sqrt(qmax(bits)), _TINY))


class QuantLinear(nnx.Linear):
    """nnx.Linear with its kernel rounded per output channel to `quant.weights` bits and its
    input per token to `quant.activations` bits (either may be 0: left alone)."""

    def __init__(self, *args, quant: QuantConfig, **kw):
        super().__init__(*args, **kw)
        self.w_bits, self.a_bits = quant.weights, quant.activations
        self.log_scale = (nnx.Param(lsq_init(self.kernel[...], quant.weights))
                          if quant.learned_scales and quant.weights else None)

    def __call__(self, inputs: jax.Array, out_sharding=None) -> jax.Array:
        kernel = self.kernel[...]
        if self.w_bits:
            ls = None if self.log_scale is None else self.log_scale[...]
            kernel = quantize_weight(kernel, self.w_bits, ls)
        if self.a_bits:
            inputs = quantize_per_token(inputs, self.a_bits)
        bias = self.bias[...] if self.bias is not None else None
        inputs, kernel, bias = self.promote_dtype((inputs, kernel, bias), dtype=self.dtype)
        y = self.dot_general(inputs, kernel, (((inputs.ndim - 1,), (0,)), ((), ())),
                             precision=self.precision)
        if bias is not None:
            y += jnp.reshape(bias, (1,) * (y.ndim - 1) + (-1,))
        return y


class QuantEmbed(nnx.Embed):
    """nnx.Embed whose table is rounded per token row (the output channel of a tied head)."""

    def __init__(self, *args, quant: QuantConfig, **kw):
        super().__init__(*args, **kw)
        self.w_bits = quant.weights

    def _table(self) -> jax.Array:
        table = self.embedding[...]
        scale = absmax_scale(table, self.w_bits, axis=-1)
        return fake_quant(table, scale, qmax(self.w_bits))

    def __call__(self, inputs: jax.Array, out_sharding=None) -> jax.Array:
        (table,) = self.promote_dtype((self._table(),), dtype=self.dtype, inexact=False)
        return jnp.take(table, inputs, axis=0)

    def attend(self, query: jax.Array, out_sharding=None) -> jax.Array:
        query, table = self.promote_dtype((query, self._table()), dtype=self.dtype)
        return jnp.dot(query, table.T)


def ptq_round(kernel: jax.Array, bits: int) -> jax.Array:
    """Post-training quantisation by round-to-nearest per output channel (absmax scale)."""
    return quantize_weight(kernel, bits)
