"""What an objective is: the architecture it trains, how token windows become (inputs, targets,
loss weights) inside jit, and how many tokens each stream processes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import jax
import jax.numpy as jnp

from scaling.model.config import ModelConfig


@dataclass(frozen=True)
class Specials:
    """The tokenizer's reserved ids, as static Python ints for use inside jit."""

    vocab_size: int
    pad_id: int
    bos_id: int
    eos_id: int
    mask_id: int
    first_sentinel: int
    n_sentinels: int
    n_reserved: int

    @staticmethod
    def from_tokenizer(tok: Any) -> "Specials":
        sent = tuple(tok.sentinel_ids)
        assert sent == tuple(range(sent[0], sent[0] + len(sent))), "sentinels must be contiguous"
        return Specials(tok.vocab_size, tok.pad_id, tok.bos_id, tok.eos_id, tok.mask_id,
                        sent[0], len(sent), tok.n_reserved)


Batch = dict[str, jax.Array]


class Objective(Protocol):
    name: str
    arch: str

    def model_config(self, model: ModelConfig) -> ModelConfig:
        """The model config this objective trains (arch and decoder length set)."""

    def window_len(self, model: ModelConfig) -> int:
        """Raw corpus tokens per example."""

    def make_batch(self, windows_BxW: jax.Array, key: jax.Array, sp: Specials) -> Batch:
        """inputs (and decoder inputs), targets, weights; pure, inside jit."""

    def logits(self, model: Any, batch: Batch) -> jax.Array:
        """Run the model on the batch's inputs."""

    def stream_tokens(self, model: ModelConfig) -> dict[str, int]:
        """Per example: raw corpus tokens ('raw', counted in D), and tokens through each stream."""


def weighted_xent(logits_BxTxV: jax.Array, targets_BxT: jax.Array, weights_BxT: jax.Array):
    """(sum of cross-entropy over loss-bearing tokens, their count), in float32 nats."""
    logz_BxT = jax.nn.logsumexp(logits_BxTxV, axis=-1)
    picked_BxT = jnp.take_along_axis(logits_BxTxV, targets_BxT[..., None], axis=-1)[..., 0]
    nll_BxT = (logz_BxT - picked_BxT) * weights_BxT
    return nll_BxT.sum(), weights_BxT.sum()
