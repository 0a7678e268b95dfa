#!/usr/bin/env python
"""The suite's train step beside the peers, on the shapes A, B and C, in one run.

For each shape (benchmarks/shapes.py), alternating, each in a fresh process:
  suite-OBJ    `python -m benchmarks.suite_step` with NO allocator variable set (the suite fixes
               glibc itself at `import scaling`); objectives clm, and mlm / span with --objectives
  suite-clm-bf16  the same causal step with bf16 compute (fp32 parameters), on CPUs with bf16
               arithmetic (AVX512_BF16 / AMX; --bf16 on|off|auto)
  peer-plain   the nanoGPT-style JAX peer (PEERS/peer_jax_gpt.py) as is
  peer-tuned   the same peer under the glibc tunables that fix its allocator (TUNED below)
  torch        the PyTorch eager peer (PEERS/peer_torch_gpt.py): with --torch the benchmark
               builds its own torch venv once (benchmarks/torch_env.py); --torch-python PY names one
then the fp32 matmul ceiling (PEERS/matmul_peak.py). Prints tokens/s, two MFUs (against the
CPU's hardware peak, benchmarks/hw_peak.py, and against JAX's own matmul rate, the suite's
logged MFU), and the ratios to the peers measured in this same run (absolute figures drift
10-20% on shared machines; ratios taken side by side are what to compare). Other processes'
CPU use during the run is measured and printed: torch's OpenMP threads slow down far more than
XLA's under load, so a busy machine understates torch. PEERS is --peers (default
$SCALING_PEERS, else ../shared/peers beside the repository); docs/performance.md has the
figures and how to read them.

  python -m benchmarks.step_throughput [--torch] [--configs A,B,C] [--objectives clm,mlm,span]
      [--bf16 auto|on|off] [--quiet-wait S] [--rounds 2] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import hw_peak, torch_env
from benchmarks.shapes import SHAPES

ROOT = Path(__file__).resolve().parents[1]
TUNED = ("glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:"
         "glibc.malloc.trim_threshold=68719476736")
ALLOC_VARS = ("GLIBC_TUNABLES", "LD_PRELOAD", "MALLOC_CONF", "MALLOC_ARENA_MAX",
              "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "SCALING_NO_MALLOPT")
BF16 = "suite-clm-bf16"


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ALLOC_VARS}
    env.update(extra)
    return env


def run_json(cmd: list[str], env: dict) -> dict | None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    for line in reversed(proc.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    print(f"  ! {' '.join(cmd[:3])}... failed: {proc.stderr.strip()[-400:]}", file=sys.stderr)
    return None


def torch_python(explicit: str | None, build: bool) -> str | None:
    """--torch-python PY, else (with --torch) the benchmark's own venv, else this Python if it
    has torch; None: no torch row."""
    if explicit:
        if not torch_env.has_torch(explicit):
            raise SystemExit(f"error: {explicit} cannot import torch (fix: --torch instead)")
        return explicit
    if build:
        return torch_env.ensure()
    return sys.executable if torch_env.has_torch(sys.executable) else None


class BusyMeter:
    """CPU seconds used by processes other than this one and its children, per CPU per second:
    0 on a quiet machine, 1 when others kept every core busy all along (from /proc/stat)."""

    def __init__(self):
        self.t0, self.busy0, self.own0 = time.monotonic(), self._busy(), self._own()

    @staticmethod
    def _busy() -> float:
        try:
            cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        except OSError:
            return float("nan")
        user, nice, system, irq, softirq = (int(cpu[i]) for i in (0, 1, 2, 5, 6))  # not idle
        return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own() -> float:
        return sum(getattr(resource.getrusage(w), f) for w in
                   (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                   for f in ("ru_utime", "ru_stime"))

    def share(self) -> float:
        wall = time.monotonic() - self.t0
        others = (self._busy() - self.busy0) - (self._own() - self.own0)
        return max(0.0, others) / (wall * (os.cpu_count() or 1))


def wait_quiet(max_s: float, limit: float = 0.1) -> float:
    """Wait (at most max_s) until other processes use < `limit` of the CPUs over one second, so
    that a run starts on a quiet machine; returns the last share seen. Between runs nothing of
    ours runs, so all the busy time is others'."""
    deadline, share = time.monotonic() + max_s, 0.0
    while True:
        meter = BusyMeter()
        time.sleep(1.0)
        share = meter.share()
        if share < limit or time.monotonic() > deadline:
            return share


