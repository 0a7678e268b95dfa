"""Causal LM (decoder-only, GPT): inputs are tokens [0, T), targets tokens [1, T+1); all bear loss."""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from scaling.model.config import ModelConfig
from scaling.objectives.base import Batch, Specials


@dataclass(frozen=True)
class CausalLM:
    name: str = "clm"
    arch: str = "decoder"

    def model_config(self, model: ModelConfig) -> ModelConfig:
        return model.replace(arch=self.arch)

    def window_len(self, model: ModelConfig) -> int:
        return model.seq_len + 1

    def make_batch(self, windows_BxW: jax.Array, key: jax.Array, sp: Specials) -> Batch:
        del key, sp  # no noise
        targets_BxT = windows_BxW[:, 1:]
        return {"inputs": windows_BxW[:, :-1], "targets": targets_BxT,
                "weights": jnp.ones(targets_BxT.shape, jnp.float32)}

    def logits(self, model, batch: Batch) -> jax.Array:
        return model(batch["inputs"])

    def stream_tokens(self, model: ModelConfig) -> dict[str, int]:
        # D counts the T predicted tokens per window (steps x batch x seq_len, docs/design.md)
        return {"raw": model.seq_len, "encoder": 0, "decoder": model.seq_len}
