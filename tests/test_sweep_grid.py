"""Grid expansion: actual N from the shape rule, D rounded to whole steps, IsoFLOP budgets,
seeds, shards and duplicate points."""
import pytest
from test_sweep_config import tiny_sweep

from runstore import InputError
from scaling.sweep import grid
from scaling.sweep.config import sweep_from_dict

VOCAB = 4 + 8 + 256  # byte tokenizer with 8 sentinels


def test_tokens_grid_rounds_to_whole_steps():
    sw = sweep_from_dict(tiny_sweep(**{"grid.tokens": [5000, 10240]}))
    pts = grid.expand(sw, VOCAB)
    assert [p.index for p in pts] == [0, 1, 2, 3]
    assert [(p.run.model.d_model, p.run.model.n_layers) for p in pts] == [(16, 1), (16, 1), (32, 2),
                                                                  (32, 2)]
    p = pts[0]
    assert p.run.n_total == p.run.model.n_params_total() == 8112
    assert p.run.steps == round(5000 / 256) == 20 and p.run.tokens == 20 * 256
    assert p.tokens_target == 5000 and p.cfg.train.steps == 20 and p.cfg.train.tokens == 0
    assert p.run.flops_6nd == 6 * 8112 * 5120
    assert p.run.flops == pytest.approx(p.run.model.flops_per_token() * p.run.tokens)
    assert p.cfg.optim.lr == pytest.approx(3e-3 * (8112 / 30000) ** -0.3)
    assert len({q.run_id for q in pts}) == 4 and p.run_id.startswith("clm_n8.11k_d5.12k_s0_")


def test_isoflop_uses_actual_n_and_records_both_c():
    sw = sweep_from_dict(tiny_sweep(grid={"params": [8000, 35000, 100000],
                                          "flops": [3e9, 1e10]}))
    pts = grid.expand(sw, VOCAB)
    assert len(pts) == 6
    for p in pts:
        d = p.axis_value / (6 * p.run.n_total)
        assert p.tokens_target == pytest.approx(d)
        assert p.run.steps == round(d / (8 * 32))
        assert p.flops_nominal == p.axis_value
        assert abs(p.run.flops_6nd - p.axis_value) <= 6 * p.run.n_total * 8 * 32 / 2 + 1
        rec = p.to_dict()
        assert rec["flops_nominal"] == p.axis_value and rec["flops_6nd"] == p.run.flops_6nd
    ne = sweep_from_dict(tiny_sweep(grid={"params": [35000], "flops": [1e10],
                                          "count": "nonembedding"}))
    q = grid.expand(ne, VOCAB)[0]
    assert q.run.steps == round(1e10 / (6 * q.run.n_nonembedding) / 256)


def test_tokens_per_param_and_extra_seeds():
    sw = sweep_from_dict(tiny_sweep(grid={"params": [8000, 35000], "tokens_per_param": [1.0]},
                                    extra_seeds=[{"params": 35000, "tokens_per_param": 1.0,
                                                  "seeds": [1, 2]}]))
    pts = grid.expand(sw, VOCAB)
    assert [(p.params_target, p.cfg.seed) for p in pts] == [(8000, 0), (35000, 0), (35000, 1),
                                                        (35000, 2)]
    assert pts[1].run.steps == round(pts[1].run.n_total / 256)
    assert pts[1].run_id != pts[2].run_id


def test_shards_partition_the_grid():
    pts = grid.expand(sweep_from_dict(tiny_sweep(seeds=[0, 1, 2])), VOCAB)
    for n in (1, 2, 3, 5):
        got = sorted(p.index for i in range(n) for p in grid.shard(pts, i, n))
        assert got == list(range(len(pts)))
    assert grid.parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "x", "1/0"):
        with pytest.raises(InputError):
            grid.parse_shard(bad)