def plan(name: str, a, py: str, tpy: str | None, peers: Path) -> dict[str, tuple]:
    """The runs of one config: impl name -> (command, environment)."""
    cargs = SHAPES[name].cli_args(a.steps_scale)
    suite = [py, "-m", "benchmarks.suite_step", *cargs]
    runs = {f"suite-{o}": ([*suite, "--objective", o], clean_env())
            for o in a.objectives.split(",")}
    if a.bf16_on:
        runs[BF16] = ([*suite, "--objective", "clm", "--dtype", "bfloat16"], clean_env())
    runs["peer-plain"] = ([py, str(peers / "peer_jax_gpt.py"), *cargs], clean_env())
    runs["peer-tuned"] = ([py, str(peers / "peer_jax_gpt.py"), *cargs],
                          clean_env(GLIBC_TUNABLES=TUNED))
    if tpy:
        runs["torch"] = ([tpy, str(peers / "peer_torch_gpt.py"), *cargs], clean_env())
    return runs


def measure(a, py: str, tpy: str | None, peers: Path) -> dict[str, dict[str, list[dict]]]:
    """Every config's runs, `a.rounds` times over, alternating the implementations."""
    results: dict[str, dict[str, list[dict]]] = {}
    for name in a.configs.split(","):
        runs = plan(name, a, py, tpy, peers)
        results[name] = {k: [] for k in runs}
        for r in range(a.rounds):
            for key, (cmd, env) in runs.items():
                if a.quiet_wait > 0:
                    wait_quiet(a.quiet_wait)
                meter = BusyMeter()
                out = run_json(cmd, env)
                if out:
                    out["others_busy"] = meter.share()
                    results[name][key].append(out)
                    print(f"[{name} round {r + 1}] {key:14s} {out['tokens_per_s']:9.0f} tok/s",
                          file=sys.stderr, flush=True)
    return results


def _med(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows) if rows else float("nan")


def _busy(rows: list[dict]) -> str:
    shares = [r["others_busy"] for r in rows if "others_busy" in r]
    return f"{max(shares):.0%}" if shares else ""


