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


def attention_impl(cfg: ModelConfig, platform: str | None = None, *, q_len: int | None = None,
                   kv_len: int | None = None) -> str:
    """The implementation `attend` runs for this config on `platform` (scaling/model/attention.py
    chooses; None = the platform of this process's devices, read when the model is built)."""
    from scaling.model.attention import choose
    T = cfg.seq_len
    return choose(cfg, platform, q_len=q_len or T, kv_len=kv_len or T)[0]


def attend_dot_product(q_BxTxHxK, k_BxSxHxK, v_BxSxHxK, causal: bool,
                       implementation: str = "xla") -> jax.Array:
    """jax.nn.dot_product_attention, XLA's or cuDNN's fused flash kernel (the caller chose it
    for the compile target, scaling/model/attention.py; both compute the softmax in float32)."""
    return jax.nn.dot_product_attention(q_BxTxHxK, k_BxSxHxK, v_BxSxHxK, is_causal=causal,
                                        implementation=implementation)


def attend(q_BxTxHxK, k_BxSxHxK, v_BxSxHxK, causal: bool, impl: str = "einsum") -> jax.Array:
    """Softmax attention; impl 'xla'/'cudnn' (and 'dot_product', XLA's) go to
    `attend_dot_product`, 'splash' to the Pallas TPU kernel (scaling/model/flash.py), 'einsum'
    (below) is the explicit einsum form (measured faster than jax.nn.dot_product_attention on
    XLA:CPU, docs/performance.md).

    Heads go in front before the einsums (XLA:CPU picked a slower layout for the head-interleaved
    form). Causal self-attention is computed in blocks of CAUSAL_BLOCK query rows, each against
    only the keys it may see, which skips most of the masked upper triangle (3/4 of the full work
    at T = 256, 5/8 at T = 512); the result is the same function. FLOPs are still *counted* in
    full (ModelConfig.flops_per_token), the peers' convention.
    """
    if impl in ("dot_product", "xla", "cudnn"):
        return attend_dot_product(q_BxTxHxK, k_BxSxHxK, v_BxSxHxK, causal,
                                  "cudnn" if impl == "cudnn" else "xla")
    if impl == "splash":
        from scaling.model.flash import attend_splash
        return attend_splash(q_BxTxHxK, k_BxSxHxK, v_BxSxHxK, causal)
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

    def __init__(self, cfg: ModelConfig, causal: bool, rngs: nnx.Rngs, *,
                 platform: str | None = None):
        self.cfg, self.causal = cfg, causal
        T = cfg.decoder_len if (causal and cfg.arch == "encoder_decoder") else cfg.seq_len
        self.impl = attention_impl(cfg, platform, q_len=T, kv_len=T)  # for the target, at build
        self.qkv = linear(cfg, cfg.d_model, 3 * cfg.d_model, rngs)
        self.out = linear(cfg, cfg.d_model, cfg.d_model, rngs, residual=True)

    def __call__(self, x_BxTxD: jax.Array) -> jax.Array:
        B, T, D = x_BxTxD.shape
        H = self.cfg.n_heads
        q, k, v = (t.reshape(B, T, H, D // H) for t in jnp.split(self.qkv(x_BxTxD), 3, axis=-1))
        if self.cfg.pos == "rope":
            q, k = rope(q, self.cfg.rope_base), rope(k, self.cfg.rope_base)
        k, v = quantize_kv(self.cfg, k, v)
        y_BxTxHxK = attend(q, k, v, self.causal, self.impl)
        return self.out(y_BxTxHxK.reshape(B, T, D))


class CrossAttention(nnx.Module):
    """Decoder-to-encoder attention: queries from the decoder, keys and values from the encoder."""

    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs, *, platform: str | None = None):
        self.cfg = cfg
        self.impl = attention_impl(cfg, platform, q_len=cfg.decoder_len, kv_len=cfg.seq_len)
        self.q = linear(cfg, cfg.d_model, cfg.d_model, rngs)
        self.kv = linear(cfg, cfg.d_model, 2 * cfg.d_model, rngs)
        self.out = linear(cfg, cfg.d_model, cfg.d_model, rngs, residual=True)

    def __call__(self, x_BxTxD: jax.Array, enc_BxSxD: jax.Array) -> jax.Array:
        B, T, D = x_BxTxD.shape
        S, H = enc_BxSxD.shape[1], self.cfg.n_heads
        q = self.q(x_BxTxD).reshape(B, T, H, D // H)
        k, v = (t.reshape(B, S, H, D // H) for t in jnp.split(self.kv(enc_BxSxD), 2, axis=-1))
        k, v = quantize_kv(self.cfg, k, v)
        y_BxTxHxK = attend(q, k, v, causal=False, impl=self.impl)
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

    def __init__(self, cfg: ModelConfig, *, causal: bool, cross: bool, rngs: nnx.Rngs,
                 platform: str | None = None):
        self.norm_attn = norm(cfg, rngs)
        self.attn = SelfAttention(cfg, causal, rngs, platform=platform)
        self.has_cross = cross
        if cross:
            self.norm_cross = norm(cfg, rngs)
            self.cross = CrossAttention(cfg, rngs, platform=platform)
        self.norm_mlp = norm(cfg, rngs)
        self.mlp = MLP(cfg, rngs)

    def __call__(self, x_BxTxD: jax.Array, enc_BxSxD: jax.Array | None = None) -> jax.Array:
        x_BxTxD = x_BxTxD + self.attn(self.norm_attn(x_BxTxD))
        if self.has_cross:
            x_BxTxD = x_BxTxD + self.cross(self.norm_cross(x_BxTxD), enc_BxSxD)
        return x_BxTxD + self.mlp(self.norm_mlp(x_BxTxD))
