"""analysis.huber.terms: the objective's forward chain, the same in numpy and in JAX."""
import jax.numpy as jnp
import numpy as np

from analysis import huber


def test_terms_are_the_log_sum_exp_law_and_its_clipped_residual():
    x, y = np.log([1e6, 1e8, 1e9]), np.log([1e9, 1e10, 2e11])
    e, a, b, al, be = np.log(1.69), np.log(406.4), np.log(410.7), 0.34, 0.28
    law = 1.69 + 406.4 / np.exp(x) ** 0.34 + 410.7 / np.exp(y) ** 0.28
    log_loss = np.log(law) + np.array([0.0, 2e-3, -5e-4])
    e1, e2, e3, s, r, c = huber.terms(np, e, a, b, al, be, x, y, log_loss, 1e-3)
    np.testing.assert_allclose(r, [0.0, -2e-3, 5e-4], atol=1e-12)
    np.testing.assert_allclose(c, [0.0, -1e-3, 5e-4], atol=1e-12)  # clipped at delta
    np.testing.assert_allclose(s, e1 + e2 + e3)
    assert np.all(np.maximum(np.maximum(e1, e2), e3) == 1.0)  # shifted by the largest term


def test_jax_gives_numpys_numbers():
    r = np.random.default_rng(0)
    x, y, ll = r.uniform(10, 20, 7), r.uniform(18, 25, 7), r.uniform(0.5, 1.5, 7)
    theta = (0.3, 6.0, 7.0, 0.35, 0.3)
    want = huber.terms(np, *theta, x, y, ll, 1e-3)
    got = huber.terms(jnp, *theta, jnp.asarray(x), jnp.asarray(y), jnp.asarray(ll), 1e-3)
    for w, g in zip(want, got):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-5, atol=1e-7)
