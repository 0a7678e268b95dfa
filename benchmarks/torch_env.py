#!/usr/bin/env python
"""A PyTorch CPU environment for the torch peer, built once, outside the project's venv.

The torch peer (peer_torch_gpt.py, docs/performance.md) is the bar the suite's CPU step is held
to, but torch is no dependency of the suite: installing it into the project's venv would
add gigabytes to every install. So the benchmark keeps its own venv in
`$SCALING_BENCH_CACHE/torch-venv` (default `~/.cache/scaling-bench/torch-venv`), made with
`python -m venv` and `pip install torch numpy` the first time `--torch` is given, and reused
after. On Linux, PyPI's torch wheel pulls the CUDA libraries as dependencies (several GB, a few
minutes); that is paid once per machine.

The venv is built under a temporary name and renamed when pip succeeded, so an interrupted
install is never taken for a working one; an flock keeps two benchmarks from building it at once.

  python -m benchmarks.torch_env          # build if needed; print the venv's python
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

#: the version the peers were measured with (docs/performance.md), so figures compare
TORCH_SPEC = os.environ.get("SCALING_BENCH_TORCH", "torch==2.13.0")


def cache_dir() -> Path:
    return Path(os.environ.get("SCALING_BENCH_CACHE", Path.home() / ".cache" / "scaling-bench"))


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def has_torch(python: str | os.PathLike) -> bool:
    """Whether `python` runs and imports torch (a quick subprocess: torch is not imported here)."""
    try:
        proc = subprocess.run([str(python), "-c", "import torch, numpy"], capture_output=True)
    except OSError:
        return False
    return proc.returncode == 0


def _base_python() -> str:
    # the interpreter under the project's venv: a venv made from a venv python would still
    # work, but naming the base keeps the torch venv independent of the project's
    return getattr(sys, "_base_executable", None) or shutil.which("python3") or sys.executable


def _build(venv: Path, spec: str, log) -> None:
    tmp = venv.with_name(venv.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"# building the torch peer's venv in {venv} (once; pip install {spec} numpy: "
          "several GB with PyPI's CUDA dependencies, a few minutes)", file=log, flush=True)
    subprocess.run([_base_python(), "-m", "venv", str(tmp)], check=True)
    # pip runs with the venv's python (-m pip), so the rename below breaks nothing we call
    subprocess.run([str(venv_python(tmp)), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", spec, "numpy"], check=True, stdout=log)
    shutil.rmtree(venv, ignore_errors=True)
    tmp.rename(venv)


def ensure(venv: Path | None = None, spec: str = TORCH_SPEC, log=sys.stderr) -> str:
    """The python of a venv with torch: the existing one, or built now. Raises on failure."""
    venv = venv or cache_dir() / "torch-venv"
    py = venv_python(venv)
    if has_torch(py):
        return str(py)
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / ".torch-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another benchmark may be building it right now
        if not has_torch(py):
            _build(venv, spec, log)
    if not has_torch(py):
        raise RuntimeError(f"{py} cannot import torch after the install")
    return str(py)


if __name__ == "__main__":
    print(ensure())