def test_duplicate_shapes_are_refused():
    with pytest.raises(InputError) as e:
        grid.expand(sweep_from_dict(tiny_sweep(**{"grid.params": [30000, 35000]})), VOCAB,
                    file="s.yaml")
    assert "s.yaml" in str(e.value) and "grid.params[1]" in str(e.value)


def test_keep_tokens_per_param_drops_points_far_from_the_optimum():
    sw = sweep_from_dict(tiny_sweep(grid={"params": [8000, 35000, 100000], "flops": [1e10],
                                          "keep_tokens_per_param": [1, 10]}))
    pts = grid.expand(sw, VOCAB)
    assert pts and all(1 <= p.tokens_target / p.run.n_total <= 10 for p in pts)
    assert len(pts) < 3 and [p.index for p in pts] == list(range(len(pts)))


def test_a_point_shorter_than_one_batch_has_zero_steps_in_its_config():
    """No placeholder length: the config says zero steps, as the record does (the planner
    refuses the point; scaling train would refuse the config)."""
    sw = sweep_from_dict(tiny_sweep(**{"grid.tokens": [100, 5120]}))
    short, ok = grid.expand(sw, VOCAB)[:2]
    assert short.run.steps == short.cfg.train.steps == 0 and short.cfg.train.tokens == 0
    assert ok.run.steps == ok.cfg.train.steps == 20


def dev(memory):
    from scaling.sweep.device import Device
    return Device("test", 1e11, "test", memory, "test memory", 1, 0.5, "assumed")


def test_the_grid_stage_decides_microbatches_for_the_device():
    """The fewest microbatches that fit the device, chosen while the point is built: its run id
    is the one it trains under; a file's count is kept; no device keeps the file's."""
    from scaling.budget.memory import training_memory
    sw = sweep_from_dict(tiny_sweep(**{"grid.tokens": [10240]}))
    plain = grid.expand(sw, VOCAB)
    big = plain[-1].run.model
    mem = lambda k: training_memory(big, 8, "float32", microbatches=k).total  # noqa: E731
    assert mem(4) < mem(2) < mem(1)
    fitted = grid.expand(sw, VOCAB, device=dev(mem(2)))
    assert [p.cfg.train.microbatches for p in fitted] == [1, 2]
    assert fitted[0].run_id == plain[0].run_id and fitted[1].run_id != plain[1].run_id
    assert fitted[1].run.cfg is fitted[1].cfg and fitted[1].run.steps == plain[1].run.steps
    pinned = sweep_from_dict(tiny_sweep(**{"grid.tokens": [10240], "base.train.microbatches": 4}))
    assert {p.cfg.train.microbatches for p in grid.expand(pinned, VOCAB, device=dev(mem(2)))} \
        == {4}


def test_branches_name_their_trunk_as_it_trains_with_microbatches():
    """wsd_branch with microbatches chosen for the device: the trunk's run id (with its count)
    is the one every branch starts from."""
    from scaling.budget.memory import training_memory
    sw = sweep_from_dict(tiny_sweep(**{"recipe.schedule": "wsd_branch",
                                       "grid.tokens": [5120, 10240]}))
    big = grid.expand(sw, VOCAB)[-1].run.model
    pts = grid.expand(sw, VOCAB, device=dev(training_memory(big, 8, "float32",
                                                               microbatches=2).total))
    trunks = {p.run_id: p for p in pts if p.role == "trunk"}
    assert len(trunks) == 2
    for b in (p for p in pts if p.role == "branch"):
        trunk = trunks[b.trunk_id]
        assert b.cfg.train.branch_from == trunk.run_id
        assert b.cfg.train.microbatches == trunk.cfg.train.microbatches
    assert sorted(p.cfg.train.microbatches for p in trunks.values()) == [1, 2]


def test_grid_and_branching_import_each_other_no_more():
    import subprocess
    import sys
    code = ("import scaling.sweep.branching as b, sys; "
            "sys.exit('scaling.sweep.grid' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
