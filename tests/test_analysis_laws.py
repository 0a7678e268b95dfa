"""Allocation from reference laws against hand-computed values."""

import json
import math

import pytest

from analysis import InputError, get_law
from analysis.laws import REFERENCE_LAWS, ParametricLaw


def test_besiroglu_tokens_per_param_matches_paper():
    law = get_law("besiroglu")
    assert law.tokens_per_param(1e18) == pytest.approx(25.7, abs=0.2)
    assert law.tokens_per_param(1e22) == pytest.approx(20.3, abs=0.2)
    assert law.tokens_per_param(5.76e23) == pytest.approx(18.4, abs=0.3)


def test_hoffmann_ratio_drifts_as_the_issue_says():
    law = get_law("hoffmann")
    assert law.tokens_per_param(1e18) == pytest.approx(25.7, abs=0.5)
    assert law.tokens_per_param(5.76e23) == pytest.approx(92.6, abs=1.0)


def test_allocation_by_hand():
    law = REFERENCE_LAWS["besiroglu"]
    G = (0.3478 * 482.01 / (0.3658 * 2085.43)) ** (1 / (0.3478 + 0.3658))
    C = 1e21
    n = G * (C / 6) ** (0.3658 / (0.3478 + 0.3658))
    assert law.n_opt(C) == pytest.approx(n, rel=1e-12)
    assert law.d_opt(C) == pytest.approx(C / (6 * n), rel=1e-12)
    opt = law.optimal(C)
    assert opt["loss"] == pytest.approx(1.82 + 482.01 / n**0.3478 + 2085.43 / (C / 6 / n) ** 0.3658)


@pytest.mark.parametrize("name", ["hoffmann", "besiroglu", "kaplan"])
def test_for_params_inverts_n_opt(name):
    law = get_law(name)
    out = law.for_params(7e9)
    assert law.n_opt(out["flops"]) == pytest.approx(7e9, rel=1e-9)
    assert out["d_opt"] == pytest.approx(out["flops"] / (6 * 7e9), rel=1e-9)


def test_kaplan_allocation_numbers():
    law = get_law("kaplan")
    assert law.n_opt(8.64e19) == pytest.approx(1.3e9)
    assert law.loss(1e9, 1e12) == pytest.approx(
        ((8.8e13 / 1e9) ** (0.076 / 0.095) + 5.4e13 / 1e12) ** 0.095)
    assert law.interval is None


def test_unknown_law_names_it():
    with pytest.raises(InputError, match="chinchila"):
        get_law("chinchila")


def test_fit_json_loads_back(tmp_path):
    law = ParametricLaw(E=1.8, A=400.0, B=900.0, alpha=0.33, beta=0.31, name="mine",
                        interval={"level": 0.8, "alpha": [0.3, 0.36]},
                        samples=((1.8, 400.0, 900.0, 0.33, 0.31), (1.7, 380.0, 1000.0, 0.32, 0.32)))
    (tmp_path / "fits").mkdir()
    path = tmp_path / "fits" / "approach3-clm-byte.json"
    path.write_text(json.dumps({"approach": 3, "law": law.to_dict()}))
    back = get_law(str(path))
    assert back == law and back.interval["alpha"] == [0.3, 0.36]
    assert get_law(tmp_path) == law  # a results folder with one approach-3 fit
    opt = back.optimal(1e20)
    lo, hi = opt["tokens_per_param_interval"]
    assert lo <= hi and math.isfinite(lo)


def test_a_law_file_with_overflowed_draws_loads_them_as_nan():
    """JSON stores a draw whose E, A or B overflowed as null; the law loads (as nan) and its
    intervals come from the finite draws."""
    import math

    from analysis.laws import ParametricLaw
    d = {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.37, "interval": {"level": 0.8},
         "samples": [[1.8, 400.0, 2000.0, 0.34, 0.37], [None, None, 2100.0, 0.35, 0.36],
                     [1.7, 410.0, 1900.0, 0.33, 0.38]]}
    law = ParametricLaw.from_dict(d)
    assert math.isnan(law.samples[1][0]) and law.samples[2][1] == 410.0
