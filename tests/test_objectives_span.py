"""Span corruption: golden lengths, the mask's shape, inputs + targets merge back to the segment."""
import functools
from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runstore import InputError
from scaling.model.config import ModelConfig
from scaling.objectives import get_objective
from scaling.objectives.base import Specials
from scaling.objectives.config import SpanConfig
from scaling.objectives.span import SpanCorruption, _segment_lengths, span_lengths

# byte tokens after 256 sentinels (enough for any property-test draw): 0 PAD, 1 BOS, 2 EOS, 3 MASK
SP = Specials(vocab_size=260 + 256, pad_id=0, bos_id=1, eos_id=2, mask_id=3, first_sentinel=4,
              n_sentinels=256, n_reserved=260)


@functools.lru_cache(maxsize=None)
def _jitted(cfg, sp):
    return jax.jit(lambda w, k: SpanCorruption(cfg).make_batch(w, k, sp))


def make(w, key=0, cfg=SpanConfig(), sp=SP):
    b = _jitted(cfg, sp)(jnp.asarray(w, jnp.int32), jax.random.key(key))
    return {k: np.asarray(v) for k, v in b.items()}


def segments(B, T, seed=0, eos_share=0.05):
    """Ordinary tokens with some document-separating EOS, as windows of the stream hold."""
    rng = np.random.default_rng(seed)
    w = rng.integers(SP.n_reserved, SP.vocab_size, (B, T))
    w[rng.random((B, T)) < eos_share] = SP.eos_id
    return w


def merge(inputs, targets, sp=SP):
    """Undo the corruption: put each target span back where its sentinel stands in the input."""
    assert inputs[-1] == sp.eos_id and targets[-1] == sp.eos_id
    spans, cur = {}, None
    for t in targets[:-1]:
        if sp.first_sentinel <= t < sp.first_sentinel + sp.n_sentinels:
            cur = int(t)
            spans[cur] = []
        else:
            spans[cur].append(int(t))
    out = []
    for t in inputs[:-1]:
        out.extend(spans[int(t)] if int(t) in spans else [int(t)])
    return out


def sentinels_in(x, sp=SP):
    x = np.asarray(x)
    return x[(x >= sp.first_sentinel) & (x < sp.first_sentinel + sp.n_sentinels)]


# ---- lengths ----

def test_golden_lengths():
    # T5's numbers (np.round, half to even): n = round(0.15 T), s = round(n / 3)
    assert span_lengths(512) == (568, 85, 28, 512, 114)
    assert span_lengths(128) == (141, 21, 7, 128, 29)
    assert span_lengths(512, 0.15, 3.0)[4] == 85 + 28 + 1


@pytest.mark.parametrize("density,mean", [(0.15, 3.0), (0.3, 2.0), (0.05, 10.0), (0.15, 1.0)])
def test_lengths_exact_and_largest(density, mean):
    for L in range(3, 700):
        T, n, s, enc, dec = span_lengths(L, density, mean)
        assert enc == L and dec == n + s + 1 and 1 <= s <= n < T and T - n >= s
        n1 = min(max(int(np.round((T + 1) * density)), 1), T)
        s1 = max(int(np.round(n1 / mean)), 1)
        assert (T + 1 - n1) + s1 + 1 > L  # T + 1 no longer fits: T is the largest


def test_impossible_lengths_are_a_config_error():
    with pytest.raises(InputError, match="span.noise_density"):
        span_lengths(100, 0.7, 1.0)
    with pytest.raises(InputError, match="model.seq_len"):
        span_lengths(2)


def test_model_config_streams_registry():
    obj = get_objective("span", cfg=SpanConfig())
    assert isinstance(obj, SpanCorruption) and obj.name == "span"
    m = obj.model_config(ModelConfig(seq_len=128, vocab_size=SP.vocab_size))
    assert m.arch == "encoder_decoder" and m.dec_seq_len == 29 and m.seq_len == 128
    assert obj.model_config(m) == m  # idempotent
    assert obj.window_len(m) == 141
    assert obj.stream_tokens(m) == {"raw": 141, "encoder": 128, "decoder": 29}
    with pytest.raises(InputError, match="model.dec_seq_len"):
        obj.model_config(m.replace(dec_seq_len=30))


def test_too_few_sentinels_is_a_config_error():
    # encoder 128 needs 7 spans
    with pytest.raises(InputError, match="data.n_sentinels"):
        SpanCorruption(SpanConfig(), n_sentinels=6).model_config(ModelConfig(seq_len=128))
    SpanCorruption(SpanConfig(), n_sentinels=7).model_config(ModelConfig(seq_len=128))
    few = Specials(SP.vocab_size, 0, 1, 2, 3, 4, 6, 10)
    with pytest.raises(InputError, match="data.n_sentinels"):
        SpanCorruption().make_batch(jnp.zeros((1, 141), jnp.int32) + 20, jax.random.key(0), few)


