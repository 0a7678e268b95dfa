"""Unit conversions of scaling/budget/compute.py against the seed notes' figures."""
import math

import pytest

from scaling.budget import compute as cu


def test_pf_day_is_8_64e19_flop():
    assert cu.PF_DAY == 8.64e19
    assert cu.pf_days(8.64e19) == pytest.approx(1.0)
    assert cu.flops_from_pf_days(1.0) == pytest.approx(8.64e19)


def test_gpt3_budget():
    c = cu.flops_6nd(175e9, 300e9)
    assert c == pytest.approx(3.15e23)
    assert cu.pf_days(c) == pytest.approx(3645.8, rel=1e-3)  # "about 3,650 PF/s-days"
    assert cu.chinchilla_tokens(175e9) == pytest.approx(3.5e12)


def test_device_days_and_inverse():
    c = cu.flops_for_devices(989e12, 0.4, 8, 3.0)
    assert c == pytest.approx(989e12 * 0.4 * 8 * 3 * 86400)
    assert cu.device_days(c, 989e12, 0.4, 8) == pytest.approx(3.0)
    # GPU-days = C / (peak x MFU x 86400)
    assert cu.device_days(c, 989e12, 0.4) == pytest.approx(24.0)
    assert cu.devices_for_days(c, 989e12, 0.4, 3.0) == pytest.approx(8.0)


def test_tokens_params_inverse():
    assert cu.tokens_for_budget(6e21, 1e9) == pytest.approx(1e12)
    assert cu.params_for_budget(6e21, 1e12) == pytest.approx(1e9)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_rejects_non_positive(bad):
    with pytest.raises(ValueError):
        cu.pf_days(bad)
    with pytest.raises(ValueError):
        cu.flops_6nd(bad, 1e9)


def test_rejects_mfu_above_one():
    with pytest.raises(ValueError):
        cu.device_days(1e20, 1e15, 1.5)
