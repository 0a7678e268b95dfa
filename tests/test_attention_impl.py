"""model.attention (einsum | dot_product | flash, chosen per target platform) and model.remat (none | block | dots): the same
function. Attention kernels agree within float tolerance (causal, bidirectional, cross);
rematerialisation recomputes the same ops, so on CPU the losses are identical bit for bit."""
import jax
import numpy as np
import pytest
from stepping import losses, rel_diff

from scaling.model.attention import attention_plan
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


def test_implementation_is_chosen_for_the_target_platform_not_the_host():
    bf16 = ModelConfig(attention="auto", dtype="bfloat16", d_model=256, n_heads=4, seq_len=256)
    assert attention_impl(bf16, "cpu") == "einsum"
    assert attention_impl(bf16, "gpu") == attention_impl(bf16, "cuda") == "cudnn"
    assert attention_impl(bf16, "tpu") == "splash"
    # where a kernel does not apply, XLA's attention, and the plan says why
    assert attention_impl(bf16.replace(dtype="float32"), "gpu") == "xla"
    assert attention_impl(bf16.replace(seq_len=200), "tpu") == "xla"
    why = attention_plan(bf16.replace(seq_len=200), "tpu")["self (causal)"][1]
    assert "multiples of 128" in why
    assert attention_impl(bf16.replace(attention="dot_product"), "tpu") == "xla"
    assert attention_impl(bf16.replace(attention="dot_product"), "gpu") == "cudnn"
    assert attention_impl(bf16.replace(attention="einsum"), "tpu") == "einsum"
    # encoder-decoder cross attention: decoder length x encoder length
    span = bf16.replace(arch="encoder_decoder", dec_seq_len=100)
    plan = attention_plan(span, "tpu")
    assert plan["encoder self"][0] == "splash" and plan["cross"][0] == "xla"


@pytest.mark.parametrize("causal,T,S", [(True, 256, 256), (False, 128, 128), (False, 128, 256)],
                         ids=["causal", "bidirectional", "cross"])
def test_pallas_splash_matches_einsum_with_gradients(causal, T, S):
    """The TPU kernel in Pallas's interpreter on CPU: outputs and gradients equal the einsum
    path's within float32 tolerance."""
    from scaling.model.flash import attend_splash

    ks = jax.random.split(jax.random.key(1), 4)
    q = jax.random.normal(ks[0], (2, T, 2, 64))
    k, v = (jax.random.normal(kk, (2, S, 2, 64)) for kk in ks[1:3])
    w = jax.random.normal(ks[3], (2, T, 2, 64))
    f_ref = lambda q, k, v: (attend(q, k, v, causal, "einsum") * w).sum()  # noqa: E731
    f_pal = lambda q, k, v: (attend_splash(q, k, v, causal, interpret=True) * w).sum()  # noqa
    np.testing.assert_allclose(np.asarray(attend_splash(q, k, v, causal, interpret=True)),
                               np.asarray(attend(q, k, v, causal, "einsum")),
                               rtol=2e-5, atol=2e-5)
    g_ref = jax.grad(f_ref, argnums=(0, 1, 2))(q, k, v)
    g_pal = jax.grad(f_pal, argnums=(0, 1, 2))(q, k, v)
    for a, b in zip(g_pal, g_ref):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("objective", ["clm", "span"])
def test_remat_is_bit_identical(objective):
    base = losses(objective, steps=3)
    for policy in ("block", "dots"):
        assert losses(objective, steps=3, **{"model.remat": policy}) == base, policy
