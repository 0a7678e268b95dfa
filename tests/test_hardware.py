"""The accelerator table, peak lookup, and the measured, cached CPU peak."""
import json
from types import SimpleNamespace

import jax
import pytest

from runstore import InputError
from scaling import hardware as hw


def _dev(kind, platform="gpu"):
    return SimpleNamespace(device_kind=kind, platform=platform)


def test_table_complete_with_sources():
    for alias in ("h100", "a100", "v100", "h200", "tpu-v4", "tpu-v5e", "tpu-v5p"):
        acc = hw.resolve(alias)
        assert acc.memory_bytes > 0 and acc.source
        assert (acc.bf16 or acc.fp16) > 1e13
    assert hw.resolve("H100").name == "H100 SXM"  # aliases are case-insensitive


@pytest.mark.parametrize("kind,name", [
    ("NVIDIA H100 80GB HBM3", "H100 SXM"), ("NVIDIA H100 PCIe", "H100 PCIe"),
    ("NVIDIA A100-SXM4-40GB", "A100 40GB"), ("NVIDIA A100-SXM4-80GB", "A100 80GB"),
    ("Tesla V100-SXM2-16GB", "V100 SXM2"), ("NVIDIA H200", "H200"), ("TPU v4", "TPU v4"),
    ("TPU v5 lite", "TPU v5e"), ("TPU v5", "TPU v5p"), ("TPU v5p", "TPU v5p")])
def test_lookup_by_device_kind(kind, name):
    assert hw.lookup(kind).name == name


def test_unknown():
    assert hw.lookup("Imaginary Accelerator 9000") is None
    with pytest.raises(InputError, match="nosuchgpu"):
        hw.resolve("nosuchgpu")
    p = hw.peak_flops("bfloat16", _dev("Imaginary Accelerator 9000"))
    assert p.flops is None and "not in" in p.source and not p.measured


def test_dense_peaks():
    p = hw.peak_flops("bfloat16", _dev("NVIDIA H100 80GB HBM3"))
    assert p.flops == 989e12 and not p.measured  # dense, not the 1,979 "with sparsity"
    assert "datasheet" in p.source
    assert hw.peak_flops("bf16", _dev("NVIDIA A100-SXM4-80GB")).flops == 312e12
    assert hw.peak_flops("bf16", _dev("TPU v5 lite", "tpu")).flops == 197e12


def test_float32_follows_jax_default_matmul_precision():
    h100 = _dev("NVIDIA H100 80GB HBM3")
    assert hw.peak_flops("float32", h100).flops == 494.5e12  # TF32 by default
    with jax.default_matmul_precision("float32"):
        assert hw.peak_flops("float32", h100).flops == 67e12
    assert hw.peak_flops("float32", _dev("Tesla V100-SXM2-32GB")).flops == 15.7e12
    assert hw.peak_flops("float32", _dev("TPU v4", "tpu")).flops == 275e12  # one bf16 pass


def test_no_bf16_on_v100_is_null_not_invented():
    p = hw.peak_flops("bfloat16", _dev("Tesla V100-SXM2-32GB"))
    assert p.flops is None and "null" in p.source


def test_cpu_peak_measured_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALING_CACHE", str(tmp_path))
    calls = []

    def fake_measure(**kw):
        calls.append(kw)
        return 1.25e11

    monkeypatch.setattr(hw, "measure_cpu_matmul", fake_measure)
    cpu = jax.devices("cpu")[0]
    p = hw.peak_flops(device=cpu)
    assert p.measured and p.flops == 1.25e11 and p.dtype == "float32"
    cache = json.loads((tmp_path / "cpu_peak.json").read_text())
    assert cache[hw.cpu_key()]["flops"] == 1.25e11
    assert hw.peak_flops(device=cpu).flops == 1.25e11
    assert len(calls) == 1  # the second call read the cache


def test_cpu_peak_corrupt_cache_remeasures(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALING_CACHE", str(tmp_path))
    (tmp_path / "cpu_peak.json").write_text("{not json")
    monkeypatch.setattr(hw, "measure_cpu_matmul", lambda **kw: 7e10)
    assert hw.cpu_peak()[0] == 7e10


def test_cpu_key_names_machine():
    key = hw.cpu_key()
    assert "cores" in key and jax.__version__ in key


def test_real_measurement_is_positive():
    flops = hw.measure_cpu_matmul(sizes=(64, 128), reps=1, round_s=0.01)
    assert 1e7 < flops < 1e14
