#!/usr/bin/env bash
# The GPU compiler's own venv (about 5.5 GB of wheels), kept out of the project's .venv and CI:
# jax[cuda12] pinned to the jax the project's venv runs, plus the project itself. Built once,
# atomically (in a temporary folder, renamed into place when complete) and under a lock (two
# callers at once build it once). Then, with no GPU:
#   CUDA_VISIBLE_DEVICES=-1 JAX_SKIP_CUDA_CONSTRAINTS_CHECK=1 .venv-gpu/bin/python \
#       -m scaling sweep sweeps/gpu_chinchilla.yaml --dry-run --compile-for h100
# (its pytest runs the GPU compile checks: CUDA_VISIBLE_DEVICES=-1 JAX_SKIP_CUDA_CONSTRAINTS_CHECK=1
# .venv-gpu/bin/python -m pytest -q tests/test_compile_gpu.py).
# Call the venv's tools as `.venv-gpu/bin/python -m pip ...` (a renamed venv keeps its python,
# not its scripts' shebang lines). Built here in 1 m 45 s: 5.8 GB, jax[cuda12]==0.10.2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${GPU_VENV:-$ROOT/.venv-gpu}
PY=${PYTHON:-python3}
JAX=${GPU_VENV_JAX:-$("${ROOT}/.venv/bin/python" -c 'import jax; print(jax.__version__)' 2>/dev/null \
      || "$PY" -c 'import jax; print(jax.__version__)' 2>/dev/null || true)}
if [ -z "$JAX" ]; then
  echo "error: no jax to pin jax[cuda12] to: build the project's venv first (make venv)," \
       "or set GPU_VENV_JAX=<version>" >&2
  exit 2
fi
exec 9>"$DEST.lock"
flock 9
if [ -x "$DEST/bin/python" ] && "$DEST/bin/python" -c 'import jax_cuda12_plugin' 2>/dev/null; then
  echo "$DEST: already built (jax $("$DEST/bin/python" -c 'import jax; print(jax.__version__)'))"
  exit 0
fi
TMP=$(mktemp -d "$DEST.tmp.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
"$PY" -m venv "$TMP"
"$TMP/bin/python" -m pip install --quiet --upgrade pip
"$TMP/bin/python" -m pip install --quiet "jax[cuda12]==$JAX" -e "$ROOT" pytest
rm -rf "$DEST"
mv "$TMP" "$DEST"
trap - EXIT
echo "$DEST: built with jax[cuda12]==$JAX"
