"""Shared test helpers: a session token cache (never ~/.cache) and tiny run configs."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scaling.compile.targets import quiet_libtpu

ROOT = Path(__file__).resolve().parents[1]
# `make test` runs test files in parallel processes: on a GPU, none may take most of its memory
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
# the dev venv has libtpu (the [tpu] extra) to compile for TPUs: off a TPU VM, JAX's device
# lookup then stays quiet (no metadata query, no warnings on every subprocess's stderr)
quiet_libtpu()


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    """Point every process of the test session at one temporary token cache."""
    if not os.environ.get("SCALING_CACHE_KEEP"):
        os.environ["SCALING_CACHE"] = str(tmp_path_factory.mktemp("scaling_cache"))
    yield


def tiny_run(**over) -> dict:
    """A run config small enough to train in seconds: synthetic Markov text, byte tokens."""
    cfg = {
        "name": "tiny",
        "objective": "clm",
        "seed": 0,
        "data": {"source": "synthetic", "tokenizer": "byte", "synthetic_bytes": 200_000,
                 "n_sentinels": 8, "val_windows": 16},
        "model": {"d_model": 32, "n_layers": 2, "n_heads": 2, "seq_len": 32},
        "optim": {"lr": 1e-2, "warmup_frac": 0.1},
        "train": {"steps": 60, "batch_size": 8, "eval_every": 20, "eval_batch_size": 8,
                  "log_every": 5, "checkpoint_every": 20},
    }
    return set_dotted(cfg, over)


def set_dotted(cfg: dict, over: dict) -> dict:
    """Apply {'train.steps': 5, ...} to a nested mapping in place; return it."""
    for key, value in over.items():
        node = cfg
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return cfg


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_cli(*args, env=None, timeout=300, check=False) -> subprocess.CompletedProcess:
    """`python -m scaling ARGS` in a subprocess, as a user would run it."""
    full_env = dict(os.environ, **(env or {}))
    proc = subprocess.run([sys.executable, "-m", "scaling", *map(str, args)], cwd=ROOT,
                          env=full_env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"scaling {args} -> {proc.returncode}\n{proc.stderr[-3000:]}")
    return proc
