"""model.attention (einsum | dot_product) and model.remat (none | block | dots): the same
function. Attention kernels agree within float tolerance (causal, bidirectional, cross);
rematerialisation recomputes the same ops, so on CPU the losses are identical bit for bit."""
import jax
import numpy as np
import pytest

from stepping import losses, rel_diff
from scaling.model.config import ModelConfig
from scaling.model.layers import attend, attention_impl


@pytest.mark.parametrize("causal,T,S", [(True, 128, 128), (False, 40, 40), (False, 24, 56)],
                         ids=["causal", "bidirectional", "cross"])
def test_attention_kernels_agree(causal, T, S):
    ks = jax.random.split(jax.random.key(0), 3)
    q = jax.random.normal(ks[0], (2, T, 4, 16))
    k, v = (jax.random.normal(kk, (2, S, 4, 16)) for kk in ks[1:])
    a = attend(q, k, v, causal, "einsum")
    b = attend(q, k, v, causal, "dot_product")
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
    # the check can fail: a bidirectional result differs from a causal one
    c = attend(q, k, v, not causal, "einsum") if T == S else None
    if c is not None:
        assert np.abs(np.asarray(c) - np.asarray(a)).max() > 1e-2


@pytest.mark.parametrize("objective", ["clm", "mlm", "span"])
def test_model_losses_agree_across_attention_kernels(objective):
    base = losses(objective, steps=2, **{"model.attention": "einsum"})
    other = losses(objective, steps=2, **{"model.attention": "dot_product"})
    assert rel_diff(other, base) < 1e-5


def test_auto_is_einsum_on_cpu():
    assert attention_impl(ModelConfig(attention="auto")) == (
        "einsum" if jax.default_backend() == "cpu" else "dot_product")
    assert attention_impl(ModelConfig(attention="dot_product")) == "dot_product"


@pytest.mark.parametrize("objective", ["clm", "span"])
def test_remat_is_bit_identical(objective):
    base = losses(objective, steps=3)
    for policy in ("block", "dots"):
        assert losses(objective, steps=3, **{"model.remat": policy}) == base, policy
