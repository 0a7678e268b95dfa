"""Transformer building blocks shared by the decoder, the encoder and the encoder-decoder.

The model code knows nothing of meshes or objectives. Parameters are float32; matmuls run in
`dtype` (bfloat16 on accelerators); softmax and norms statistics are computed in float32.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from scaling.model.config import ModelConfig
from scaling.model.quant import QuantLinear, quantize_per_token


def _dtype(cfg: ModelConfig):
    return jnp.bfloat16 if cfg.dtype == "bfloat16" else jnp.float32


def linear(cfg: ModelConfig, d_in: int, d_out: int, rngs: nnx.Rngs, *, residual: bool = False):
    """A dense layer; residual output projections get std / sqrt(2L) (GPT-2)."""
    depth = 2 * cfg.n_layers * (2 if cfg.arch == "encoder_decoder" else 1)
    std = cfg.init_std / math.sqrt(depth) if residual else cfg.init_std
    kw = dict(use_bias=cfg.bias, dtype=_dtype(cfg), param_dtype=jnp.float32,
              kernel_init=nnx.initializers.normal(std), rngs=rngs)
    if cfg.quant is not None:  # only then: an unquantised model is the same program as before
        return QuantLinear(d_in, d_out, quant=cfg.quant, **kw)
    return nnx.Linear(d_in, d_out, **kw)


def quantize_kv(cfg: ModelConfig, k_BxSxHxK: jax.Array, v_BxSxHxK: jax.Array):
    """Keys and values rounded per token and head to `model.quant.kv` bits (the KV cache)."""
    if cfg.quant is None or not cfg.quant.kv:
        return k_BxSxHxK, v_BxSxHxK
    return (quantize_per_token(k_BxSxHxK, cfg.quant.kv),
            quantize_per_token(v_BxSxHxK, cfg.quant.kv))


def norm(cfg: ModelConfig, rngs: nnx.Rngs):
    if cfg.norm == "rmsnorm":
        return nnx.RMSNorm(cfg.d_model, epsilon=1e-6, dtype=_dtype(cfg), param_dtype=jnp.float32,
                           rngs=rngs)
    return nnx.LayerNorm(cfg.d_model, epsilon=1e-5, use_bias=cfg.bias, dtype=_dtype(cfg),
                         param_dtype=jnp.float32, rngs=rngs)


def rope(x_BxTxHxK: jax.Array, base: float) -> jax.Array:
    """Rotary position encoding (Su et al. 2021), rotating channel pairs (i, i + K/2)."""
    T, K = x_BxTxHxK.shape[1], x_BxTxHxK.shape[3]
    inv_freq_F = 1.0 / (base ** (jnp.arange(0, K, 2, dtype=jnp.float32) / K))
    angle_TxF = jnp.arange(T, dtype=jnp.float32)[:, None] * inv_freq_F[None, :]
    cos, sin = jnp.cos(angle_TxF)[None, :, None, :], jnp.sin(angle_TxF)[None, :, None, :]
    x1, x2 = jnp.split(x_BxTxHxK.astype(jnp.float32), 2, axis=-1)
    out = jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)
    return out.astype(x_BxTxHxK.dtype)


CAUSAL_BLOCK = 64  # query rows per block in causal self-attention; see attend()


def _softmax_attend(q_BxHxTxK, k_BxHxSxK, v_BxHxSxK, mask_TxS) -> jax.Array:
    s_BxHxTxS = jnp.einsum("bhtk,bhsk->bhts", q_BxHxTxK, k_BxHxSxK).astype(jnp.float32)
    if mask_TxS is not None:
        s_BxHxTxS = jnp.where(mask_TxS, s_BxHxTxS, -jnp.inf)
    p_BxHxTxS = jax.nn.softmax(s_BxHxTxS, axis=-1).astype(v_BxHxSxK.dtype)
    return jnp.einsum("bhts,bhsk->bhtk", p_BxHxTxS, v_BxHxSxK)


def attention_impl(cfg: ModelConfig) -> str:
    """'einsum' or 'dot_product' for this config on the default backend. auto: the blocked
    einsum on CPU (measured faster there than jax.nn.dot_product_attention, peers/README.md);
    dot_product elsewhere, which on GPUs reaches cuDNN's fused flash kernel (not yet measured
    here: benchmarks/gpu_check.py compares the two the day a GPU is lent)."""
    if cfg.attention != "auto":
        return cfg.attention
    return "einsum" if jax.default_backend() == "cpu" else "dot_product"


#: cuDNN's fused attention takes half-precision inputs and head dims that are multiples of 8 up
#: to 128 (jax.nn.dot_product_attention raises otherwise); other cases use XLA's version.
_CUDNN_DTYPES = (jnp.bfloat16, jnp.float16)


def attend_dot_product(q_BxTxHxK, k_BxSxHxK, v_BxSxHxK, causal: bool) -> jax.Array:
    """jax.nn.dot_product_attention: cuDNN flash attention where it applies, XLA elsewhere
    (both compute the softmax in float32)."""
    K = q_BxTxHxK.shape[-1]
    cudnn = (jax.default_backend() == "gpu" and q_BxTxHxK.dtype in _CUDNN_DTYPES
             and K % 8 == 0 and K <= 128)
    return jax.nn.dot_product_attention(q_BxTxHxK, k_BxSxHxK, v_BxSxHxK, is_causal=causal,
                                        implementation="cudnn" if cudnn else "xla")


def attend(q_BxTxHxK, k_BxSxHxK, v_BxSxHxK, causal: bool, impl: str = "einsum") -> jax.Array:
    """Softmax attention; impl 'dot_product' goes to `attend_dot_product`, 'einsum' (below) is
    the explicit einsum form (measured faster than jax.nn.dot_product_attention on XLA:CPU,
    shared/peers/README.md).

    Heads go in front before the einsums (XLA:CPU picked a slower layout for the head-interleaved
    form). Causal self-attention is computed in blocks of CAUSAL_BLOCK query rows, each against
    only the keys it may see, which skips most of the masked upper triangle (3/4 of the full work
    at T = 256, 5/8 at T = 512); the result is the same function. FLOPs are still *counted* in
    full (ModelConfig.flops_per_token), the peers' convention.
    """
    if impl == "dot_product":
        return attend_dot_product(q_BxTxHxK, k_BxSxHxK, v_BxSxHxK, causal)
    K = q_BxTxHxK.shape[-1]
    # scale q (T x K per head) rather than the scores (T x S): one pass less over the largest tensor
    q_BxTxHxK = q_BxTxHxK * jnp.asarray(K ** -0.5, q_BxTxHxK.dtype)
    q, k, v = (t.transpose(0, 2, 1, 3) for t in (q_BxTxHxK, k_BxSxHxK, v_BxSxHxK))
    T, S = q.shape[2], k.shape[2]
    if not causal:
        y_BxHxTxK = _softmax_attend(q, k, v, None)
    else:
        c = CAUSAL_BLOCK if (T == S and T % CAUSAL_BLOCK == 0) else T
        blocks = []
        for start in range(0, T, c):
            end = start + c
            rows, cols = jnp.arange(start, end)[:, None], jnp.arange(end)[None, :]
            blocks.append(_softmax_attend(q[:, :, start:end], k[:, :, :end], v[:, :, :end],
                                          cols <= rows))
        y_BxHxTxK = blocks[0] if len(blocks) == 1 else jnp.concatenate(blocks, axis=2)
    return y_BxHxTxK.transpose(0, 2, 1, 3)


class SelfAttention(nnx.Module):
    """Multi-head self-attention with a fused QKV projection; causal or bidirectional."""

    def __init__(self, cfg: ModelConfig, causal: bool, rngs: nnx.Rngs):
        self.cfg, self.causal = cfg, causal
        self.qkv = linear(cfg, cfg.d_model, 3 * cfg.d_model, rngs)
        self.out = linear(cfg, cfg.d_model, cfg.d_model, rngs, residual=True)

    def __call__(self, x_BxTxD: jax.Array) -> jax.Array:
        B, T, D = x_BxTxD.shape
        H = self.cfg.n_heads
        q, k, v = (t.reshape(B, T, H, D // H) for t in jnp.split(self.qkv(x_BxTxD), 3, axis=-1))
        if self.cfg.pos == "rope":
            q, k = rope(q, self.cfg.rope_base), rope(k, self.cfg.rope_base)
        k, v = quantize_kv(self.cfg, k, v)
        y_BxTxHxK = attend(q, k, v, self.causal, attention_impl(self.cfg))
        return self.out(y_BxTxHxK.reshape(B, T, D))


class CrossAttention(nnx.Module):
    """Decoder-to-encoder attention: queries from the decoder, keys and values from the encoder."""

    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        self.cfg = cfg
        self.q = linear(cfg, cfg.d_model, cfg.d_model, rngs)
        self.kv = linear(cfg, cfg.d_model, 2 * cfg.d_model, rngs)
        self.out = linear(cfg, cfg.d_model, cfg.d_model, rngs, residual=True)

    def __call__(self, x_BxTxD: jax.Array, enc_BxSxD: jax.Array) -> jax.Array:
        B, T, D = x_BxTxD.shape
        S, H = enc_BxSxD.shape[1], self.cfg.n_heads
        q = self.q(x_BxTxD).reshape(B, T, H, D // H)
        k, v = (t.reshape(B, S, H, D // H) for t in jnp.split(self.kv(enc_BxSxD), 2, axis=-1))
        k, v = quantize_kv(self.cfg, k, v)
        y_BxTxHxK = attend(q, k, v, causal=False, impl=attention_impl(self.cfg))
        return self.out(y_BxTxHxK.reshape(B, T, D))


class MLP(nnx.Module):
    """GELU (tanh form: about 10% faster than erf on XLA:CPU) or SwiGLU."""

    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        self.kind = cfg.mlp
        width = cfg.ff * (2 if cfg.mlp == "swiglu" else 1)
        self.up = linear(cfg, cfg.d_model, width, rngs)
        self.down = linear(cfg, cfg.ff, cfg.d_model, rngs, residual=True)

    def __call__(self, x_BxTxD: jax.Array) -> jax.Array:
        h = self.up(x_BxTxD)
        if self.kind == "swiglu":
            gate, val = jnp.split(h, 2, axis=-1)
            h = jax.nn.silu(gate) * val
        else:
            h = jax.nn.gelu(h, approximate=True)
        return self.down(h)


class Block(nnx.Module):
    """Pre-norm block: self-attention, optional cross-attention, MLP, each residual."""

    def __init__(self, cfg: ModelConfig, *, causal: bool, cross: bool, rngs: nnx.Rngs):
        self.norm_attn = norm(cfg, rngs)
        self.attn = SelfAttention(cfg, causal, rngs)
        self.has_cross = cross
        if cross:
            self.norm_cross = norm(cfg, rngs)
            self.cross = CrossAttention(cfg, rngs)
        self.norm_mlp = norm(cfg, rngs)
        self.mlp = MLP(cfg, rngs)

    def __call__(self, x_BxTxD: jax.Array, enc_BxSxD: jax.Array | None = None) -> jax.Array:
        x_BxTxD = x_BxTxD + self.attn(self.norm_attn(x_BxTxD))
        if self.has_cross:
            x_BxTxD = x_BxTxD + self.cross(self.norm_cross(x_BxTxD), enc_BxSxD)
        return x_BxTxD + self.mlp(self.norm_mlp(x_BxTxD))
