"""Span corruption (encoder-decoder, T5): noise spans become sentinels in the input; the targets
spell out the spans, each after its sentinel.

Lengths (`span_lengths`): a raw segment of T tokens has n = round(noise_density x T) noise tokens
(at least 1, at most T - 1) in s = round(n / mean_span) spans (at least 1). The encoder reads the
T - n kept tokens, one sentinel per span and EOS: (T - n) + s + 1 tokens; the decoder predicts
S0 span0 S1 span1 ... EOS: n + s + 1 tokens. Given the encoder length L (`model.seq_len`), T is
the largest segment whose encoder input fits in L (encoder 512 -> T = 568, targets 114; encoder
128 -> T = 141, targets 29). Rounding is `np.round`, as T5's `random_spans_helper` does: half to
even, the same as Python's `round` on floats (x.5 cases such as 0.15 x 30 go to the even integer).

Exact lengths, no padding: as T grows by one, the encoder length grows by 0 or 1 (n grows by at
most 1 since noise_density < 1, and s by at most 1 when n does), so every L >= 3 is hit exactly
and the encoder input holds no PAD (the encoder has no padding mask, so there is nothing to mask).
The only configs that could need padding are those where the T that fits has fewer kept tokens
than spans (T - n < s: very high noise_density with a short mean_span); they are refused with a
InputError at plan time instead.

Mask, per example (inside jit, static shapes, vectorised over the batch): the n noise tokens are
split into s positive lengths and the T - n kept tokens into s positive lengths, each uniformly at
random over compositions (T5's `_random_segmentation`: s - 1 cut points drawn without
replacement from the m - 1 gaps of m items, here the gaps with the largest iid uniforms);
segments interleave kept, noise, kept, noise, ... so the mask starts with kept tokens and ends
with noise. Sentinel i is `first_sentinel + i` (ascending; T5 counts down from the top of its
vocabulary, which only renames ids). s must be <= the tokenizer's sentinels (`data.n_sentinels`).

Batch: "inputs" (encoder, length L), "decoder_inputs" (targets shifted right after BOS: teacher
forcing through the decoder's causal self-attention, with cross-attention to the encoder),
"targets" (n + s + 1) and "weights" (1.0 on every target position, sentinels and EOS included).

D counts T raw tokens per example (docs/design.md); the encoder processes L and the decoder n + s + 1.
Bits per byte (train loop) = total nats over all targets / ln 2 / bytes of the targets; sentinels
and EOS have 0 bytes, so it is nats (incl. the sentinel and EOS predictions) per byte of the noise
tokens: comparable across span runs, not directly with CLM's or MLM's bpb.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from runstore import InputError
from scaling.model.config import ModelConfig
from scaling.objectives.base import Batch, Specials
from scaling.objectives.config import SpanConfig


def _noise_and_spans(T: int, noise_density: float, mean_span: float) -> tuple[int, int]:
    n = int(np.round(float(T) * noise_density))
    n = min(max(n, 1), T - 1)
    s = max(int(np.round(n / mean_span)), 1)
    return n, s


@functools.lru_cache(maxsize=256)
def span_lengths(encoder_len: int, noise_density: float = 0.15,
                 mean_span: float = 3.0) -> tuple[int, int, int, int, int]:
    """(T raw tokens, n noise tokens, s spans, encoder input length, decoder length) for the
    largest T whose encoder input (T - n) + s + 1 fits in `encoder_len`.

    The encoder input length is always exactly `encoder_len` (no padding); a config where that is
    impossible (fewer kept tokens than spans) is refused with a InputError."""
    if encoder_len < 3:
        raise InputError(f"span corruption needs an encoder length >= 3, got {encoder_len}",
                          key="model.seq_len")

    def enc(t: int) -> int:
        n, s = _noise_and_spans(t, noise_density, mean_span)
        return (t - n) + s + 1

    # enc(t) is non-decreasing in t (module docstring): walk from an estimate to the last fit
    T = max(2, int((encoder_len - 1) / (1.0 - noise_density + noise_density / mean_span)))
    while T > 2 and enc(T) > encoder_len:
        T -= 1
    while enc(T + 1) <= encoder_len:
        T += 1
    n, s = _noise_and_spans(T, noise_density, mean_span)
    enc_len = (T - n) + s + 1
    if T - n < s or enc_len != encoder_len:
        raise InputError(f"noise_density {noise_density} with mean_span {mean_span} leaves "
                          f"{T - n} kept tokens for {s} spans at encoder length {encoder_len}",
                          key="span.noise_density",
                          fix="lower span.noise_density or raise span.mean_span")
    return T, n, s, enc_len, n + s + 1


def _segment_lengths(key: jax.Array, batch: int, m: int, s: int) -> jax.Array:
    """(batch, s) positive int32 lengths summing to m per row, uniform over the compositions.

    The s - 1 cut points are a uniformly random subset of the m - 1 gaps between items: the gaps
    with the s - 1 largest of m - 1 iid uniforms (`top_k`, ~10x faster than a permutation per row
    on CPU; a float32 tie, about one row in 70 at m = 480, is broken by position, which leaves the
    cuts distinct and the bias negligible)."""
    if s == 1:
        return jnp.full((batch, 1), m, jnp.int32)
    u_BxG = jax.random.uniform(key, (batch, m - 1))
    cuts_BxC = jnp.sort(jax.lax.top_k(u_BxG, s - 1)[1], axis=1).astype(jnp.int32) + 1
    edges_BxE = jnp.concatenate([jnp.zeros((batch, 1), jnp.int32), cuts_BxC,
                                 jnp.full((batch, 1), m, jnp.int32)], axis=1)
    return jnp.diff(edges_BxE, axis=1)


def _compact(values_BxT: jax.Array, keep_BxT: jax.Array, out_len: int, fill: int) -> jax.Array:
    """Scatter the kept values of each row, in order, to the front of a row of `out_len`.

    Per row under vmap, so the batch is a scatter batching dimension and stays sharded."""
    def row(values_T, keep_T):
        pos_T = jnp.where(keep_T, jnp.cumsum(keep_T) - 1, out_len)  # dropped: out of range
        return jnp.full((out_len,), fill, values_T.dtype).at[pos_T].set(values_T, mode="drop")
    return jax.vmap(row)(values_BxT, keep_BxT)


@dataclass(frozen=True)
class SpanCorruption:
    cfg: SpanConfig = field(default_factory=SpanConfig)
    n_sentinels: int = 0  # the tokenizer's, when known at plan time (0 = checked at trace time)
    name: str = "span"
    arch: str = "encoder_decoder"

    def lengths(self, model: ModelConfig) -> tuple[int, int, int, int, int]:
        """span_lengths for the model's encoder length: (T, n, s, enc_len, dec_len)."""
        return span_lengths(model.seq_len, self.cfg.noise_density, self.cfg.mean_span)

    def _check_sentinels(self, s: int, n_sentinels: int) -> None:
        if s > n_sentinels:
            raise InputError(f"span corruption needs {s} sentinels per example but the tokenizer "
                              f"has {n_sentinels}", key="data.n_sentinels",
                              fix=f"set data.n_sentinels >= {s}, or shorten model.seq_len or "
                                  "raise span.mean_span")

    def model_config(self, model: ModelConfig) -> ModelConfig:
        _, _, s, _, dec_len = self.lengths(model)
        if self.n_sentinels:
            self._check_sentinels(s, self.n_sentinels)
        if model.dec_seq_len and model.dec_seq_len != dec_len:
            raise InputError(f"span corruption with encoder length {model.seq_len} has "
                              f"{dec_len} targets, not {model.dec_seq_len}",
                              key="model.dec_seq_len", fix="set it to 0 (derived)")
        return model.replace(arch=self.arch, dec_seq_len=dec_len)

    def window_len(self, model: ModelConfig) -> int:
        return self.lengths(model)[0]

    def noise_mask(self, key: jax.Array, batch: int, T: int, n: int, s: int) -> jax.Array:
        """(batch, T) interleaved segment index in [0, 2s): even = kept, odd = noise."""
        k_noise, k_kept = jax.random.split(key)
        noise_BxS = _segment_lengths(k_noise, batch, n, s)
        kept_BxS = _segment_lengths(k_kept, batch, T - n, s)
        inter_Bx2S = jnp.stack([kept_BxS, noise_BxS], axis=2).reshape(batch, 2 * s)
        starts_Bx2S = jnp.cumsum(inter_Bx2S, axis=1)[:, :-1]  # starts of segments 1 .. 2s-1
        marks_BxT = jax.vmap(lambda st: jnp.zeros((T,), jnp.int32).at[st].add(1))(starts_Bx2S)
        return jnp.cumsum(marks_BxT, axis=1)

    def make_batch(self, windows_BxW: jax.Array, key: jax.Array, sp: Specials) -> Batch:
        """inputs (B, L), decoder_inputs and targets (B, n + s + 1), weights (all 1.0); the
        windows are T = window_len raw tokens each."""
        B, T = windows_BxW.shape
        n, s = _noise_and_spans(T, self.cfg.noise_density, self.cfg.mean_span)
        self._check_sentinels(s, sp.n_sentinels)
        enc_len, dec_len = (T - n) + s + 1, n + s + 1
        seg_BxT = self.noise_mask(key, B, T, n, s)
        noise_BxT = seg_BxT % 2 == 1
        first_BxT = jnp.concatenate([jnp.ones((B, 1), bool), seg_BxT[:, 1:] != seg_BxT[:, :-1]],
                                    axis=1)
        sentinel_BxT = (sp.first_sentinel + seg_BxT // 2).astype(windows_BxW.dtype)
        # encoder: kept tokens, and one sentinel in place of each noise span
        enc_vals = jnp.where(noise_BxT, sentinel_BxT, windows_BxW)
        inputs_BxL = _compact(enc_vals, ~noise_BxT | first_BxT, enc_len, sp.pad_id)
        inputs_BxL = inputs_BxL.at[:, enc_len - 1].set(sp.eos_id)
        # decoder targets: S_i before noise span i (in place of kept span i, which precedes it)
        tgt_vals = jnp.where(noise_BxT, windows_BxW, sentinel_BxT)
        targets_BxD = _compact(tgt_vals, noise_BxT | first_BxT, dec_len, sp.pad_id)
        targets_BxD = targets_BxD.at[:, dec_len - 1].set(sp.eos_id)
        return {"inputs": inputs_BxL, "targets": targets_BxD,
                "decoder_inputs": jnp.concatenate(
                    [jnp.full((B, 1), sp.bos_id, targets_BxD.dtype), targets_BxD[:, :-1]], axis=1),
                "weights": jnp.ones((B, dec_len), jnp.float32)}

    def logits(self, model, batch: Batch) -> jax.Array:
        return model(batch["inputs"], batch["decoder_inputs"])

    def stream_tokens(self, model: ModelConfig) -> dict[str, int]:
        T, _, _, _, dec_len = self.lengths(model)
        return {"raw": T, "encoder": model.seq_len, "decoder": dec_len}
