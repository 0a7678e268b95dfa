"""Per-size recipe rules: power, table, constant; batch rounding; warmup in tokens per param."""

import pytest

from runstore import InputError
from scaling.sweep import recipe as rec
from scaling.sweep.config import RecipeConfig, SizeRule
from scaling.train.config import RunConfig, TrainConfig


def test_size_rules():
    lr = SizeRule(rule="power", base=7.8e-3, n_ref=37760, exponent=-0.6)
    assert lr(37760) == pytest.approx(7.8e-3)
    assert lr(4 * 37760) == pytest.approx(7.8e-3 * 4 ** -0.6)
    tab = SizeRule(rule="table", table=((1e5, 1e-3), (1e6, 5e-4), (1e7, 2e-4)))
    assert tab(2e5) == 1e-3 and tab(4e5) == 5e-4 and tab(1e9) == 2e-4
    bs = SizeRule(rule="power", base=32, n_ref=1e6, exponent=0.5, multiple_of=8, max=256)
    assert bs(1e6) == 32 and bs(4e6) == 64 and bs(1e4) == 8 and bs(1e10) == 256
    assert SizeRule(value=0.99)(123) == 0.99


def test_hyper_and_apply():
    base = RunConfig(train=TrainConfig(steps=1, batch_size=4))
    r = RecipeConfig(lr=SizeRule(value=1e-3), b2=SizeRule(value=0.99),
                     warmup_tokens_per_param=1.0, schedule="wsd")
    h = rec.hyper(r, base, 1e5)
    assert (h.lr, h.batch_size, h.b2, h.schedule) == (1e-3, 4, 0.99, "wsd")
    w = rec.warmup_steps(r, 1e5, tokens_per_step=4 * 128, steps=1000)
    assert w == round(1e5 / 512)
    assert rec.warmup_steps(r, 1e9, 512, steps=50) == 49  # capped below the run's length
    cfg = rec.apply(base, h, steps=1000, warmup=w)
    assert cfg.train.steps == 1000 and cfg.optim.warmup_steps == w and cfg.optim.b2 == 0.99
    assert rec.hyper(RecipeConfig(), base, 1e5).lr == base.optim.lr  # unset: the base's
    with pytest.raises(InputError) as e:
        rec.hyper(RecipeConfig(b2=SizeRule(rule="power", base=0.9, n_ref=1, exponent=1)),
                  base, 10)
    assert "recipe.b2" in str(e.value)
