"""The three architectures, from the same blocks: decoder-only, encoder-only, encoder-decoder."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from scaling.model.config import ModelConfig
from scaling.model.layers import Block, _dtype, norm
from scaling.model.quant import QuantEmbed, QuantLinear
from scaling.model.quant_config import QuantConfig


class Embedder(nnx.Module):
    """Token table (also the tied output head) plus an optional learned position table."""

    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs, *, positions: int):
        self.cfg = cfg
        init = nnx.initializers.normal(cfg.init_std)
        kw = dict(dtype=_dtype(cfg), param_dtype=jnp.float32, embedding_init=init, rngs=rngs)
        quant = cfg.quant if cfg.quant is not None and cfg.quant.embeddings else None
        self.tokens = (nnx.Embed(cfg.vocab_size, cfg.d_model, **kw) if quant is None else
                       QuantEmbed(cfg.vocab_size, cfg.d_model, quant=quant, **kw))
        self.positions = (nnx.Embed(positions, cfg.d_model, dtype=_dtype(cfg),
                                    param_dtype=jnp.float32, embedding_init=init, rngs=rngs)
                          if cfg.pos == "learned" else None)

    def __call__(self, ids_BxT: jax.Array) -> jax.Array:
        x_BxTxD = self.tokens(ids_BxT)
        if self.positions is not None:
            T = ids_BxT.shape[1]
            x_BxTxD = x_BxTxD + self.positions.embedding[...][None, :T].astype(x_BxTxD.dtype)
        return x_BxTxD


class Head(nnx.Module):
    """Final norm and output projection (tied to the token table unless configured otherwise)."""

    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        self.norm = norm(cfg, rngs)
        self.tied = cfg.tie_embeddings
        if not self.tied:
            kw = dict(use_bias=False, dtype=_dtype(cfg), param_dtype=jnp.float32,
                      kernel_init=nnx.initializers.normal(cfg.init_std), rngs=rngs)
            q = cfg.quant
            if q is not None and q.embeddings:  # the head's weights only, as the table's
                self.proj = QuantLinear(cfg.d_model, cfg.vocab_size,
                                        quant=QuantConfig(weights=q.weights), **kw)
            else:
                self.proj = nnx.Linear(cfg.d_model, cfg.vocab_size, **kw)

    def __call__(self, x_BxTxD: jax.Array, embed: Embedder) -> jax.Array:
        h = self.norm(x_BxTxD)
        logits_BxTxV = embed.tokens.attend(h) if self.tied else self.proj(h)
        return logits_BxTxV.astype(jnp.float32)


#: model.remat -> jax.checkpoint policy. block: save nothing inside a block (only its input,
#: the scan carry of the residual stream), recompute all of it in the backward pass; dots: also
#: save the outputs of matmuls without batch dimensions (the linear layers), so the backward
#: pass recomputes only norms, activations and attention.
REMAT_POLICIES = {"block": None, "dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable}


def run_block(remat: str, block: Block, *args) -> jax.Array:
    """block(*args), rematerialised as `remat` says (the same numbers: XLA recomputes the
    forward pass with the same ops)."""
    if remat == "none":
        return block(*args)
    return nnx.remat(lambda b, *a: b(*a), policy=REMAT_POLICIES[remat])(block, *args)


class ScannedBlocks(nnx.Module):
    """model.scan_layers: the blocks' parameters stacked on a leading layer axis (`stacked`)
    and applied with one jax.lax.scan, so the compiled program holds one block, not L (compile
    time flat in depth, as MaxText's scan_layers). Built by stacking blocks initialised exactly
    as the unrolled model's, so both start from the same numbers; remat wraps the scanned body,
    per block. The optimizer's weight decay skips the layer axis (scaling/train/step.py)."""

    def __init__(self, blocks: list[Block]):
        graphdef = nnx.split(blocks[0])[0]
        states = [nnx.split(b)[1] for b in blocks]
        self.stacked = nnx.merge(graphdef, jax.tree.map(lambda *xs: jnp.stack(xs), *states))
        self.n = len(blocks)

    def __call__(self, remat: str, x: jax.Array, *args) -> jax.Array:
        graphdef, state = nnx.split(self.stacked)

        def layer(x, layer_state):
            return nnx.merge(graphdef, layer_state)(x, *args)

        if remat != "none":
            layer = jax.checkpoint(layer, policy=REMAT_POLICIES[remat])
        x, _ = jax.lax.scan(lambda c, st: (layer(c, st), None), x, state)
        return x


def make_stack(cfg: ModelConfig, blocks: list[Block]):
    """The unrolled list of blocks, or (model.scan_layers) the same blocks stacked."""
    return ScannedBlocks(blocks) if cfg.scan_layers else nnx.List(blocks)


def apply_stack(remat: str, stack, x: jax.Array, *args) -> jax.Array:
    if isinstance(stack, ScannedBlocks):
        return stack(remat, x, *args)
    for block in stack:
        x = run_block(remat, block, x, *args)
    return x


class Transformer(nnx.Module):
    """Decoder-only (causal, GPT) or encoder-only (bidirectional, BERT) language model."""

    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs, platform: str | None = None):
        assert cfg.arch in ("decoder", "encoder"), cfg.arch
        self.embed = Embedder(cfg, rngs, positions=cfg.seq_len)
        causal = cfg.arch == "decoder"
        self.blocks = make_stack(cfg, [Block(cfg, causal=causal, cross=False, rngs=rngs,
                                             platform=platform) for _ in range(cfg.n_layers)])
        self.head = Head(cfg, rngs)
        self.remat = cfg.remat

    def __call__(self, ids_BxT: jax.Array) -> jax.Array:
        x_BxTxD = self.embed(ids_BxT)
        x_BxTxD = apply_stack(self.remat, self.blocks, x_BxTxD)
        return self.head(x_BxTxD, self.embed)