def format_table(results: dict, jax_peak: float | None, hw: hw_peak.HwPeak | None) -> list[str]:
    """The table: one row per (config, impl); MFU against the hardware peak (fp32, or bf16 for
    the bf16 row) and against JAX's fp32 matmul ceiling; ratios to the peers of the same config;
    busy: the most other processes took of the CPUs during one of the row's runs."""
    head = (f"{'config':6s} {'impl':14s} {'tok/s':>9s} {'GFLOP/s':>8s} {'MFU-hw':>7s} "
            f"{'MFU-jaxmm':>9s} {'vs peer-tuned':>13s} {'vs peer-plain':>13s} {'vs torch':>9s} "
            f"{'busy':>5s}")
    lines = [head, "-" * len(head)]
    pct = lambda x, ref: f"{x / ref:.1%}" if ref else "n/a"
    for name, by in results.items():
        refs = [_med(by.get(k, []), "tokens_per_s") for k in ("peer-tuned", "peer-plain", "torch")]
        for key, rows in by.items():
            if not rows:
                continue
            tps, gf = _med(rows, "tokens_per_s"), _med(rows, "achieved_gflops")
            peak = (hw.bf16 if key == BF16 else hw.fp32) / 1e9 if hw else None
            peer = key in ("peer-tuned", "peer-plain", "torch")  # the bars: no ratios
            ratios = ["" if peer else f"{tps / r:.2f}x" if r == r else "n/a" for r in refs]
            lines.append(f"{name:6s} {key:14s} {tps:9.0f} {gf:8.1f} {pct(gf, peak):>7s} "
                         f"{pct(gf, jax_peak):>9s} {ratios[0]:>13s} {ratios[1]:>13s} "
                         f"{ratios[2]:>9s} {_busy(rows):>5s}")
    return lines


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--peers", default=os.environ.get("SCALING_PEERS",
                                                     str(ROOT.parent / "shared" / "peers")),
                   help="the peers' folder (peer_jax_gpt.py, peer_torch_gpt.py, matmul_peak.py)")
    p.add_argument("--configs", default="A,B,C")
    p.add_argument("--objectives", default="clm", help="suite objectives: clm,mlm,span")
    p.add_argument("--rounds", type=int, default=2, help="alternations per config")
    p.add_argument("--steps-scale", type=float, default=1.0, help="scale the timed steps")
    p.add_argument("--torch", action="store_true",
                   help="time the torch peer, in a venv built once (benchmarks/torch_env.py)")
    p.add_argument("--torch-python", help="a Python with torch, for the torch peer")
    p.add_argument("--bf16", choices=["auto", "on", "off"], default="auto",
                   help="a bf16-compute row of the causal step; auto: on CPUs with AVX512_BF16/AMX")
    p.add_argument("--quiet-wait", type=float, default=60.0,
                   help="before each run wait up to this many seconds for other processes to "
                        "leave the CPUs idle (0: don't wait)")
    p.add_argument("--json", help="also write all measurements here")
    a = p.parse_args(argv)
    try:
        info = hw_peak.parse_cpuinfo(Path("/proc/cpuinfo").read_text())
        fast = hw_peak.has_fast_bf16(info)
    except OSError:
        fast = False
    a.bf16_on = a.bf16 == "on" or (a.bf16 == "auto" and fast)
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    peers = Path(a.peers)
    if not (peers / "peer_jax_gpt.py").exists():
        print(f"error: no peer_jax_gpt.py in {peers} (fix: --peers PATH or SCALING_PEERS)", file=sys.stderr)
        return 2
    py, tpy = sys.executable, torch_python(a.torch_python, a.torch)
    results = measure(a, py, tpy, peers)
    peak = run_json([py, str(peers / "matmul_peak.py"), "--sizes", "1024,2048", "--reps", "3"],
                    clean_env())
    shares = [r["others_busy"] for by in results.values() for rows in by.values() for r in rows]
    others = max(shares, default=0.0)
    jax_peak, hw = (peak["peak_gflops"] if peak else None), hw_peak.this_cpu()
    print(f"\nhardware peak: {hw.assumptions if hw else 'unknown (no /proc/cpuinfo clock)'}")
    print(f"fp32 matmul ceiling (JAX, this run): {jax_peak} GFLOP/s; rounds {a.rounds}; medians "
          "of the rounds; MFU = achieved GFLOP/s / peak (attention counted in full)")
    if hw and jax_peak and jax_peak * 1e9 > hw.fp32:
        # the cpuinfo clock is the nominal one: a matmul above the peak proves a boost clock
        print(f"note: JAX's matmul beat the hardware peak: the cores ran at >= "
              f"{jax_peak * 1e9 / (hw.cores * hw.fp32_per_cycle) / 1e9:.2f} GHz, not "
              f"{hw.ghz:.2f}; MFU-hw is against the nominal clock")
    print(f"other processes used up to {others:.0%} of the CPUs during a run (column 'busy')"
          + (": ratios unreliable, torch suffers most" if others > 0.1 else ""))
    if not tpy:
        print("no torch row: pass --torch (builds the torch venv once) or --torch-python PY")
    print("\n".join(format_table(results, jax_peak, hw)))
    if a.json:
        Path(a.json).write_text(json.dumps({"results": results, "peak": peak, "others_busy":
                                            others, "hw_peak": hw.__dict__ if hw else None},
                                           indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
