"""The dry-run plan: rows, totals, memory and zero-step refusals, target devices."""
import pytest
from test_sweep_config import tiny_sweep

from runstore import InputError
from scaling.sweep import grid, planner
from scaling.sweep.config import sweep_from_dict

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
    with pytest.raises(InputError, match="no-such-gpu"):
        planner.target_device("no-such-gpu", "bfloat16")


def test_measure_times_a_few_real_steps():
    sw = sweep_from_dict(tiny_sweep(**{"grid.params": [8000], "grid.tokens": [5120]}))
    plan = planner.make_plan(sw, grid.expand(sw, VOCAB), dev(), measure=True, corpus=CORPUS)
    r = plan.rows[0]
    assert r.measured_tokens_per_s > 0
    assert r.seconds == pytest.approx(r.point.run.tokens / r.measured_tokens_per_s)
    assert "measured tokens/s" in planner.format_plan(plan)


def test_the_plan_reads_points_and_changes_none():
    """Read-only: a point that does not fit at its microbatches is refused, not re-chosen (the
    grid stage chooses them); the old entry make_plan still chooses them for old callers."""
    sw = sweep_from_dict(tiny_sweep(**{"grid.tokens": [10240]}))
    pts = grid.expand(sw, VOCAB)
    m = pts[-1].run.model
    mem = lambda k: planner.training_memory(m, 8, "float32", microbatches=k).total  # noqa: E731
    plan = planner.plan_points(sw, pts, dev(memory=mem(2)), corpus=CORPUS)
    assert plan.points == pts
    assert [bool(r.refused) for r in plan.rows] == [False, True]
    assert "does not fit" in plan.rows[1].refused[0]
    fitted = grid.expand(sw, VOCAB, device=dev(memory=mem(2)))
    plan = planner.plan_points(sw, fitted, dev(memory=mem(2)), corpus=CORPUS)
    assert plan.points == fitted and not plan.refused
    assert " mb " in planner.format_plan(plan).splitlines()[4]
    old = planner.make_plan(sw, pts, dev(memory=mem(2)), corpus=CORPUS)
    assert [p.run_id for p in old.points] == [p.run_id for p in fitted]
    # a microbatch count in the file is taken as it is
    pinned = planner.with_microbatches(pts[-1], 4)
    plan = planner.plan_points(sw, [pinned], dev(), corpus=CORPUS)
    assert plan.rows[0].point.cfg.train.microbatches == 4


# ---- the pipeline: resolve the data -> expand -> plan ----

def test_a_tokens_source_plans_with_its_own_vocabulary(tmp_path):
    """The dry run describes the models the sweep trains: a tokens: source's vocabulary (its
    stored ids plus the reserved ones), not the byte tokenizer's."""
    import json

    import numpy as np

    from scaling.sweep import pipeline

    ids = np.random.default_rng(0).integers(0, 500, size=5000).astype(np.uint16)
    ids.tofile(tmp_path / "t.bin")
    (tmp_path / "t.bin.json").write_text(json.dumps({"vocab_size": 500, "separator_id": 499}))
    sw = sweep_from_dict(tiny_sweep(**{"base.data": {"source": f"tokens:{tmp_path / 't.bin'}",
                                                     "n_sentinels": 8}}))
    rs = pipeline.resolve(sw)
    assert rs.exact and rs.vocab_size == 4 + 8 + 500 and "tokens: source" in rs.vocab_note
    plan = pipeline.plan(rs, pipeline.expand(rs, dev()), dev())
    assert {r.point.run.model.vocab_size for r in plan.rows} == {512}
    assert "vocabulary: 512 ids" in pipeline.dry_run_text(plan)
    assert not (tmp_path / "cache").exists()


def test_a_bpe_vocabulary_comes_from_its_token_cache(tmp_path, monkeypatch):
    """Before the cache exists a dry run assumes the requested size (and says so); a run
    (exact) builds the cache first; afterwards every plan takes the trained tokenizer's size,
    which on a small corpus is smaller than the requested one."""
    from scaling.sweep import pipeline

    monkeypatch.setenv("SCALING_CACHE", str(tmp_path / "cache"))
    sw = sweep_from_dict(tiny_sweep(**{"base.data.tokenizer": "bpe",
                                       "base.data.vocab_size": 60_000,
                                       "base.data.synthetic_bytes": 20_000,
                                       "grid.params": [8000]}))
    guess = pipeline.resolve(sw)
    assert not guess.exact and guess.vocab_size == 60_000 and "assumed" in guess.vocab_note
    ran = pipeline.resolve(sw, exact=True)
    assert ran.exact and ran.dataset is not None and ran.vocab_size < 60_000
    assert ran.vocab_size == ran.dataset.tokenizer.vocab_size
    again = pipeline.resolve(sw)
    assert again.exact and again.vocab_size == ran.vocab_size and again.dataset is None
    pts = pipeline.expand(again)
    assert {p.run.model.vocab_size for p in pts} == {ran.vocab_size}


def test_damaged_results_refuse_the_run_before_anything_is_written(tmp_path, monkeypatch):
    """A point whose folder holds a summary.json but no config.json is refused by the run with
    the folder's path; nothing (sweep.yaml, points.json, another run) is written."""
    import json

    from scaling.sweep import runner

    monkeypatch.setenv("SCALING_NO_COMPILE_CACHE", "1")
    sw = sweep_from_dict(tiny_sweep(out=str(tmp_path / "out")))
    plan = runner.prepare(sw)
    rid = plan.points[2].run_id
    run = tmp_path / "out" / "runs" / rid
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({"status": "done"}))
    with pytest.raises(InputError, match="config.json") as e:
        runner.run_sweep(sw, plan=plan, quiet=True)
    assert "point 2" in str(e.value) and str(run) in str(e.value)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["runs"]
    assert [p.name for p in (tmp_path / "out" / "runs").iterdir()] == [rid]
