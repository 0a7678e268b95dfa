import jax.numpy as jnp
import pytest

from scaling.train.config import OptimConfig
from scaling.train.schedule import make_schedule


def at(cfg, total, steps):
    f = make_schedule(cfg, total)
    host = [f(s) for s in steps]
    dev = [float(f(jnp.int32(s))) for s in steps]
    assert host == pytest.approx(dev, rel=1e-6)
    return host


def test_cosine_to_ten_percent_at_last_step():
    v = at(OptimConfig(lr=1.0, warmup_frac=0.1), 101, [0, 9, 10, 55, 100])
    assert v == pytest.approx([0.1, 1.0, 1.0, 0.55, 0.1])


def test_wsd_shapes():
    base = dict(lr=2.0, schedule="wsd", warmup_steps=10, decay_frac=0.2, min_lr_ratio=0.0)
    lin = at(OptimConfig(**base, decay_shape="linear"), 100, [50, 79, 80, 89, 99])
    assert lin == pytest.approx([2.0, 2.0, 1.9, 1.0, 0.0])
    sq = at(OptimConfig(**base, decay_shape="1-sqrt"), 100, [89, 99])
    assert sq == pytest.approx([2.0 * (1 - 0.5 ** 0.5), 0.0])
    cos = at(OptimConfig(**base, decay_shape="cosine"), 100, [89])
    assert cos == pytest.approx([1.0])


def test_constant_after_warmup():
    assert at(OptimConfig(lr=0.5, schedule="constant", warmup_steps=4), 50, [0, 3, 49]) == \
        pytest.approx([0.125, 0.5, 0.5])
