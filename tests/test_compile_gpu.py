"""The train step compiled by XLA's GPU compiler with no GPU (deviceless, from the shipped H100
target config): it skips unless jax[cuda12] is installed, i.e. outside the GPU venv of
scripts/gpu_venv.sh, and there runs with CUDA_VISIBLE_DEVICES=-1 and
JAX_SKIP_CUDA_CONSTRAINTS_CHECK=1 (set here before JAX looks for devices). Measured there: 6 s
for the tiny step, 3-5 s for each sweep point below."""
import os

import pytest
from compiling import needs_cuda_plugin, tiny

from scaling.compile import compile_one, format_report


@pytest.fixture(scope="module")
def h100x8(tmp_path_factory):
    needs_cuda_plugin()
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    os.environ.setdefault("JAX_SKIP_CUDA_CONSTRAINTS_CHECK", "1")
    os.environ["SCALING_CACHE"] = str(tmp_path_factory.mktemp("compile_cache"))
    return compile_one(tiny("clm", B=16), "h100x8", fit=False)


def test_a_small_step_compiles_for_eight_h100s(h100x8):
    c = h100x8
    assert c.ok, c.result.get("error")
    assert c.n_devices == 8 and c.result["peak"] > c.result["arguments"] > 0
    assert c.result["peak"] < c.hbm
    assert c.roofline().flops_source in ("compiler", "suite")  # no cost analysis deviceless
    text = format_report([c])
    assert "H100 SXM" in text and "fits" in text


@pytest.mark.parametrize("index", [0, 2, 4])
def test_the_calculator_is_within_20_percent_of_the_gpu_compilers_peak(h100x8, index):
    """Points 0, 2 and 4 of sweeps/gpu_chinchilla.yaml (d320 L5 to d448 L7, T1024, cuDNN flash)
    on one H100: calculator / compiled peak 0.95, 1.05 and 1.13 when measured. The larger points
    are not within 20% (1.29 to 1.81 from d576 L9 up: the calculator overestimates), so they are
    not asserted here; README, "Compile for accelerators you do not have"."""
    from scaling.sweep import pipeline

    file = "sweeps/gpu_chinchilla.yaml"
    point = next(p for p in pipeline.expand(pipeline.resolve(pipeline.load(file), file))
                 if p.index == index)
    c = compile_one(point.run, "h100", fit=False)
    assert c.ok, c.result.get("error")
    assert {impl for impl, _ in c.result["attention"].values()} == {"cudnn"}
    assert 0.8 <= c.calc_ratio <= 1.2, (c.label, c.estimate, c.peak)
