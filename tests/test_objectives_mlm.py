"""Masked LM: selection rate, the 80/10/10 split, specials never selected nor drawn, determinism."""
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scaling.model.config import ModelConfig
from scaling.model.transformer import build_model
from scaling.objectives import get_objective
from scaling.objectives.base import Specials
from scaling.objectives.config import MLMConfig
from scaling.objectives.mlm import MaskedLM

# the byte tokenizer with 8 sentinels: 0 PAD, 1 BOS, 2 EOS, 3 MASK, 4..11 sentinels, 12.. bytes
SP = Specials(vocab_size=12 + 256, pad_id=0, bos_id=1, eos_id=2, mask_id=3, first_sentinel=4,
              n_sentinels=8, n_reserved=12)
N_ORDINARY = SP.vocab_size - SP.n_reserved


def windows(B=512, W=128, seed=0, special_share=0.1):
    """Ordinary tokens with a share of reserved ids (EOS mostly, and every other special)."""
    rng = np.random.default_rng(seed)
    w = rng.integers(SP.n_reserved, SP.vocab_size, (B, W))
    special = rng.random((B, W)) < special_share
    w[special] = rng.choice([SP.eos_id] * 4 + list(range(SP.n_reserved)), special.sum())
    return jnp.asarray(w, jnp.int32)


@functools.lru_cache(maxsize=None)
def _jitted(cfg):
    return jax.jit(lambda w, k: MaskedLM(cfg).make_batch(w, k, SP))


def batch(w, key=0, cfg=MLMConfig()):
    return _jitted(cfg)(w, jax.random.key(key))


@pytest.fixture(scope="module")
def big():
    w = windows()
    b = batch(w)
    return np.asarray(w), {k: np.asarray(v) for k, v in b.items()}


def within(observed, expected, n, sigmas=4.0):
    """|observed share - expected| within `sigmas` binomial standard errors of n trials."""
    se = math.sqrt(expected * (1 - expected) / n)
    return abs(observed - expected) <= sigmas * se, (observed, expected, sigmas * se)


def test_shapes_and_targets(big):
    w, b = big
    assert set(b) == {"inputs", "targets", "weights"}
    assert b["inputs"].shape == b["targets"].shape == b["weights"].shape == w.shape
    assert b["inputs"].dtype == w.dtype and b["weights"].dtype == np.float32
    assert (b["targets"] == w).all()
    assert set(np.unique(b["weights"])) <= {0.0, 1.0}


def test_selection_rate(big):
    # tolerance: 4 binomial standard errors over the ~59k eligible positions (about +-0.006)
    w, b = big
    eligible = w >= SP.n_reserved
    ok, info = within(b["weights"][eligible].mean(), 0.15, eligible.sum())
    assert ok, info


def test_specials_never_selected_nor_changed(big):
    w, b = big
    special = w < SP.n_reserved
    assert special.sum() > 1000  # the fixture holds many EOS and other reserved ids
    assert (b["weights"][special] == 0).all()
    assert (b["inputs"][special] == w[special]).all()
    # unselected positions are never changed either
    assert (b["inputs"][b["weights"] == 0] == w[b["weights"] == 0]).all()


def test_80_10_10_split(big):
    # tolerance: 4 binomial standard errors over the ~8.9k selected positions (about +-0.017,
    # +-0.013); a random replacement equals the original with probability 1/256, which then
    # counts as unchanged
    w, b = big
    sel = b["weights"] == 1
    n = sel.sum()
    inp, tgt = b["inputs"][sel], w[sel]
    masked = (inp == SP.mask_id).mean()
    replaced = ((inp != SP.mask_id) & (inp != tgt)).mean()
    kept = (inp == tgt).mean()
    p_random = 0.1 * (1 - 1 / N_ORDINARY)
    for observed, expected in ((masked, 0.8), (replaced, p_random), (kept, 1 - 0.8 - p_random)):
        ok, info = within(observed, expected, n)
        assert ok, info


def test_random_replacements_are_ordinary_and_spread(big):
    w, b = big
    sel = b["weights"] == 1
    inp, tgt = b["inputs"][sel], w[sel]
    drawn = inp[(inp != SP.mask_id) & (inp != tgt)]
    assert drawn.size > 500
    assert drawn.min() >= SP.n_reserved and drawn.max() < SP.vocab_size
    assert len(np.unique(drawn)) > 0.8 * N_ORDINARY  # all over the ordinary range
    # no reserved id other than MASK ever appears where the window had an ordinary token
    ordinary = w >= SP.n_reserved
    assert ((b["inputs"][ordinary] >= SP.n_reserved) | (b["inputs"][ordinary] == SP.mask_id)).all()


def test_config_options_are_used():
    w = windows(B=64, W=64, seed=1)
    b = {k: np.asarray(v) for k, v in batch(w, 3, MLMConfig(0.5, 1.0, 0.0)).items()}
    sel = b["weights"] == 1
    assert 0.4 < sel[np.asarray(w) >= SP.n_reserved].mean() < 0.6
    assert (b["inputs"][sel] == SP.mask_id).all()
    b = {k: np.asarray(v) for k, v in batch(w, 3, MLMConfig(0.5, 0.0, 0.0)).items()}
    assert (b["inputs"] == np.asarray(w)).all() and b["weights"].sum() > 0


def test_deterministic_by_key():
    w = windows(B=16, W=64, seed=2)
    a, a2, c = batch(w, 7), batch(w, 7), batch(w, 8)
    for k in a:
        assert (np.asarray(a[k]) == np.asarray(a2[k])).all()
    assert (np.asarray(a["weights"]) != np.asarray(c["weights"])).any()
    assert (np.asarray(a["inputs"]) != np.asarray(c["inputs"])).any()


def test_model_config_streams_and_registry():
    obj = get_objective("mlm", cfg=MLMConfig())
    assert isinstance(obj, MaskedLM) and obj.name == "mlm" and obj.arch == "encoder"
    m = obj.model_config(ModelConfig(seq_len=96, vocab_size=SP.vocab_size))
    assert m.arch == "encoder" and obj.window_len(m) == 96
    assert obj.stream_tokens(m) == {"raw": 96, "encoder": 96, "decoder": 0}


def test_encoder_attention_is_bidirectional():
    """A change at the last position moves the logits at the first: no causal mask."""
    obj = MaskedLM()
    m = obj.model_config(ModelConfig(d_model=16, n_layers=1, n_heads=2, seq_len=8,
                                     vocab_size=SP.vocab_size))
    model = build_model(m, 0)
    x = jnp.full((1, 8), 20, jnp.int32)
    a = obj.logits(model, {"inputs": x})
    b = obj.logits(model, {"inputs": x.at[0, -1].set(SP.mask_id)})
    assert a.shape == (1, 8, SP.vocab_size)
    assert not np.allclose(np.asarray(a[0, 0]), np.asarray(b[0, 0]))
