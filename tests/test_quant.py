"""Fake quantisation (model.quant): the quantiser, its gradients and scales, the config and run
identity, and what it does to a trained model."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from runstore import InputError
from scaling.configio import from_dict
from scaling.model.config import ModelConfig
from scaling.model.quant import (
    QuantLinear,
    fake_quant,
    lsq_init,
    qmax,
    quantize_per_token,
    quantize_weight,
)
from scaling.model.quant_config import QuantConfig, parse_precision, precision_label
from scaling.model.transformer import build_model
from scaling.train.config import RunConfig, config_identity


def test_qmax_is_the_symmetric_grid():
    assert [qmax(b) for b in (2, 3, 4, 8)] == [1.0, 3.0, 7.0, 127.0]


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_round_trip_lands_on_the_grid_within_half_a_step(bits):
    x = jax.random.normal(jax.random.key(0), (64, 16))
    s = jnp.float32(0.1)
    q = np.asarray(fake_quant(x, s, qmax(bits)))
    levels = q / 0.1
    assert np.allclose(levels, np.round(levels), atol=1e-4)  # on the grid
    assert np.abs(levels).max() <= qmax(bits) + 1e-6          # inside the range
    inside = np.abs(np.asarray(x)) <= 0.1 * qmax(bits)
    assert np.all(np.abs(q - np.asarray(x))[inside] <= 0.05 + 1e-6)
    # grid points are fixed points, and rounding twice changes nothing
    assert np.allclose(np.asarray(fake_quant(jnp.asarray(q), s, qmax(bits))), q)


def test_gradient_is_straight_through_inside_and_zero_where_clipped():
    x = jnp.array([-5.0, -0.26, -0.04, 0.0, 0.13, 0.29, 0.3, 0.31, 7.0])
    s = jnp.float32(0.1)  # 3 bits: the range is +-0.3
    g = jax.grad(lambda v: jnp.sum(fake_quant(v, s, qmax(3)) * jnp.arange(1.0, 10.0)))(x)
    expect = np.where(np.abs(np.asarray(x)) <= 0.3 + 1e-7, np.arange(1.0, 10.0), 0.0)
    assert np.allclose(np.asarray(g), expect)


def test_scale_gradient_is_lsq():
    x = jnp.array([0.04, 0.16, -0.5])
    s = jnp.float32(0.1)  # 3 bits: 0.04 -> 0 (round(v) - v = -0.4), 0.16 -> 2 (+0.4), -0.5 clipped
    g = jax.grad(lambda sc: jnp.sum(fake_quant(x, sc, qmax(3))))(s)
    assert np.isclose(float(g), -0.4 + 0.4 - 3.0, atol=1e-5)


def test_weights_are_scaled_per_output_channel():
    w = jax.random.normal(jax.random.key(1), (32, 4)) * jnp.array([1e-3, 1.0, 10.0, 100.0])
    q = np.asarray(quantize_weight(w, 4))
    for c in range(4):  # each column's absmax maps to +-qmax of its own scale
        col, qc = np.asarray(w[:, c]), q[:, c]
        step = np.abs(col).max() / 7
        assert np.isclose(np.abs(qc).max(), np.abs(col).max(), rtol=1e-5)
        assert np.allclose(qc / step, np.round(qc / step), atol=1e-3)
        assert np.abs(qc - col).max() <= step / 2 * (1 + 1e-5)
    # a shared (per-tensor) scale would flatten the small channel to zeros; per channel keeps it
    assert np.count_nonzero(q[:, 0]) > 16


def test_activations_are_scaled_per_token():
    x = jax.random.normal(jax.random.key(2), (2, 3, 8)) * jnp.arange(1.0, 7.0).reshape(2, 3, 1)
    q = np.asarray(quantize_per_token(x, 8))
    amax = np.abs(np.asarray(x)).max(-1)
    assert np.allclose(np.abs(q).max(-1), amax, rtol=1e-5)
    assert np.all(np.abs(q - np.asarray(x)) <= amax[..., None] / 127 / 2 * (1 + 1e-5))


def test_learned_scales_are_parameters_initialised_as_lsq():
    from flax import nnx
    layer = QuantLinear(16, 8, quant=QuantConfig(weights=4, learned_scales=True),
                        rngs=nnx.Rngs(0))
    k = layer.kernel[...]
    assert layer.log_scale[...].shape == (8,)
    expect = np.log(2 * np.abs(np.asarray(k)).mean(0) / np.sqrt(7))
    assert np.allclose(np.asarray(lsq_init(k, 4)), expect, rtol=1e-5)
    g = nnx.grad(lambda m: jnp.sum(m(jnp.ones((2, 16))) ** 2))(layer)
    assert np.any(np.asarray(g.log_scale[...]) != 0)  # the scales train


def test_config_labels_round_trip_and_bad_bits_name_the_key():
    for label in ("w8", "w4a8", "w3-lsq", "w4a8kv4", "a8", "w2-lsq-emb"):
        assert precision_label(parse_precision(label)) == label
    assert parse_precision("none") is None and precision_label(None) == "none"
    with pytest.raises(InputError, match="precision label"):
        parse_precision("int4")
    with pytest.raises(InputError) as e:
        from_dict(RunConfig, {"model": {"quant": {"weights": 9}}}, file="x.yaml")
    assert "model.quant.weights" in str(e.value)
    with pytest.raises(InputError):
        from_dict(RunConfig, {"model": {"quant": {}}}, file="x.yaml")  # quantises nothing
    assert QuantConfig(weights=4).stored_bytes_per_param() == 0.5


def test_unset_quant_is_absent_from_run_identity():
    plain = RunConfig()
    assert "quant" not in config_identity(plain.to_dict())["model"]
    quant = from_dict(RunConfig, {"model": {"quant": {"weights": 4}}})
    assert config_identity(quant.to_dict())["model"]["quant"]["weights"] == 4
    assert plain.short_hash() != quant.short_hash()
    # the hash of a config written before model.quant existed (no key at all) is unchanged
    old = plain.to_dict()
    old["model"].pop("quant")
    assert config_identity(old) == plain.identity()


def _tiny(**kw) -> ModelConfig:
    return ModelConfig(d_model=32, n_layers=2, n_heads=2, seq_len=16, vocab_size=64, **kw)


def test_unquantised_model_builds_plain_layers_and_no_rounding():
    from flax import nnx
    model = build_model(_tiny(), 0)
    assert not any(isinstance(m, QuantLinear) for _, m in nnx.iter_graph(model))
    graphdef, params = nnx.split(model, nnx.Param)
    ids = jnp.zeros((2, 16), jnp.int32)
    fwd = lambda p: nnx.merge(graphdef, p)(ids)  # noqa: E731
    assert "round" not in jax.jit(fwd).lower(params).as_text()
    model_q = build_model(_tiny(quant=QuantConfig(weights=4, kv=4)), 0)
    gq, pq = nnx.split(model_q, nnx.Param)
    assert "round" in jax.jit(lambda p: nnx.merge(gq, p)(ids)).lower(pq).as_text()
    # without learned scales the parameters are the same arrays: PTQ and QAT share checkpoints
    assert jax.tree.structure(pq) == jax.tree.structure(params)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(pq), jax.tree.leaves(params)))


def _train_tiny(steps=150):
    """A tiny causal LM trained on a repeating pattern: a model whose loss is well below chance."""
    from scaling.objectives import get_objective
    from scaling.objectives.base import Specials
    from scaling.train.config import OptimConfig
    from scaling.train.state import build_train_state
    cfg = _tiny()
    obj = get_objective("clm")
    sp = Specials(64, 0, 1, 2, 3, 4, 4, 8)
    ts = build_train_state(cfg, obj, OptimConfig(lr=1e-2), steps, sp, 0)
    rng = np.random.default_rng(0)
    base = rng.integers(8, 64, 40)
    p, o = ts.state["params"], ts.state["opt_state"]
    for step in range(steps):
        starts = rng.integers(0, 20, 8)
        w = np.stack([base[s:s + obj.window_len(cfg)] for s in starts]).astype(np.int32)
        p, o, m = ts.step_fn(p, o, jnp.asarray(w), step)
    return cfg, obj, sp, p, w


def test_eight_bits_change_a_trained_models_loss_by_under_one_percent():
    from flax import nnx

    from scaling.train.step import _loss_fn
    cfg, obj, sp, params, w = _train_tiny()
    key = jax.random.key(0)

    def loss(model_cfg, p):
        graphdef, _ = nnx.split(build_model(model_cfg, 0), nnx.Param)
        batch = obj.make_batch(jnp.asarray(w), key, sp)
        return float(_loss_fn(graphdef, obj, p, batch)[0])

    full = loss(cfg, params)
    assert full < 0.5 * np.log(64)  # it learned the pattern
    w8 = loss(cfg.replace(quant=QuantConfig(weights=8)), params)
    w8a8 = loss(cfg.replace(quant=QuantConfig(weights=8, activations=8, kv=8)), params)
    w2 = loss(cfg.replace(quant=QuantConfig(weights=2)), params)
    assert abs(w8 - full) / full < 0.01 and abs(w8a8 - full) / full < 0.01
    assert w2 > w8  # and 2 bits do hurt: the test can tell
