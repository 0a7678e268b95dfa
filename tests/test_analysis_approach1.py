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


def test_runs_of_one_size_are_refused_not_fitted_as_a_0_b_1(tmp_path):
    """Five runs sharing one N printed and wrote a = 0, b = 1 as a fit (approach 2 refused the
    same data): approach 1 now needs 3+ distinct sizes, and an envelope that moves."""
    import numpy as np

    from analysis.laws import REFERENCE_LAWS
    from analysis.synthetic import write_results_folder
    from analysis.table import RunTable
    law = REFERENCE_LAWS["hoffmann"]
    n, d = np.full(5, 2e7), np.geomspace(1e8, 1e10, 5)
    table = RunTable({"run_id": [f"r{i}" for i in range(5)], "objective": ["clm"] * 5,
                      "tokenizer": ["byte"] * 5, "n_total": n, "n_nonembedding": 0.8 * n,
                      "tokens": d, "loss": law.loss(n, d), "status": ["done"] * 5})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = analysis.load(write_results_folder(table, tmp_path / "one", law=law))
    with pytest.raises(InputError, match="3\\+ distinct sizes N, found 1 among 5"):
        envelope_fit(runs)
