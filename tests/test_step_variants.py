"""benchmarks/step_variants.py: its hand-written attention backward is the gradient of the
model's causal attention (so the variant it times computes the same function), and each
variant builds a step that trains."""
from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import step_variants  # noqa: E402
from scaling.model import layers  # noqa: E402


def _grads(attend, q, k, v, w):
    loss = lambda q, k, v: jnp.sum(attend(q, k, v, True) * w)
    return jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(q, k, v)


def test_hand_written_backward_matches_autodiff_of_the_models_attention():
    r = np.random.default_rng(0)
    B, T, H, K = 2, 2 * layers.CAUSAL_BLOCK, 2, 8  # two causal blocks
    q, k, v, w = (jnp.asarray(r.standard_normal((B, T, H, K)), jnp.float32) for _ in range(4))
    want = _grads(layers.attend, q, k, v, w)
    got = _grads(step_variants.attend_vjp, q, k, v, w)
    out = jax.jit(lambda q, k, v: step_variants.attend_vjp(q, k, v, True))(q, k, v)
    np.testing.assert_allclose(out, layers.attend(q, k, v, True), rtol=1e-5, atol=1e-6)
    for g, ref in zip(got, want):
        np.testing.assert_allclose(g, ref, rtol=1e-4, atol=1e-5)
    # the comparison can fail: a backward that dropped the softmax's correction term would not pass
    assert float(jnp.max(jnp.abs(want[1]))) > 1e-3


@pytest.mark.parametrize("variant", ["base", "grads_only", "no_attention", "attention_vjp"])
def test_every_variant_builds_a_step_that_lowers_the_loss(variant):
    from scaling.model.config import ModelConfig
    from scaling.objectives import Specials, get_objective

    obj = get_objective("clm")
    model = obj.model_config(ModelConfig(d_model=32, n_layers=1, n_heads=2, seq_len=64,
                                         vocab_size=256))
    W, B = obj.window_len(model), 4
    fn, p, o = step_variants.build(variant, model, obj, Specials(256, 0, 1, 2, 3, 4, 0, 0), B, W)
    x = jnp.asarray(np.random.default_rng(1).integers(0, 16, (B, W)), jnp.int32)
    first = None
    for i in range(30):
        p, o, m = fn(p, o, x, i)
        first = float(m["loss"]) if first is None else first
    assert float(m["loss"]) < first - 0.1, (variant, first, float(m["loss"]))
