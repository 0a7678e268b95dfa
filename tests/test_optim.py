"""The batched L-BFGS driver: padded sizes, compilations, stopping, the float64 helpers."""

import ctypes

import jax
import numpy as np
import pytest

from analysis import optim
from analysis.laws import ParametricLaw
from analysis.parametric import one_blas_thread
from analysis.synthetic import synthetic_runs

LAW = ParametricLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


def _data(n_budgets: int, sizes: int = 10, seed: int = 3):
    runs = synthetic_runs(LAW, budgets=np.logspace(16, 20, n_budgets), sizes_per_budget=sizes,
                          noise=0.005, seed=seed)
    return np.log(runs["n_total"]), np.log(runs["tokens"]), np.log(runs["loss"])


def test_runs_bucket_keeps_32_and_64_then_two_sizes_per_doubling():
    assert [optim._runs_bucket(m) for m in (1, 22, 32, 33, 42, 64)] == [32, 32, 32, 64, 64, 64]
    sizes = {optim._runs_bucket(m) for m in range(1, 1025)}
    assert sorted(sizes) == [32, 64, 96, 128, 192, 256, 384, 512, 768, 1024]
    assert all(optim._runs_bucket(m) >= m for m in range(1, 5000, 7))


def test_other_run_count_in_the_same_bucket_does_not_recompile():
    lowered = []

    def listen(event, secs, **kw):
        if event == "/jax/core/compile/jaxpr_to_mlir_module_duration":  # any program, hit or miss
            lowered.append(event)

    starts = optim.hoffmann_grid()[::150]  # 30 starts: one batch of 32 rows
    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        optim.batched_lbfgs(starts, *_data(13), 1e-3)  # 130 runs, padded to 192
        first = len(lowered)
        optim.batched_lbfgs(starts, *_data(19), 1e-3)  # 190 runs: the same program
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert first > 0 and len(lowered) == first  # no test before uses 192 padded runs


def test_stopping_on_convergence_equals_a_single_long_run():
    # 30 starts fit one batch of 32 rows, so the driver never compacts: chunks of 40
    # evaluations (the host checks in between) and one call of 100,000 evaluations, which
    # the while-loop ends as soon as every row has converged or stalled, give the same bits.
    x, y, ll = _data(5)
    starts = optim.hoffmann_grid()[::150]
    a = optim.batched_lbfgs(starts, x, y, ll, 1e-3)
    b = optim.batched_lbfgs(starts, x, y, ll, 1e-3, chunk=100_000)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert a[2].max() < 1000  # every row stopped on its own test, not the iteration cap


def test_objective_rows_equals_objective_np_bit_for_bit():
    x, y, ll = _data(5)
    rng = np.random.default_rng(0)
    grid = optim.hoffmann_grid()[::7]
    theta = np.vstack([grid, grid + 0.3 * rng.standard_normal(grid.shape), [[0, np.inf, 0, 0, 0]]])
    rows = optim.objective_rows(theta, x, y, ll, 1e-3, block=100)
    loop = np.array([optim.objective_np(t, x, y, ll, 1e-3)[0] for t in theta])
    np.testing.assert_array_equal(rows, loop)
    assert rows[-1] == 1e30  # a non-finite objective, as objective_np reports it


def _scipy_openblas():
    import scipy.optimize  # noqa: F401  (loads scipy's OpenBLAS)

    try:
        paths = {ln.split()[-1] for ln in open("/proc/self/maps") if "libscipy_openblas-" in ln}
    except OSError:
        paths = set()
    return ctypes.CDLL(sorted(paths)[0]) if paths else None


def test_one_blas_thread_sets_and_restores_and_changes_no_bit():
    lib = _scipy_openblas()
    if lib is None or not hasattr(lib, "scipy_openblas_get_num_threads"):
        pytest.skip("scipy's OpenBLAS not found (not Linux, or another BLAS)")
    x, y, ll = _data(5)
    before = lib.scipy_openblas_get_num_threads()
    plain = optim.scipy_minimize(optim.hoffmann_grid()[1234], x, y, ll, 1e-3, tight=True)
    with one_blas_thread():
        assert lib.scipy_openblas_get_num_threads() == 1
        one = optim.scipy_minimize(optim.hoffmann_grid()[1234], x, y, ll, 1e-3, tight=True)
    assert lib.scipy_openblas_get_num_threads() == before
    np.testing.assert_array_equal(plain[0], one[0])
    assert plain[1] == one[1]


def test_progress_bar_hidden_off_a_terminal_but_shown_in_a_notebook(monkeypatch):
    import io
    import sys
    import types

    assert optim._bar(None, 10) is None
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # no terminal, as in a notebook
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    off = optim._bar("bootstrap", 10)
    assert off.disable
    off.close()
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    on = optim._bar("bootstrap", 10)
    assert not on.disable and on.total == 10
    on.close()
