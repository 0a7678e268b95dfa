"""The sweep file schema: validation names the file and the key; bare numbers are sugar."""
import copy

import pytest
import yaml
from conftest import set_dotted

from runstore import InputError
from scaling.sweep.config import load_sweep, sweep_from_dict


def tiny_sweep(**over) -> dict:
    """A sweep of tiny causal LMs on synthetic text (shared by the test_sweep_* files)."""
    sw = {
        "name": "tinysweep",
        "objectives": ["clm"],
        "base": {
            "data": {"source": "synthetic", "tokenizer": "byte", "synthetic_bytes": 200_000,
                     "n_sentinels": 8, "val_windows": 8},
            "model": {"seq_len": 32},
            "optim": {"warmup_frac": 0.1},
            "train": {"batch_size": 8, "eval_every": 10, "eval_batch_size": 8, "log_every": 1,
                      "checkpoint_every": 10},
        },
        "shape": {"aspect_ratio": 16, "head_dim": 16, "width_step": 16},
        "grid": {"params": [8000, 35000], "tokens": [5120, 10240]},
        "recipe": {"lr": {"rule": "power", "base": 3e-3, "n_ref": 30000, "exponent": -0.3}},
        "claims": {"heartbeat_s": 0.5, "stale_s": 3.0},
    }
    return set_dotted(sw, over)


def err(raw) -> InputError:
    with pytest.raises(InputError) as e:
        sweep_from_dict(raw, file="sweeps/x.yaml")
    return e.value


def test_valid_file_loads_and_resolves(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(tiny_sweep()))
    sw = load_sweep(p)
    assert sw.grid.axis == "tokens" and sw.grid.axis_values == (5120, 10240)
    assert sw.out_dir.as_posix() == "results/tinysweep"
    r = sw.resolved()
    assert r["base"]["model"]["seq_len"] == 32 and "d_model" not in r["base"]["model"]
    assert "steps" not in r["base"]["train"] and "name" not in r["base"]
    # the resolved sweep is itself a valid sweep file, and the same sweep
    assert sweep_from_dict(r) == sweep_from_dict(r)
    assert sweep_from_dict(r).base_run() == sw.base_run()


def test_errors_name_file_and_key():
    e = err(tiny_sweep(grid={"params": [1e4], "flops": [1e12, -3]}))
    assert str(e).startswith("sweeps/x.yaml: key 'grid.flops[1]': must be > 0")
    assert "grid.tokens" in str(err(tiny_sweep(grid={"params": [1e4], "tokens": [1],
                                                     "flops": [1]})))
    assert "'grid.params'" in str(err(tiny_sweep(grid={"params": [], "tokens": [1]})))
    e = err(tiny_sweep(**{"base.optim.lrr": 1}))
    assert "base.optim.lrr" in str(e) and "did you mean" in str(e)
    assert "base.train.steps" in str(err(tiny_sweep(**{"base.train.steps": 10})))
    assert "base.model.d_model" in str(err(tiny_sweep(**{"base.model.d_model": 64})))
    assert "base.seed" in str(err(tiny_sweep(**{"base.seed": 1})))
    assert "objectives[0]" in str(err(tiny_sweep(objectives=["gpt"])))
    assert "recipe.lr" in str(err(tiny_sweep(**{"recipe.lr": {"rule": "power", "base": 0}})))
    assert "base.model.pos" in str(err(tiny_sweep(**{"base.model.pos": "alibi"})))
    e = err(tiny_sweep(extra_seeds=[{"params": 9999, "tokens": 5120, "seeds": [1]}]))
    assert "extra_seeds[0].params" in str(e)
    assert "claims.stale_s" in str(err(tiny_sweep(claims={"heartbeat_s": 10, "stale_s": 5})))


def test_sugar_and_overrides(tmp_path):
    raw = tiny_sweep(**{"recipe.lr": 3e-3, "recipe.batch_size": 16})
    sw = sweep_from_dict(copy.deepcopy(raw))
    assert sw.recipe.lr.rule == "constant" and sw.recipe.lr(1e6) == 3e-3
    assert sw.recipe.batch_size(1e3) == 16
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(raw))
    sw = load_sweep(p, ["grid.tokens=[1000, 2000]", "seeds=[0, 1]"])
    assert sw.grid.tokens == (1000, 2000) and sw.seeds == (0, 1)
    with pytest.raises(InputError) as e:
        load_sweep(tmp_path / "missing.yaml")
    assert "missing.yaml" in str(e.value)


def test_base_is_typed_once_and_has_no_length():
    """`base` is parsed once into a typed BaseRun: a RunConfig without what the sweep sets per
    point, with no placeholder length (the grid gives each point its steps)."""
    import dataclasses

    from scaling.sweep.config import BaseRun
    from scaling.train.config import RunConfig

    run_fields = [f.name for f in dataclasses.fields(RunConfig)]
    assert [f.name for f in dataclasses.fields(BaseRun)] == [
        k for k in run_fields if k not in ("name", "objective", "seed")]
    sw = sweep_from_dict(tiny_sweep(**{"base.optim.lr": 2e-3}))
    assert sw.run_base is sw.run_base and sw.run_base.optim.lr == 2e-3
    assert sw.run_base.train.steps == sw.run_base.train.tokens == 0
    cfg = sw.base_run("clm", 3)
    assert (cfg.name, cfg.objective, cfg.seed, cfg.train.steps) == ("tinysweep", "clm", 3, 0)
    with pytest.raises(InputError, match="train.tokens"):  # a template, not a runnable run
        cfg.validate()


def test_a_run_config_still_needs_a_length():
    from scaling.configio import from_dict
    from scaling.train.config import RunConfig
    with pytest.raises(InputError) as e:
        from_dict(RunConfig, {"train": {"steps": 0}}, file="run.yaml")
    assert str(e.value).startswith("run.yaml: key 'train.tokens': give exactly one")
    with pytest.raises(InputError):
        from_dict(RunConfig, {"train": {"steps": 5, "tokens": 100}})
