"""Masked LM (encoder-only, BERT): select, then replace by [MASK], a random token, or keep.

Subtleties:
- The model is the encoder-only `Transformer` (arch "encoder"): attention is bidirectional, every
  position sees every other one, so the input must hide what is predicted ([MASK] or a random
  token), except for the `1 - mask_frac - random_frac` share that BERT leaves unchanged.
- Only non-special positions can be selected (id >= n_reserved): the EOS that separates documents
  in a window, PAD, MASK and the sentinels never bear loss and are never replaced. Replacement
  tokens are drawn uniformly from the ordinary ids [n_reserved, vocab_size), never a special one.
- Targets are the original window; weights are 1.0 on the selected positions and 0.0 elsewhere,
  so the loss is the mean over selected positions only (about select_rate of the window, so a
  batch bears ~0.15 x fewer loss tokens than causal LM on the same window).
- D counts every raw token the encoder reads: seq_len per example (docs/design.md, "CLM and MLM: steps
  x batch x sequence length"), not only the selected ones.
- Bits per byte (train loop) = sum of nll over selected tokens / ln 2 / their bytes.
- All three draws (select, kind of replacement, random token) come from keys split from the step
  key, inside jit; the same key gives the same batch, so a resumed run and every eval see
  identical masks.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from scaling.model.config import ModelConfig
from scaling.objectives.base import Batch, Specials
from scaling.objectives.config import MLMConfig


@dataclass(frozen=True)
class MaskedLM:
    cfg: MLMConfig = field(default_factory=MLMConfig)
    name: str = "mlm"
    arch: str = "encoder"

    def model_config(self, model: ModelConfig) -> ModelConfig:
        return model.replace(arch=self.arch)

    def window_len(self, model: ModelConfig) -> int:
        return model.seq_len

    def make_batch(self, windows_BxW: jax.Array, key: jax.Array, sp: Specials) -> Batch:
        """inputs (corrupted windows), targets (the windows), weights (1 on selected positions)."""
        c = self.cfg
        k_select, k_kind, k_token = jax.random.split(key, 3)
        shape = windows_BxW.shape
        ordinary_BxW = windows_BxW >= sp.n_reserved
        selected_BxW = ordinary_BxW & jax.random.bernoulli(k_select, c.select_rate, shape)
        # one uniform draw decides the kind: [0, mask) -> MASK, [mask, mask+random) -> random
        u_BxW = jax.random.uniform(k_kind, shape)
        to_mask_BxW = selected_BxW & (u_BxW < c.mask_frac)
        to_random_BxW = (selected_BxW & (u_BxW >= c.mask_frac)
                         & (u_BxW < c.mask_frac + c.random_frac))
        random_BxW = jax.random.randint(k_token, shape, sp.n_reserved, sp.vocab_size,
                                        dtype=windows_BxW.dtype)
        mask_id = jnp.asarray(sp.mask_id, windows_BxW.dtype)
        inputs_BxW = jnp.where(to_mask_BxW, mask_id, windows_BxW)
        inputs_BxW = jnp.where(to_random_BxW, random_BxW, inputs_BxW)
        return {"inputs": inputs_BxW, "targets": windows_BxW,
                "weights": selected_BxW.astype(jnp.float32)}

    def logits(self, model, batch: Batch) -> jax.Array:
        return model(batch["inputs"])

    def stream_tokens(self, model: ModelConfig) -> dict[str, int]:
        return {"raw": model.seq_len, "encoder": model.seq_len, "decoder": 0}
