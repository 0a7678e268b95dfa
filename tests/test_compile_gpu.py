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


@pytest.mark.parametrize("index,hi", [(0, 1.2), (2, 1.2), (4, 1.2), (7, 1.2), (11, 1.3), (15, 1.2),
                                      (18, 1.2), (21, 1.2)])
def test_the_calculator_is_within_20_percent_of_the_gpu_compilers_peak(h100x8, index, hi):
    """Every distinct step of sweeps/gpu_chinchilla.yaml (d320 L5 to d1152 L18, T1024, cuDNN
    flash) on one H100. The calculator's flash workspace was fitted on the TPU compiler
    (memory.py FLASH_LOGITS_WORKSPACE); applied to the GPU peaks measured last (docs/
    performance.md) it reads 1.00-1.01 at five steps and 1.24 / 1.18 / 1.12 at d704 / d960 /
    d1152 (measured in the GPU venv): there XLA:GPU's rematerialization pass recomputes to
    bring the step under its memory limit (about 60.3 GiB for this target config, per its log),
    which the calculator does not model; d704 is allowed 1.3 for that reason."""
    from scaling.sweep import pipeline

    file = "sweeps/gpu_chinchilla.yaml"
    point = next(p for p in pipeline.expand(pipeline.resolve(pipeline.load(file), file))
                 if p.index == index)
    c = compile_one(point.run, "h100")  # at the fewest microbatches that fit, as the dry run
    assert c.ok, c.result.get("error")
    assert {impl for impl, _ in c.result["attention"].values()} == {"cudnn"}
    assert 0.8 <= c.calc_ratio <= hi, (c.label, c.estimate, c.peak)
