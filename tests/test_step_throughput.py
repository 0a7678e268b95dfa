"""benchmarks.step_throughput without running it: the hardware peak from fixture cpuinfo
blocks, the table's MFU and ratio columns, the bf16 row's choice, the torch venv lookup, the one
shapes table behind every step benchmark, and step_profile's HLO classing and time split."""
from __future__ import annotations

import pytest

from benchmarks import hw_peak, step_throughput, torch_env
from benchmarks import step_profile as profile_step
from benchmarks.shapes import SHAPES

ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
cpu MHz\t\t: 2596.134
flags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512dq avx512_bf16 avx512_vnni

processor\t: 1
vendor_id\t: AuthenticAMD
cpu MHz\t\t: 1.0
"""
XEON = """vendor_id\t: GenuineIntel
cpu family\t: 6
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
cpu MHz\t\t: 2700.000
flags\t\t: fpu avx fma avx2 avx512f avx512_bf16 amx_bf16 amx_tile
"""
ZEN3 = """vendor_id\t: AuthenticAMD
cpu family\t: 25
model name\t: AMD EPYC 7B13
cpu MHz\t\t: 2450.000
flags\t\t: fpu avx fma avx2
"""


def test_zen4_peak_uses_256_bit_pipes_and_the_first_block():
    info = hw_peak.parse_cpuinfo(ZEN4)
    assert (info.family, info.mhz) == (25, 2596.134)  # the second processor's 1.0 is ignored
    peak = hw_peak.hw_peak(info, cores=2)
    # 2 cores x 2 FMA x 8 lanes x 2 FLOP x 2.596 GHz
    assert peak.fp32 == pytest.approx(2 * 2 * 8 * 2 * 2.596134e9)
    assert peak.bf16 == pytest.approx(2 * peak.fp32)  # AVX512_BF16 dot products
    assert "256-bit" in peak.assumptions and hw_peak.has_fast_bf16(info)


def test_xeon_peak_512_bit_and_amx():
    peak = hw_peak.hw_peak(hw_peak.parse_cpuinfo(XEON), cores=2)
    assert peak.fp32_per_cycle == 64 and peak.bf16_per_cycle == 1024
    assert peak.fp32 == pytest.approx(2 * 64 * 2.7e9)


def test_avx2_part_has_no_fast_bf16():
    info = hw_peak.parse_cpuinfo(ZEN3)
    peak = hw_peak.hw_peak(info, cores=4, ghz=3.0)  # an explicit clock overrides cpuinfo
    assert peak.fp32 == pytest.approx(4 * 32 * 3e9) and peak.bf16 == peak.fp32
    assert not hw_peak.has_fast_bf16(info)


def _row(tps, gf):
    return [{"tokens_per_s": tps, "achieved_gflops": gf}]


def test_table_mfu_and_ratios():
    hw = hw_peak.hw_peak(hw_peak.parse_cpuinfo(ZEN4), cores=2)  # 166 GFLOP/s fp32
    results = {"A": {"suite-clm": _row(12000, 83.0), "suite-clm-bf16": _row(6000, 41.5),
                     "peer-plain": _row(8000, 52.0), "peer-tuned": _row(12000, 80.0),
                     "torch": _row(10000, 65.0)}}
    lines = step_throughput.format_table(results, jax_peak=166.0, hw=hw)
    assert "vs torch" in lines[0] and "MFU-hw" in lines[0] and "MFU-jaxmm" in lines[0]
    suite = next(line for line in lines if " suite-clm " in line).split()
    # tok/s, GFLOP/s, MFU-hw (of 166.15), MFU-jaxmm (of 166), vs tuned, vs plain, vs torch
    assert suite[2:] == ["12000", "83.0", "50.0%", "50.0%", "1.00x", "1.50x", "1.20x"]
    bf16 = next(line for line in lines if "suite-clm-bf16" in line).split()
    assert bf16[4] == "12.5%"  # against the bf16 peak, twice the fp32 one
    torch = next(line for line in lines[2:] if line.split()[1] == "torch").split()
    assert len(torch) == 6  # a peer has no ratio columns


def test_table_busy_column_is_the_worst_run():
    rows = [dict(_row(100, 1.0)[0], others_busy=b) for b in (0.02, 0.31)]
    lines = step_throughput.format_table({"A": {"suite-clm": rows}}, jax_peak=None, hw=None)
    assert "busy" in lines[0] and lines[2].split()[-1] == "31%"


def test_table_without_torch_or_peaks():
    lines = step_throughput.format_table({"C": {"suite-clm": _row(500, 90.0), "torch": []}},
                                         jax_peak=None, hw=None)
    assert lines[2].split()[2:] == ["500", "90.0"] + ["n/a"] * 5


def test_bf16_row_follows_the_cpu(monkeypatch):
    assert step_throughput.parse_args(["--bf16", "on"]).bf16_on
    assert not step_throughput.parse_args(["--bf16", "off"]).bf16_on


def test_shapes_give_the_peers_flags_in_their_order():
    # the peers' own command lines for config A (their README), steps scaled with a floor of 3
    assert SHAPES["A"].cli_args() == ["--d-model", "128", "--n-layers", "4", "--n-heads", "4",
                                      "--seq-len", "256", "--batch", "16", "--vocab", "256",
                                      "--warmup", "5", "--steps", "40"]
    assert SHAPES["C"].cli_args(0.1)[-2:] == ["--steps", "3"]
    assert SHAPES["B"].model_kwargs == {"d_model": 256, "n_layers": 6, "n_heads": 8,
                                        "seq_len": 256, "vocab": 256}


def test_suite_rows_run_the_suite_step_module(tmp_path):
    a = step_throughput.parse_args(["--objectives", "clm,span", "--bf16", "off"])
    runs = step_throughput.plan("B", a, "PY", None, tmp_path)
    assert runs["suite-span"][0][:3] == ["PY", "-m", "benchmarks.suite_step"]
    assert runs["suite-span"][0][3:-2] == SHAPES["B"].cli_args()
    assert "GLIBC_TUNABLES" not in runs["suite-clm"][1]
    assert runs["peer-tuned"][1]["GLIBC_TUNABLES"] == step_throughput.TUNED
    assert "torch" not in runs


def test_torch_env_reuses_a_working_venv(tmp_path, monkeypatch):
    built = []
    monkeypatch.setattr(torch_env, "has_torch", lambda py: True)
    monkeypatch.setattr(torch_env, "_build", lambda *a, **k: built.append(a))
    assert torch_env.ensure(tmp_path / "v") == str(tmp_path / "v" / "bin" / "python")
    assert not built


def test_torch_env_builds_once_when_missing(tmp_path, monkeypatch):
    state = {"ok": False}
    monkeypatch.setattr(torch_env, "has_torch", lambda py: state["ok"])
    monkeypatch.setattr(torch_env, "_build", lambda *a, **k: state.update(ok=True))
    torch_env.ensure(tmp_path / "v")
    assert state["ok"]
    monkeypatch.setattr(torch_env, "_build", lambda *a, **k: None)
    state["ok"] = False
    with pytest.raises(RuntimeError, match="cannot import torch"):
        torch_env.ensure(tmp_path / "w")


HLO = """HloModule jit_train_step

