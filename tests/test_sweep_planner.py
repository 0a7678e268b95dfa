"""The dry-run plan: rows, totals, memory and zero-step refusals, target devices."""
import pytest

from runstore import InputError
from scaling.sweep import grid, planner
from scaling.sweep.config import sweep_from_dict
from test_sweep_config import tiny_sweep

VOCAB = 268
CORPUS = (190_000.0, "test corpus")


def dev(memory=8e9, n=1):
    return planner.Device("test", 1e11, "test", memory, "test memory", n, 0.5, "assumed")


def test_plan_rows_and_table():
    sw = sweep_from_dict(tiny_sweep())
    plan = planner.make_plan(sw, grid.expand(sw, VOCAB), dev(), corpus=CORPUS)
    assert not plan.refused and len(plan.rows) == 4
    r = plan.rows[3]
    assert r.seconds == pytest.approx(r.point.run.flops / (1e11 * 0.5))
    assert r.epochs == pytest.approx(r.point.run.tokens / 190_000)
    text = planner.format_plan(plan)
    for col in ("N_ne", "C=6ND", "C_exact", "memory", "epochs", "time", "total: 4 points"):
        assert col in text
    plan.check("s.yaml")  # nothing refused: no error


def test_refuses_points_that_do_not_fit_or_have_zero_steps():
    sw = sweep_from_dict(tiny_sweep(**{"grid.tokens": [100, 10240]}))
    pts = grid.expand(sw, VOCAB)
    # below what even one example per microbatch needs: refused whatever the microbatches
    need = max(planner.training_memory(p.run.model, 8, "float32", microbatches=8).total
               for p in pts)
    plan = planner.make_plan(sw, pts, dev(memory=need - 1), corpus=CORPUS)
    reasons = {r.point.index: " ".join(r.refused) for r in plan.rows}
    assert "zero steps" in reasons[0] and "zero steps" in reasons[2]
    assert "does not fit" in reasons[3]
    with pytest.raises(InputError) as e:
        plan.check("sweeps/big.yaml")
    assert str(e.value).startswith("sweeps/big.yaml: key 'grid'") and "does not fit" in str(e.value)
    plan8 = planner.make_plan(sw, pts, dev(n=3), corpus=CORPUS)
    assert any("does not split over 3" in " ".join(r.refused) for r in plan8.rows)


def test_target_device_from_the_hardware_table():
    d = planner.target_device("h100", "bfloat16", n_devices=1)
    assert d.peak == 989e12 and d.memory_bytes == 80e9 and not d.is_local
    with pytest.raises(Exception):
        planner.target_device("no-such-gpu", "bfloat16")


def test_measure_times_a_few_real_steps():
    sw = sweep_from_dict(tiny_sweep(**{"grid.params": [8000], "grid.tokens": [5120]}))
    plan = planner.make_plan(sw, grid.expand(sw, VOCAB), dev(), measure=True, corpus=CORPUS)
    r = plan.rows[0]
    assert r.measured_tokens_per_s > 0
    assert r.seconds == pytest.approx(r.point.run.tokens / r.measured_tokens_per_s)
    assert "measured tokens/s" in planner.format_plan(plan)


def test_planner_picks_the_fewest_microbatches_that_fit():
    sw = sweep_from_dict(tiny_sweep(**{"grid.tokens": [10240]}))
    pts = grid.expand(sw, VOCAB)
    m = pts[-1].run.model
    mem = lambda k: planner.training_memory(m, 8, "float32", microbatches=k).total  # noqa: E731
    assert mem(4) < mem(2) < mem(1)
    plan = planner.make_plan(sw, pts[-1:], dev(memory=mem(2)), corpus=CORPUS)
    row = plan.rows[0]
    assert not row.refused and row.point.cfg.train.microbatches == 2
    assert row.point.run_id != pts[-1].run_id  # microbatches > 1 is part of the identity
    assert " mb " in planner.format_plan(plan).splitlines()[4]
    # a microbatch count in the file is taken as it is
    pinned = planner.with_microbatches(pts[-1], 4)
    plan = planner.make_plan(sw, [pinned], dev(), corpus=CORPUS)
    assert plan.rows[0].point.cfg.train.microbatches == 4
