"""Attention: the blocked causal form computes the same function as full masked attention."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scaling.model import layers


def reference(q, k, v, causal):
    K = q.shape[-1]
    s = jnp.einsum("bthk,bshk->bhts", q, k) / np.sqrt(K)
    if causal:
        T = s.shape[-1]
        s = jnp.where(jnp.tril(jnp.ones((T, T), bool)), s, -jnp.inf)
    return jnp.einsum("bhts,bshk->bthk", jax.nn.softmax(s, -1), v)


@pytest.mark.parametrize("T,causal", [(256, True), (192, True), (40, True), (128, False)])
def test_attend_matches_reference(T, causal):
    kq, kk, kv = jax.random.split(jax.random.key(0), 3)
    shape = (2, T, 3, 16)
    q, k, v = (jax.random.normal(x, shape) for x in (kq, kk, kv))
    np.testing.assert_allclose(layers.attend(q, k, v, causal), reference(q, k, v, causal),
                               rtol=2e-5, atol=2e-6)


def test_causal_output_ignores_future_tokens():
    q, k, v = (jax.random.normal(jax.random.key(i), (1, 256, 2, 8)) for i in range(3))
    k2, v2 = k.at[:, 200:].set(7.0), v.at[:, 200:].set(-3.0)
    a = layers.attend(q, k, v, True)[:, :200]
    b = layers.attend(q, k2, v2, True)[:, :200]
    np.testing.assert_array_equal(a, b)
