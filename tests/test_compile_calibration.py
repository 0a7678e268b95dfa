"""The memory calculator (scaling/budget/memory.py) against the TPU compiler's peak for small
points of sweeps/tpu_chinchilla.yaml (its IsoFLOP design, bf16, FSDP over the slice, splash
attention), compiled for its target tpu-v5p-2x2x1 with the window cut to 256 tokens and the
batch to 32 so that each compiles in under a minute here: within 20%. Out of sample: the
calculator's flash workspace (FLASH_LOGITS_WORKSPACE) was fitted at the full T1024 steps.

'long' (pytest -m long; out of make test): four compiles of 24-66 s each on a quiet 2-core host.
Measured (jax 0.10.2, libtpu 0.0.42.1): calculator / compiler peak 0.885, 0.901, 0.888 and 0.901
at d320 L5, d384 L6, d448 L7 and d1152 L18 (points 0, 2, 4 and 21); the compiler's FLOPs
1.008-1.011 x the suite's.
"""
import pytest
from compiling import needs_libtpu

from scaling.compile import compile_one
from scaling.sweep import pipeline

FILE = "sweeps/tpu_chinchilla.yaml"
SMALL = ["base.model.seq_len=256", "recipe.batch_size.max=32"]


@pytest.mark.long
@pytest.mark.parametrize("index", [0, 2, 4, 21])
def test_the_calculator_is_within_20_percent_of_the_tpu_compilers_peak(index):
    needs_libtpu()
    resolved = pipeline.resolve(pipeline.load(FILE, SMALL), FILE)
    point = next(p for p in pipeline.expand(resolved) if p.index == index)
    c = compile_one(point.run, "tpu-v5p-2x2x1", fit=False)
    assert c.ok, c.result.get("error")
    assert {impl for impl, _ in c.result["attention"].values()} == {"splash"}
    assert 0.8 <= c.calc_ratio <= 1.2, (c.label, c.estimate, c.peak)
    assert abs(c.flops_ratio - 1) < 0.05
