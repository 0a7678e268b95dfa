"""The train step compiled by the TPU compiler (libtpu, no TPU here): the compiler's FLOPs match
the suite's exact count for all three objectives, results are cached per (program, target), a
failed compile is one line, and targets resolve or are refused in one line; and the GPU target
configs shipped for XLA's deviceless GPU compiler agree with the hardware table."""
import time

import pytest
from compiling import needs_libtpu, tiny

from runstore import InputError
from scaling.compile import cache, compile_one, format_report, resolve_target
from scaling.compile.roofline import roofline

TARGET = "tpu-v5e-2x2"


def test_targets_resolve_and_bad_names_are_one_line():
    t = resolve_target("tpu-v5p-2x2x1")
    assert (t.platform, t.topology, t.accelerator, t.chips) == ("tpu", "v5p:2x2x1", "TPU v5p", 4)
    assert resolve_target("TPU-v6e-16x16").chips == 256
    g = resolve_target("h100x8")
    assert (g.platform, g.topology, g.accelerator) == ("gpu", "1x1x8", "H100 SXM")
    assert resolve_target("a100").chips == 1
    for bad in ("tpu-v5e-2x2x1", "tpu-v9-2x2", "h100x16", "k80"):
        with pytest.raises(InputError, match="--compile-for"):
            resolve_target(bad)


def test_roofline_is_the_larger_bound_and_mfu_scales_compute_only():
    r = roofline(1e12, 1e9, 9e11, peak=1e14, bandwidth=1e12)
    assert r.flops_source == "compiler" and r.bound_s == pytest.approx(0.01)
    assert r.step_seconds(0.5) == pytest.approx(0.02)
    m = roofline(1e9, 1e12, 1e9, peak=1e14, bandwidth=1e12)  # memory-bound
    assert m.bound_s == pytest.approx(1.0) and m.step_seconds(0.5) == pytest.approx(1.0)
    assert roofline(None, None, 2e12, peak=1e14, bandwidth=None).flops_source == "suite"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    needs_libtpu()
    import os
    os.environ["SCALING_CACHE"] = str(tmp_path_factory.mktemp("compile_cache"))
    return {obj: compile_one(tiny(obj), TARGET, fit=False) for obj in ("clm", "mlm", "span")}


@pytest.mark.parametrize("objective", ["clm", "mlm", "span"])
def test_compiler_flops_match_the_suite_within_5_percent(compiled, objective):
    c = compiled[objective]
    assert c.ok, c.result.get("error")
    assert c.n_devices == 4 and c.result["peak"] > c.result["arguments"] > 0
    assert c.kernel_flops == 0  # T = 64: XLA's attention, which the compiler counts
    assert abs(c.flops_ratio - 1) < 0.05, (objective, c.result["flops"], c.suite_flops)
    assert not c.cached


def test_second_compile_comes_from_the_cache(compiled):
    t0 = time.perf_counter()
    again = compile_one(tiny("clm"), TARGET, fit=False)
    assert again.cached and time.perf_counter() - t0 < 5
    assert again.result["peak"] == compiled["clm"].result["peak"]
    # another program (2 microbatches) has another key: it would be compiled, not served
    other = tiny("clm", train={"microbatches": 2})
    target = resolve_target(TARGET)
    assert cache.program_key(other, target) != cache.program_key(tiny("clm"), target)
    assert cache.load(cache.program_key(other, target)) is None


def test_report_has_the_columns(compiled):
    text = format_report(list(compiled.values()))
    for col in ("args", "temps", "peak", "peak/HBM", "calc/XLA", "compile s", "FLOPs ratio",
                "roofline ms", "TPU v5e"):
        assert col in text
    assert "span d256 L1 T64 B16 mb1" in text


def test_a_failed_compile_is_one_line():
    needs_libtpu()
    c = compile_one(tiny("clm", B=6), TARGET, fit=False, use_cache=False)  # 6 rows over 4 chips
    assert not c.ok and "\n" not in c.result["error"] and len(c.result["error"]) <= 400
    assert "FAILED: " in format_report([c])


def _abstract_state(run):
    """A run's (params, Adam state) as shapes: what the step's donated arguments hold."""
    import jax
    from flax import nnx

    from scaling.model.transformer import build_model
    from scaling.train.step import make_optimizer, split_model

    _, params = split_model(nnx.eval_shape(lambda: build_model(run.model, 0, platform="tpu")))
    return params, jax.eval_shape(make_optimizer(run.cfg.optim, max(run.steps, 2)).init, params)


def test_fsdp_over_a_256_chip_multi_host_slice_shards_the_state():
    """tpu-v5e-16x16 (64 hosts): the FSDP step compiles, its per-chip arguments about 1/256 of
    the replicated step's (the batch, norms and the step counter stay whole), and the state it
    donates is, to the byte, its FSDP shards once padded to the TPU's tiles (tpu_padded_size)."""
    from scaling.train.sharding import fsdp_state_bytes

    needs_libtpu()
    kw = dict(d=512, H=8, B=256, T=64, vocab=1024)
    rep = compile_one(tiny("clm", **kw), "tpu-v5e-16x16", fit=False)
    fsdp = compile_one(tiny("clm", train={"fsdp": True}, **kw), "tpu-v5e-16x16", fit=False)
    assert rep.ok and fsdp.ok, (rep.result.get("error"), fsdp.result.get("error"))
    assert fsdp.n_devices == 256
    n = rep.run.n_total
    state_rep = 16 * n  # fp32 params + Adam's two moments, replicated: 12 B/param, + batch
    assert rep.result["arguments"] >= 12 * n
    assert fsdp.result["arguments"] < 12 * n / 256 * 1.5 + 64 * 1024, (fsdp.result, state_rep)
    state = _abstract_state(fsdp.run)
    assert fsdp.result["aliased"] == fsdp_state_bytes(state, (16, 16))[1]  # 274432 B
    assert rep.result["aliased"] == fsdp_state_bytes(state, (1, 1))[1]  # whole, padded too


@pytest.mark.parametrize("gpu", ["h100", "a100"])
def test_the_gpu_target_configs_ship_with_their_source_and_agree_with_the_hardware_table(gpu):
    """The gpu_device_info protos XLA's deviceless GPU compiler is given (package data): each
    names its source, and its bandwidth and memory agree with scaling/hardware.py's entry."""
    import re

    from scaling.compile.targets import TARGET_CONFIG_DIR

    t = resolve_target(f"{gpu}x8")
    text = (TARGET_CONFIG_DIR / t.gpu_config).read_text()
    assert "Source:" in text and "openxla/xla" in text
    field = lambda k: float(re.search(rf"^\s*{k}: ([\d.]+)$", text, re.M).group(1))  # noqa: E731
    assert field("memory_bandwidth") == pytest.approx(t.hardware.hbm_bandwidth, rel=0.01)
    assert field("device_memory_size") == pytest.approx(t.hardware.memory_bytes, rel=0.07)
    assert field("major") == {"h100": 9, "a100": 8}[gpu]  # the compute capability
    assert 'platform_name: "CUDA"' in text and "runtime_version {" in text