class EncoderDecoder(nnx.Module):
    """T5-style encoder-decoder with one shared token table; learned or rotary positions."""

    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs, platform: str | None = None):
        assert cfg.arch == "encoder_decoder", cfg.arch
        self.embed = Embedder(cfg, rngs, positions=cfg.seq_len)
        self.dec_positions = (nnx.Embed(cfg.decoder_len, cfg.d_model, dtype=_dtype(cfg),
                                        param_dtype=jnp.float32,
                                        embedding_init=nnx.initializers.normal(cfg.init_std),
                                        rngs=rngs)
                              if cfg.pos == "learned" else None)
        self.encoder = make_stack(cfg, [Block(cfg, causal=False, cross=False, rngs=rngs,
                                              platform=platform) for _ in range(cfg.n_layers)])
        self.enc_norm = norm(cfg, rngs)
        self.decoder = make_stack(cfg, [Block(cfg, causal=True, cross=True, rngs=rngs,
                                              platform=platform) for _ in range(cfg.n_layers)])
        self.head = Head(cfg, rngs)
        self.remat = cfg.remat

    def encode(self, enc_BxS: jax.Array) -> jax.Array:
        x_BxSxD = self.embed(enc_BxS)
        x_BxSxD = apply_stack(self.remat, self.encoder, x_BxSxD)
        return self.enc_norm(x_BxSxD)

    def __call__(self, enc_BxS: jax.Array, dec_BxT: jax.Array) -> jax.Array:
        enc_BxSxD = self.encode(enc_BxS)
        y_BxTxD = self.embed.tokens(dec_BxT)
        if self.dec_positions is not None:
            T = dec_BxT.shape[1]
            y_BxTxD = y_BxTxD + self.dec_positions.embedding[...][None, :T].astype(y_BxTxD.dtype)
        y_BxTxD = apply_stack(self.remat, self.decoder, y_BxTxD, enc_BxSxD)
        return self.head(y_BxTxD, self.embed)


def build_model(cfg: ModelConfig, seed: int, platform: str | None = None) -> nnx.Module:
    """The architecture `cfg.arch` names, initialised from `seed`, its attention chosen for
    `platform` (the platform the step is compiled for; None = this process's devices)."""
    rngs = nnx.Rngs(params=seed)
    if cfg.arch == "encoder_decoder":
        return EncoderDecoder(cfg, rngs, platform)
    return Transformer(cfg, rngs, platform)


def count_params(model: nnx.Module) -> int:
    return sum(int(x.size) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
