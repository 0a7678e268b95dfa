"""Helpers for the tests that compile for accelerators: tiny resolved runs, and a skip when the
target's compiler is not installed (libtpu comes with the [tpu] extra, jax[cuda12] with the GPU
venv of scripts/gpu_venv.sh)."""
from __future__ import annotations

import importlib.util

import pytest

from scaling.configio import from_dict
from scaling.train.config import RunConfig
from scaling.train.record import resolve_run


def needs_libtpu():
    """Skip the calling test (or module) when the TPU compiler is absent."""
    if importlib.util.find_spec("libtpu") is None:
        pytest.skip("libtpu (the TPU compiler) is not installed: pip install -e '.[tpu]'")


def needs_cuda_plugin():
    """Skip the calling test when XLA's GPU compiler (jax[cuda12], the GPU venv of
    scripts/gpu_venv.sh) is absent."""
    if importlib.util.find_spec("jax_cuda12_plugin") is None:
        pytest.skip("jax[cuda12] (the GPU compiler) is not installed: scripts/gpu_venv.sh")


def tiny(objective: str = "clm", *, d: int = 256, L: int = 1, H: int = 4, T: int = 64,
         B: int = 16, vocab: int = 512, train: dict | None = None, **model):
    """A resolved run small enough to compile for a TPU in seconds."""
    cfg = from_dict(RunConfig, {
        "name": "tiny", "objective": objective,
        "model": {"d_model": d, "n_layers": L, "n_heads": H, "seq_len": T,
                  "dtype": "bfloat16", **model},
        "train": {"steps": 10, "batch_size": B, **(train or {})},
        "data": {"n_sentinels": 32}})
    return resolve_run(cfg, vocab)
