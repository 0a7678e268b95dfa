"""The train step compiled by XLA's GPU compiler with no GPU (deviceless, from the shipped H100
target config): it skips unless jax[cuda12] is installed, i.e. outside the GPU venv of
scripts/gpu_venv.sh, and there runs with CUDA_VISIBLE_DEVICES=-1 and
JAX_SKIP_CUDA_CONSTRAINTS_CHECK=1 (set here before JAX looks for devices)."""
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
