#!/usr/bin/env python
"""The suite's train step beside the peers (shared/peers), on configs A, B and C, in one run.

For each config, alternating, each in a fresh process:
  suite        benchmarks/_suite_step.py with NO allocator variable set (the suite fixes glibc
               itself at `import scaling`); objectives clm, and mlm / span with --objectives
  peer-plain   peers/peer_jax_gpt.py as is
  peer-tuned   peers/peer_jax_gpt.py under the GLIBC_TUNABLES of peers/README.md
  torch        peers/peer_torch_gpt.py, when torch is importable
then the fp32 matmul ceiling (peers/matmul_peak.py) for MFU. Prints a table of tokens/s, MFU and
the ratios suite / peer measured in this same run (absolute figures drift 10-20% on shared
machines; ratios taken side by side are what to compare).

  python benchmarks/step_throughput.py [--configs A,B,C] [--objectives clm,mlm,span] [--rounds 2]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUNED = ("glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:"
         "glibc.malloc.trim_threshold=68719476736")
CONFIGS = {  # shared/peers/README.md
    "A": dict(d_model=128, n_layers=4, n_heads=4, seq_len=256, batch=16, vocab=256, warmup=5,
              steps=40),
    "B": dict(d_model=256, n_layers=6, n_heads=8, seq_len=256, batch=16, vocab=256, warmup=3,
              steps=20),
    "C": dict(d_model=512, n_layers=8, n_heads=8, seq_len=512, batch=8, vocab=256, warmup=2,
              steps=10),
}
ALLOC_VARS = ("GLIBC_TUNABLES", "LD_PRELOAD", "MALLOC_CONF", "MALLOC_ARENA_MAX",
              "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "SCALING_NO_MALLOPT")


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ALLOC_VARS}
    env.update(extra)
    return env


def args_of(cfg: dict, steps_scale: float) -> list[str]:
    out = []
    for k, v in cfg.items():
        if k == "steps":
            v = max(3, int(v * steps_scale))
        out += [f"--{k.replace('_', '-')}", str(v)]
    return out


def run_json(cmd: list[str], env: dict) -> dict | None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    for line in reversed(proc.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    print(f"  ! {' '.join(cmd[:3])}... failed: {proc.stderr.strip()[-400:]}", file=sys.stderr)
    return None


def torch_python(explicit: str | None) -> str | None:
    for py in [explicit, sys.executable]:
        if py and subprocess.run([py, "-c", "import torch"], capture_output=True).returncode == 0:
            return py
    return None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--peers", default=str(ROOT.parent / "shared" / "peers"))
    p.add_argument("--configs", default="A,B,C")
    p.add_argument("--objectives", default="clm", help="suite objectives: clm,mlm,span")
    p.add_argument("--rounds", type=int, default=2, help="alternations per config")
    p.add_argument("--steps-scale", type=float, default=1.0, help="scale the timed steps")
    p.add_argument("--torch-python", help="a Python with torch, for the torch peer")
    p.add_argument("--json", help="also write all measurements here")
    a = p.parse_args()
    peers = Path(a.peers)
    if not (peers / "peer_jax_gpt.py").exists():
        print(f"error: no peer_jax_gpt.py in {peers} (fix: --peers PATH)", file=sys.stderr)
        return 2
    py = sys.executable
    tpy = torch_python(a.torch_python)
    objectives = a.objectives.split(",")
    results: dict[str, dict[str, list[dict]]] = {}
    for name in a.configs.split(","):
        cfg = CONFIGS[name]
        cargs = args_of(cfg, a.steps_scale)
        runs = {f"suite-{o}": ([py, "benchmarks/_suite_step.py", *cargs, "--objective", o],
                               clean_env()) for o in objectives}
        runs["peer-plain"] = ([py, str(peers / "peer_jax_gpt.py"), *cargs], clean_env())
        runs["peer-tuned"] = ([py, str(peers / "peer_jax_gpt.py"), *cargs],
                              clean_env(GLIBC_TUNABLES=TUNED))
        if tpy:
            runs["torch"] = ([tpy, str(peers / "peer_torch_gpt.py"), *cargs], clean_env())
        results[name] = {k: [] for k in runs}
        for r in range(a.rounds):
            for key, (cmd, env) in runs.items():
                out = run_json(cmd, env)
                if out:
                    results[name][key].append(out)
                    print(f"[{name} round {r + 1}] {key:11s} {out['tokens_per_s']:9.0f} tok/s",
                          file=sys.stderr, flush=True)
    peak = run_json([py, str(peers / "matmul_peak.py"), "--sizes", "1024,2048", "--reps", "3"],
                    clean_env())
    peak_gflops = peak["peak_gflops"] if peak else None

    def med(rows, key):
        return statistics.median(r[key] for r in rows) if rows else float("nan")

    print(f"\nfp32 matmul ceiling (JAX, this run): {peak_gflops} GFLOP/s; "
          f"rounds {a.rounds}; medians of the rounds; MFU = achieved GFLOP/s / ceiling")
    head = f"{'config':6s} {'impl':11s} {'tok/s':>9s} {'GFLOP/s':>8s} {'MFU':>6s} " \
           f"{'vs peer-tuned':>13s} {'vs peer-plain':>13s} {'vs torch':>9s}"
    print(head)
    print("-" * len(head))
    for name, by in results.items():
        ref_t, ref_p = med(by["peer-tuned"], "tokens_per_s"), med(by["peer-plain"], "tokens_per_s")
        ref_torch = med(by.get("torch", []), "tokens_per_s")
        for key, rows in by.items():
            if not rows:
                continue
            tps, gf = med(rows, "tokens_per_s"), med(rows, "achieved_gflops")
            mfu = f"{gf / peak_gflops:6.1%}" if peak_gflops else "   n/a"
            ratio = lambda ref: f"{tps / ref:.2f}x" if ref == ref else "n/a"
            print(f"{name:6s} {key:11s} {tps:9.0f} {gf:8.1f} {mfu} {ratio(ref_t):>13s} "
                  f"{ratio(ref_p):>13s} {ratio(ref_torch):>9s}")
    if a.json:
        Path(a.json).write_text(json.dumps({"results": results, "peak": peak}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
