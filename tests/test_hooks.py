"""The loop's hooks: cadence, order, state sync, closing, and the built-in ones alone."""
import math

import pytest
from conftest import tiny_run

from scaling.configio import from_dict
from scaling.train import loop_hooks as lh
from scaling.train.config import RunConfig
from scaling.train.hooks import Diverged, Hooks, StepInfo, TrackerHook
from scaling.train.record import resolve_run


def info(k, final=False, loss=1.0, busy=0.0, state=None):
    return StepInfo(step=k, final=final, loss=loss, grad_norm=0.5, busy_s=busy, state=state)


def test_cadence_order_and_end():
    hooks, seen = Hooks(), []
    hooks.add(lambda i: seen.append(("a", i.step)), every=2)
    hooks.add(lambda i: seen.append(("b", i.step)), every=0)  # only at the end
    hooks.add(lambda i: seen.append(("c", i.step)), every=lambda k, final: k == 3)
    for k in range(1, 6):
        hooks.run(info(k, final=k == 5))
    assert seen == [("a", 2), ("c", 3), ("a", 4), ("a", 5), ("b", 5)]


def test_needs_state_only_where_a_state_hook_is_due():
    hooks = Hooks()
    hooks.add(lambda i: None, every=1)
    hooks.add(lambda i: None, every=10, needs_state=True)
    assert [k for k in range(1, 25) if hooks.needs_state(k, k == 24)] == [10, 20, 24]


def test_state_hook_time_is_counted_as_busy():
    import time
    hooks = Hooks()
    hooks.add(lambda i: time.sleep(0.05), every=1, needs_state=True)
    hooks.add(lambda i: time.sleep(0.05), every=1)
    hooks.run(info(1))
    assert 0.04 < hooks.busy_s < 0.09


def test_close_closes_every_hook_even_if_one_fails():
    closed = []

    class Bad:
        def __call__(self, i): pass
        def close(self): raise OSError("disk full")

    class Good:
        def __call__(self, i): pass
        def close(self): closed.append(1)

    hooks = Hooks()
    hooks.add(Bad())
    hooks.add(Good())
    with pytest.raises(OSError):
        hooks.close()
    assert closed == [1]


def test_divergence_hook():
    lh.check_divergence(info(3, loss=2.0))
    with pytest.raises(Diverged) as e:
        lh.check_divergence(info(7, loss=math.nan))
    assert e.value.step == 7


def record(**over):
    return resolve_run(from_dict(RunConfig, tiny_run(**over)), 4 + 8 + 256)


def test_metrics_row_and_throughput_without_busy_time(monkeypatch):
    rec = record()
    clock = iter([100.0, 110.0])
    monkeypatch.setattr(lh.time, "perf_counter", lambda: next(clock))
    row, tput = lh.MetricsRow(rec, lambda k: 0.1 * k), lh.Throughput(rec, 0, 1e9, "test")
    i = info(10, busy=5.0)  # 10 s passed, 5 of them in eval/checkpoints
    row(i)
    tput(i)
    assert i.row["step"] == 10 and i.row["tokens"] == rec.tokens_at(10) == 10 * 8 * 32
    assert i.row["flops"] == rec.flops_at(10) and i.row["lr"] == pytest.approx(0.9)
    assert i.row["tokens_per_s"] == pytest.approx(10 * 8 * 32 / 5.0)
    assert i.row["mfu"] == pytest.approx(10 * rec.flops_per_example * 8 / 5.0 / 1e9)


def test_tracker_hook_publishes_rows_only():
    got = []

    class T:
        def log(self, row, step): got.append((step, dict(row)))
        def close(self): got.append("closed")

    h = TrackerHook(T())
    h(info(1))          # no row assembled at this step
    i = info(2)
    i.row["train_loss"] = 1.5
    h(i)
    h.close()
    assert got == [(2, {"train_loss": 1.5}), "closed"]
