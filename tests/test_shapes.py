import math

import pytest

from scaling.model.config import ModelConfig
from scaling.model.shapes import ShapeRule

BASE = ModelConfig(vocab_size=32000, seq_len=2048)


@pytest.mark.parametrize("target", [1e6, 1e7, 1.24e8, 1e9, 7e10])
def test_nearest_count_and_aspect(target):
    rule = ShapeRule()
    cfg = rule.for_params(target, BASE)
    assert abs(math.log(cfg.n_params_total() / target)) < 0.15
    assert cfg.d_model % 16 == 0 and cfg.d_model % cfg.n_heads == 0
    assert cfg.n_layers == max(1, round(cfg.d_model / 64))


def test_fixed_depth_and_nonembedding_target():
    rule = ShapeRule(n_layers=3, head_dim=8, width_step=8, count="nonembedding")
    cfg = rule.for_params(50_000, ModelConfig(vocab_size=324, seq_len=128))
    assert cfg.n_layers == 3
    assert abs(math.log(cfg.n_params_nonembedding() / 50_000)) < 0.2


def test_monotone_in_target():
    rule = ShapeRule(aspect_ratio=32, head_dim=16)
    sizes = [rule.for_params(t, BASE).n_params_total() for t in (1e7, 3e7, 1e8, 3e8)]
    assert sizes == sorted(sizes)
