"""Resampling helpers."""

import numpy as np
import pytest

from analysis.bootstrap import interval, resample_counts, resample_indices


def test_counts_are_seeded_and_sum_to_n():
    a, b = resample_counts(30, 5, seed=1), resample_counts(30, 5, seed=1)
    np.testing.assert_array_equal(a, b)
    assert (a.sum(axis=1) == 30).all()
    assert not np.array_equal(a, resample_counts(30, 5, seed=2))
    assert resample_indices(10, 3, 0).shape == (3, 10)


def test_interval_level():
    s = np.arange(1001.0)
    assert interval(s, 0.8) == pytest.approx([100.0, 900.0])
    assert interval([np.nan, 1.0, np.inf], 0.5) == [1.0, 1.0]
