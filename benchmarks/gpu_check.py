"""The accelerator options measured on one GPU, as one script that finishes in under 8 minutes.

    python -m benchmarks.gpu_check                 # on the GPU host; prints one table per part
    python -m benchmarks.gpu_check --cpu-smoke     # tiny shapes on CPU: checks the script runs
    python -m benchmarks.gpu_check --only compile  # one part (throughput, accum, compile, isoflop)

1. throughput: bf16 train-step tokens/s and MFU at d_model 1024 and 2048, seq 2048, attention
   einsum vs dot_product (cuDNN flash where it applies), remat none vs block;
2. accum: train.microbatches=4 against one pass, per-step relative loss difference;
3. compile: lower().compile() time against depth for the largest gpu_chinchilla shape;
4. isoflop: a one-budget, three-size IsoFLOP slice of sweeps/gpu_chinchilla.yaml at 1e16 FLOPs
   on a real corpus (the installed packages' Python sources), via `scaling sweep`.
The step is built as every step benchmark builds it (benchmarks.suite_step.build: the train
state a run builds); MFU against scaling.hardware's peak.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np

from benchmarks import suite_step  # imports scaling first: malloc settings before jax allocates
from scaling.train import sharding

ROOT = Path(__file__).resolve().parents[1]


def _state(d, L, T, *, dtype="bfloat16", attention="auto", remat="none", k=1, vocab=32768):
    """A gpu_chinchilla-style causal model (rope, rmsnorm, swiglu, no biases, 128-wide heads)."""
    ss = suite_step.build("clm", d_model=d, n_layers=L, n_heads=max(1, d // 128), seq_len=T,
                          vocab=vocab, dtype=dtype, microbatches=k, pos="rope", norm="rmsnorm",
                          mlp="swiglu", bias=False, remat=remat, attention=attention)
    return ss.model, ss.train


def _time_steps(ts, B, T, vocab, steps, mesh):
    rng = np.random.default_rng(0)
    w = sharding.put_batch(rng.integers(0, vocab, (B, T + 1), dtype=np.int32), mesh)
    ts.put(mesh)
    p, o = ts.state["params"], ts.state["opt_state"]
    t0 = time.perf_counter()
    p, o, m = ts.step_fn(p, o, w, 0)
    jax.block_until_ready(m)
    compile_s, times, losses = time.perf_counter() - t0, [], [float(m["loss"])]
    for i in range(steps):
        t0 = time.perf_counter()
        p, o, m = ts.step_fn(p, o, w, i + 1)
        jax.block_until_ready(m)
        times.append(time.perf_counter() - t0)
        losses.append(float(m["loss"]))
    return compile_s, statistics.median(times), losses


def throughput(a, mesh) -> list[dict]:
    from scaling.hardware import peak_flops
    peak = peak_flops(a.dtype).flops
    rows = []
    for d, L in a.shapes:
        for attention in ("einsum", "dot_product"):
            for remat in ("none", "block"):
                m, ts = _state(d, L, a.seq, dtype=a.dtype, attention=attention, remat=remat,
                               vocab=a.vocab)
                try:
                    c, med, _ = _time_steps(ts, a.batch, a.seq, a.vocab, a.steps, mesh)
                except Exception as e:  # out of memory at this shape: say so, keep going
                    rows.append({"d": d, "L": L, "attention": attention, "remat": remat,
                                 "error": f"{type(e).__name__}: {str(e)[:80]}"})
                    continue
                fl = a.batch * m.seq_len * m.flops_per_token()
                rows.append({"d": d, "L": L, "attention": attention, "remat": remat,
                             "tokens_per_s": round(a.batch * a.seq / med),
                             "step_ms": round(med * 1e3, 1), "compile_s": round(c, 1),
                             "mfu": round(fl / med / peak, 3) if peak else None})
                del ts
    return rows


def accumulation(a, mesh) -> list[dict]:
    _, one = _state(a.acc_d, 2, a.seq, dtype=a.dtype, vocab=a.vocab)
    _, four = _state(a.acc_d, 2, a.seq, dtype=a.dtype, vocab=a.vocab, k=4)
    l1 = _time_steps(one, 8, a.seq, a.vocab, 3, mesh)[2]
    l4 = _time_steps(four, 8, a.seq, a.vocab, 3, mesh)[2]
    return [{"step": i, "loss_k1": x, "loss_k4": y, "rel_diff": abs(x - y) / abs(x)}
            for i, (x, y) in enumerate(zip(l1, l4))]


def compile_vs_depth(a, mesh) -> list[dict]:
    """lower().compile() of the step for abstract state (nothing allocated)."""
    from scaling.train.state import compiled_memory  # noqa: F401  (same lowering path)
    rows = []
    for L in a.depths:
        m, ts = _state(a.compile_d, L, a.compile_seq, dtype=a.dtype, vocab=a.vocab)
        st = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), ts.state)
        w = jax.ShapeDtypeStruct((a.batch, a.compile_seq + 1), np.int32)
        t0 = time.perf_counter()
        lowered = ts.step_fn.lower(st["params"], st["opt_state"], w, 0)
        t1 = time.perf_counter()
        lowered.compile()
        rows.append({"d": a.compile_d, "L": L, "lower_s": round(t1 - t0, 2),
                     "compile_s": round(time.perf_counter() - t1, 2)})
        del ts
    return rows


def isoflop(a) -> list[dict]:
    out = Path(a.isoflop_out)
    src = str(Path(np.__file__).parents[1])  # site-packages: real Python text on any host
    cmd = [sys.executable, "-m", "scaling", "sweep", "sweeps/gpu_chinchilla.yaml", "--quiet",
           "--out", str(out), "--set", f"grid.flops=[{a.budget}]",
           "--set", f"grid.params={a.sizes}", "--set", "grid.keep_tokens_per_param=[0.1, 10000]",
           "--set", f"base.data.source={src}", "--set", "base.train.eval_every=0",
           "--set", "base.data.val_windows=64",
           # byte tokens: training a 32k BPE on ~100 MB would take ~2 of the 8 minutes
           "--set", "base.data.tokenizer=byte"]
    if a.cpu_smoke:
        cmd += ["--dry-run"]
    subprocess.run(cmd, cwd=ROOT, check=True, timeout=a.isoflop_timeout)
    rows = []
    for s in sorted(out.glob("runs/*/summary.json")):
        j = json.loads(s.read_text())
        rows.append({"run": j["run_id"], "N": j["n_params_total"], "D": j["tokens"],
                     "eval_loss": j["final_eval_loss"], "wall_s": round(j["wall_s"])})
    return rows


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cpu-smoke", action="store_true", help="tiny shapes: checks the script")
    p.add_argument("--only", choices=("throughput", "accum", "compile", "isoflop"))
    p.add_argument("--isoflop-out", default="/tmp/gpu_check_isoflop")
    a = p.parse_args(argv)
    if a.cpu_smoke:
        a.dtype, a.shapes, a.seq, a.batch, a.vocab, a.steps = "float32", [(64, 2)], 64, 4, 512, 2
        a.acc_d, a.depths, a.compile_d, a.compile_seq = 32, [1, 2], 64, 64
        a.budget, a.sizes, a.isoflop_timeout = 1e13, "[3.0e6, 4.5e6, 7.0e6]", 300
    else:  # sized to finish in < 8 minutes on one H100/H200
        a.dtype, a.shapes, a.seq, a.batch, a.vocab, a.steps = (
            "bfloat16", [(1024, 8), (2048, 8)], 2048, 8, 32768, 5)
        a.acc_d, a.depths, a.compile_d, a.compile_seq = 256, [6, 12, 24], 1152, 1024
        a.budget, a.sizes, a.isoflop_timeout = 1e16, "[1.0e7, 2.5e7, 6.3e7]", 240
    return a


def main(argv=None) -> None:
    a = parse(argv)
    mesh = sharding.data_mesh()
    print(f"device: {jax.devices()[0].device_kind} x{jax.device_count()}", flush=True)
    parts = {"throughput": lambda: throughput(a, mesh), "accum": lambda: accumulation(a, mesh),
             "compile": lambda: compile_vs_depth(a, mesh), "isoflop": lambda: isoflop(a)}
    for name, fn in parts.items():
        if a.only and name != a.only:
            continue
        t0 = time.perf_counter()
        rows = fn()
        print(f"\n== {name} ({time.perf_counter() - t0:.0f}s)")
        for r in rows:
            print(json.dumps(r), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.9")
    main()
