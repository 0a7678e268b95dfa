"""The model config: shape, parameter counts and FLOPs per token, in one place.

`ModelConfig.flops_per_token()` is the suite's one FLOPs function: MFU logging, the sweep planner
and the budget calculator all call it. Convention (the peers' too, docs/performance.md):
training FLOPs = 3 x forward FLOPs; forward = 2 x (non-embedding parameters) + 2 x d x V for a
tied output head + 4 x d x T per layer for attention scores and values, counted in full (the
causal mask is NOT halved, so causal and bidirectional attention cost the same).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from runstore import InputError
from scaling.configio import doc
from scaling.model.quant_config import QuantConfig

#: Token ids are int32 everywhere (batches, embedding gathers): the largest vocabulary they index.
MAX_VOCAB = 2**31 - 1

Arch = Literal["decoder", "encoder", "encoder_decoder"]


@dataclass(frozen=True)
class ModelConfig:
    """A pre-norm transformer: decoder-only (GPT), encoder-only (BERT) or encoder-decoder (T5)."""

    arch: Arch = doc("decoder (causal LM), encoder (masked LM) or encoder_decoder (span corruption)",
                     "decoder")
    d_model: int = doc("residual stream width", 128)
    n_layers: int = doc("transformer blocks (per stack for encoder_decoder)", 4)
    n_heads: int = doc("attention heads; must divide d_model", 4)
    d_ff: int = doc("MLP hidden width; 0 means 4 x d_model", 0)
    vocab_size: int = doc("vocabulary size incl. reserved ids; 0 = take it from the tokenizer", 0)
    seq_len: int = doc("context length in tokens (the encoder's, for encoder_decoder)", 128)
    dec_seq_len: int = doc("decoder length for encoder_decoder (0 = derived from the objective)", 0)
    pos: Literal["learned", "rope"] = doc("position encoding: learned table or rotary", "learned")
    norm: Literal["layernorm", "rmsnorm"] = doc("normalisation layer", "layernorm")
    mlp: Literal["gelu", "swiglu"] = doc("MLP: GELU (tanh form) or SwiGLU", "gelu")
    bias: bool = doc("biases in linear layers and norms", True)
    tie_embeddings: bool = doc("output head shares the token embedding", True)
    dtype: Literal["float32", "bfloat16"] = doc("compute dtype; parameters stay float32", "float32")
    init_std: float = doc("std of the normal init, > 0; residual projections use std/sqrt(2L)",
                          0.02)
    rope_base: float = doc("rotary base frequency (pos: rope), > 1", 10000.0)
    remat: Literal["none", "block", "dots"] = doc(
        "recompute activations in the backward pass: none; block (save only each block's "
        "input); dots (also save the matmul outputs of the linear layers)", "none")
    attention: Literal["auto", "einsum", "dot_product", "flash"] = doc(
        "attention kernel, chosen for the platform the step is compiled for "
        "(scaling/model/attention.py): einsum (blocked causal einsum, fastest on CPU); "
        "dot_product (jax.nn.dot_product_attention: cuDNN flash on GPUs for bf16/fp16, XLA's "
        "elsewhere); flash (cuDNN on GPU, Pallas splash on TPU, where they apply); auto: einsum "
        "on CPU, flash on accelerators", "auto")
    scan_layers: bool = doc(
        "stack the blocks' parameters and apply them with one scan (compile time flat in "
        "depth); checkpoints of the other layout are refused", False)
    quant: QuantConfig | None = doc(
        "fake quantisation (precision as a scaling axis): weights, activations, KV cache to a "
        "few integer bits with straight-through gradients; null = none (not in run identity)",
        None)

    @property
    def ff(self) -> int:
        return self.d_ff or 4 * self.d_model

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def validate(self) -> None:
        for name in ("d_model", "n_layers", "n_heads", "seq_len"):
            if getattr(self, name) < 1:
                raise InputError(f"must be >= 1, got {getattr(self, name)}", key=name)
        if not self.init_std > 0:  # 0 makes every unit the same: nothing to break symmetry
            raise InputError(f"must be > 0, got {self.init_std}", key="init_std")
        if not self.rope_base > 1:  # <= 1: rotation frequencies no longer fall with depth
            raise InputError(f"must be > 1, got {self.rope_base}", key="rope_base")
        if self.d_model % self.n_heads:
            raise InputError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}",
                              key="n_heads", fix="pick n_heads dividing d_model")
        if self.pos == "rope" and self.head_dim % 2:
            raise InputError(f"rope needs an even head dim, got {self.head_dim}", key="n_heads")
        if self.d_ff < 0 or self.vocab_size < 0 or self.dec_seq_len < 0:
            raise InputError("must be >= 0", key="d_ff/vocab_size/dec_seq_len")
        if self.vocab_size > MAX_VOCAB:
            raise InputError(f"must be <= {MAX_VOCAB:,} (token ids are int32), got "
                              f"{self.vocab_size:,}", key="vocab_size")

    def replace(self, **kw) -> "ModelConfig":
        return dataclasses.replace(self, **kw)

    # ---- parameter counts (checked against the built Flax model in tests) ----

    def _norm_params(self) -> int:
        return 2 * self.d_model if (self.norm == "layernorm" and self.bias) else self.d_model

    def _attn_params(self) -> int:
        d = self.d_model
        return 4 * d * d + (4 * d if self.bias else 0)

    def _mlp_params(self) -> int:
        d, f = self.d_model, self.ff
        if self.mlp == "swiglu":
            return 3 * d * f + ((2 * f + d) if self.bias else 0)
        return 2 * d * f + ((f + d) if self.bias else 0)

    def _block_params(self, cross: bool) -> int:
        n = 2 * self._norm_params() + self._attn_params() + self._mlp_params()
        if cross:
            n += self._norm_params() + self._attn_params()
        return n

    def n_params_embedding(self) -> int:
        """Token (and learned position) tables; a tied head is part of them (docs/design.md)."""
        self._need_vocab()
        n = self.vocab_size * self.d_model
        if self.pos == "learned":
            n += self.seq_len * self.d_model
            if self.arch == "encoder_decoder":
                n += self.decoder_len * self.d_model
        return n

    def n_params_nonembedding(self) -> int:
        """Blocks, final norms and an untied output head."""
        self._need_vocab()
        n = 0
        if self.arch in ("decoder", "encoder"):
            n += self.n_layers * self._block_params(cross=False) + self._norm_params()
        else:
            n += self.n_layers * (self._block_params(False) + self._block_params(True))
            n += 2 * self._norm_params()
        if not self.tie_embeddings:
            n += self.vocab_size * self.d_model
        return n

    def n_params_total(self) -> int:
        return self.n_params_embedding() + self.n_params_nonembedding()

    @property
    def decoder_len(self) -> int:
        return self.dec_seq_len or self.seq_len

    # ---- FLOPs ----

    def _forward_flops_per_token(self, ctx: int, n_layers: int, nonembed: int) -> float:
        head = 2 * self.d_model * self.vocab_size if self.tie_embeddings else 0
        return 2.0 * nonembed + head + 4.0 * n_layers * self.d_model * ctx

    def flops_per_token(self) -> float:
        """Training FLOPs (forward + backward = 3 x forward) per token of the model's input stream.

        decoder / encoder: per input token. encoder_decoder: per *encoder* token, with the decoder
        stream's cost folded in at the ratio decoder_len / seq_len; use `stream_flops` to
        separate them.
        """
        self._need_vocab()
        if self.arch != "encoder_decoder":
            return 3.0 * self._forward_flops_per_token(self.seq_len, self.n_layers,
                                                       self.n_params_nonembedding())
        enc, dec = self.stream_flops()
        return enc + dec * self.decoder_len / self.seq_len

    def stream_flops(self) -> tuple[float, float]:
        """(training FLOPs per encoder token, per decoder token) for encoder_decoder."""
        self._need_vocab()
        untied = 0 if self.tie_embeddings else self.vocab_size * self.d_model
        enc_params = self.n_layers * self._block_params(False) + self._norm_params()
        dec_params = self.n_layers * self._block_params(True) + self._norm_params() + untied
        d, L = self.d_model, self.n_layers
        # cross-attention keys and values are projected once per encoder token, not per decoder one
        cross_kv = L * 2 * d * d
        enc_params, dec_params = enc_params + cross_kv, dec_params - cross_kv
        enc = 2.0 * enc_params + 4.0 * L * d * self.seq_len
        head = 2 * d * self.vocab_size if self.tie_embeddings else 0
        # decoder: self-attention over its own length plus cross-attention over the encoder's
        dec = 2.0 * dec_params + head + 4.0 * L * d * (self.decoder_len + self.seq_len)
        return 3.0 * enc, 3.0 * dec

    def _need_vocab(self) -> None:
        if self.vocab_size < 1:
            raise ValueError("vocab_size is unresolved (0): resolve it from the tokenizer first")
