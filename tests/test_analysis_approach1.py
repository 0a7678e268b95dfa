"""Approach 1 on the fixture folder's training curves."""

import warnings
from pathlib import Path

import pytest

import analysis
from analysis import InputError
from analysis.approach1 import envelope_fit

FIX = Path(__file__).parent / "fixtures" / "analysis"


def test_envelope_on_fixture():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = analysis.load(FIX / "sweep")
        fit = envelope_fit(runs, bootstrap=20)
    true_a = 0.28 / (0.34 + 0.28)
    assert abs(fit.a - true_a) < 0.1  # coarse: 25 runs, 8 curve points each
    assert fit.a + fit.b == pytest.approx(1.0)
    assert fit.to_dict()["envelope"]["flops"]


def test_csv_has_no_curves():
    with pytest.raises(InputError, match="curves"):
        envelope_fit(analysis.from_csv(FIX / "runs.csv"))