%fused_computation.1 (p0: f32[16,4,256,32], p1: f32[16,4,256,32]) -> f32[16,4,256,256] {
  %p0 = f32[16,4,256,32]{3,2,1,0} parameter(0)
  %p1 = f32[16,4,256,32]{3,2,1,0} parameter(1)
  ROOT %dot.1 = f32[16,4,256,256]{3,2,1,0} dot(%p0, %p1), lhs_batch_dims={0,1}, rhs_batch_dims={0,1}
}

%fused_computation.2 (p0: f32[4096,128]) -> f32[4096,128] {
  %p0 = f32[4096,128]{1,0} parameter(0)
  ROOT %tanh.1 = f32[4096,128]{1,0} tanh(%p0)
}

ENTRY %main.9 (a: f32[16,4,256,32], x: f32[4096,128], w: f32[128,512]) -> f32[4096,512] {
  %a = f32[16,4,256,32]{3,2,1,0} parameter(0)
  %x = f32[4096,128]{1,0} parameter(1)
  %w = f32[128,512]{1,0} parameter(2)
  %ynn_fusion.3 = f32[16,4,256,256]{3,2,1,0} fusion(%a, %a), kind=kCustom, calls=%fused_computation.1
  %gelu_fusion = f32[4096,128]{1,0} fusion(%x), kind=kLoop, calls=%fused_computation.2
  ROOT %dot.7 = f32[4096,512]{1,0} dot(%gelu_fusion, %w), lhs_contracting_dims={1}, rhs_contracting_dims={0}
}
"""


def test_profile_classes_hlo_instructions(tmp_path):
    path = tmp_path / "m.txt"
    path.write_text(HLO)
    ins = profile_step.parse_hlo(str(path))
    assert set(ins) == {"a", "x", "w", "ynn_fusion.3", "gelu_fusion", "dot.7"}
    assert profile_step.category(ins["ynn_fusion.3"]) == "matmul, attention (batched)"
    assert profile_step.category(ins["dot.7"]) == "matmul, linear layers"
    assert profile_step.category(ins["gelu_fusion"]) == "gelu"


def test_profile_splits_overlapping_time():
    # a: 0-10 alone but 5-10 shared with b; b: 5-20; then nothing 20-30; c: 30-40
    shares, conc = profile_step.wall_shares([(0, 10, "a"), (5, 20, "b"), (30, 40, "c")])
    assert shares == {"a": 7.5, "b": 12.5, "c": 10}
    assert conc == {0: 0.25, 1: 0.625, 2: 0.125}
