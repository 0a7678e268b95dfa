"""benchmarks.step_variants: its hand-written attention backward is the gradient of the
model's causal attention (so the variant it times computes the same function), and each
variant builds a step that trains; benchmarks.suite_step builds the step a run trains."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import step_variants, suite_step
from scaling.model import layers


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
    B = 4
    fn, p, o, ss = step_variants.build(variant, B, d_model=32, n_layers=1, n_heads=2,
                                       seq_len=64)
    x = jnp.asarray(np.random.default_rng(1).integers(0, 16, (B, ss.window)), jnp.int32)
    first = None
    for i in range(30):
        p, o, m = fn(p, o, x, i)
        first = float(m["loss"]) if first is None else first
    assert float(m["loss"]) < first - 0.1, (variant, first, float(m["loss"]))


@pytest.mark.parametrize("objective", ["clm", "mlm", "span"])
def test_suite_step_is_the_train_state_a_run_builds(objective):
    """The benchmarks' one builder gives the trainer's step: same parameters from the seed, same
    loss on the same windows as build_train_state called as the trainer calls it."""
    from scaling.train.state import build_train_state

    ss = suite_step.build(objective, d_model=32, n_layers=1, n_heads=2, seq_len=32)
    assert ss.specials.n_reserved == (0 if objective == "clm" else 4 + suite_step.N_SENTINELS)
    assert ss.model.vocab_size == 256 + ss.specials.n_reserved
    ref = build_train_state(ss.model, ss.objective, suite_step.OPTIM, suite_step.TOTAL_STEPS,
                            ss.specials, seed=0)
    (w,) = ss.windows(4, n=1)
    assert int(w.min()) >= ss.specials.n_reserved and w.shape == (4, ss.window)
    losses = []
    for ts in (ss.train, ref):
        _, _, m = ts.step_fn(ts.state["params"], ts.state["opt_state"], w, 0)
        losses.append(float(m["loss"]))
    assert losses[0] == losses[1] and np.isfinite(losses[0])