# ---- the mask ----

def test_mask_starts_kept_ends_noise_and_partitions():
    T, n, s, _, _ = span_lengths(512)
    seg = np.asarray(jax.jit(lambda k: SpanCorruption().noise_mask(k, 256, T, n, s))(
        jax.random.key(1)))
    assert seg.shape == (256, T)
    noise = seg % 2 == 1
    assert (seg[:, 0] == 0).all() and (seg[:, -1] == 2 * s - 1).all()  # kept first, noise last
    assert (noise.sum(1) == n).all()  # exactly n noise tokens
    step = np.diff(seg, axis=1)
    assert set(np.unique(step)) == {0, 1}  # every one of the 2s segments is non-empty
    starts = np.concatenate([np.ones((256, 1), bool), step == 1], axis=1)
    assert ((starts & noise).sum(1) == s).all()  # exactly s noise spans
    assert len({tuple(r) for r in noise}) == 256  # rows draw independently


def test_segmentation_is_uniform_over_compositions():
    # 6 items in 3 positive parts: C(5, 2) = 10 compositions, each 1/10; 4 standard errors
    B = 4000
    lens = np.asarray(_segment_lengths(jax.random.key(0), B, 6, 3))
    assert (lens > 0).all() and (lens.sum(1) == 6).all()
    counts = Counter(map(tuple, lens))
    assert len(counts) == 10
    se = np.sqrt(0.1 * 0.9 / B)
    for comp, c in counts.items():
        assert abs(c / B - 0.1) < 4 * se, (comp, c / B)


def test_batch_layout_sentinels_eos_and_merge():
    T, n, s, L, D = span_lengths(128)
    w = segments(32, T)
    b = make(w, key=3)
    assert b["inputs"].shape == (32, L) and b["targets"].shape == (32, D)
    assert b["decoder_inputs"].shape == (32, D) and (b["weights"] == 1.0).all()
    assert (b["inputs"][:, -1] == SP.eos_id).all() and (b["targets"][:, -1] == SP.eos_id).all()
    assert (b["decoder_inputs"][:, 0] == SP.bos_id).all()
    assert (b["decoder_inputs"][:, 1:] == b["targets"][:, :-1]).all()
    assert not (b["inputs"] == SP.pad_id).any()  # exact lengths: no padding
    want = SP.first_sentinel + np.arange(s)
    for i in range(32):
        assert (sentinels_in(b["inputs"][i]) == want).all()
        assert (sentinels_in(b["targets"][i]) == want).all()
        assert b["targets"][i, 0] == SP.first_sentinel
        assert merge(b["inputs"][i], b["targets"][i]) == list(w[i])
        assert sum(1 for t in b["targets"][i][:-1] if t not in want) == n  # the noise tokens


def test_deterministic_by_key():
    T = span_lengths(32)[0]
    w = segments(8, T, seed=4)
    a, a2, c = make(w, 5), make(w, 5), make(w, 6)
    for k in a:
        assert (a[k] == a2[k]).all()
    assert (a["inputs"] != c["inputs"]).any() and (a["targets"] != c["targets"]).any()


# (encoder length, noise density, mean span): one span, a few, many spans of length 1, one
# long span, uneven lengths; drawn at random so that jit compiles each shape once
LENGTHS = [(3, 0.15, 3.0), (32, 0.15, 3.0), (57, 0.3, 2.0), (100, 0.4, 1.0), (128, 0.05, 10.0),
           (97, 0.25, 4.5)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lengths=st.sampled_from(LENGTHS), seed=st.integers(0, 2**31 - 1),
       eos_share=st.sampled_from([0.0, 0.1, 0.5]))
def test_property_merge_gives_back_the_segment(lengths, seed, eos_share):
    L, density, mean = lengths
    T, n, s, enc, dec = span_lengths(L, density, mean)
    B = 3
    w = segments(B, T, seed=seed, eos_share=eos_share)
    b = make(w, seed, SpanConfig(noise_density=density, mean_span=mean))
    assert b["inputs"].shape == (B, L) and b["targets"].shape == (B, n + s + 1)
    want = SP.first_sentinel + np.arange(s)
    for i in range(B):
        assert (sentinels_in(b["inputs"][i]) == want).all()
        assert (sentinels_in(b["targets"][i]) == want).all()
        assert b["inputs"][i, -1] == SP.eos_id and b["targets"][i, -1] == SP.eos_id
        assert merge(b["inputs"][i], b["targets"][i]) == list(w[i])
