#!/usr/bin/env python
"""Where the time of one CPU train step goes, per kind of op: the suite's step or the torch peer.

  python -m benchmarks.step_profile --impl jax   --config A [--dtype bfloat16] [--steps 5]
  python -m benchmarks.step_profile --impl torch --config A      # in the torch venv (torch_env)

jax: the suite's real step (benchmarks.suite_step.build, as every step benchmark) under
jax.profiler; XLA:CPU records one trace event per thunk (a fusion, a dot, a YNNPACK fusion),
named as the instruction of the optimized HLO, which is dumped beside it (XLA_FLAGS
--xla_dump_to) so each event can be classed by what its instruction computes. Shares are of the
wall time covered by thunks (two overlapping thunks split the time), not of thread time.
torch: the torch peer's model and step (PEERS/peer_torch_gpt.py, --peers as step_throughput)
under torch.profiler, ops by self CPU time. Results: docs/performance.md; run on a quiet machine
(flock /tmp/bench.lock).
"""
from __future__ import annotations

import argparse
import collections
import glob
import importlib.util
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.shapes import SHAPES

ROOT = Path(__file__).resolve().parents[1]


def parse_hlo(path: str) -> dict[str, dict]:
    """ENTRY instructions of an optimized HLO text dump: name -> op, shape, op_name, and the body
    of the computation a fusion calls."""
    comps: dict[str, list[str]] = {}
    cur = entry = None
    for line in Path(path).read_text().splitlines():
        m = re.match(r"^(ENTRY )?%?([\w.\-]+) .*\{$", line)
        if m:
            cur = m.group(2)
            comps[cur] = []
            entry = cur if m.group(1) else entry
        elif cur:
            comps[cur].append(line)
    out = {}
    for line in comps.get(entry, []):
        m = re.match(r"\s+(?:ROOT )?%([\w.\-]+) = (\S+?(?:\{[^}]*\})?) ([\w\-]+)\(", line)
        if m:
            calls = re.search(r"calls=%([\w.\-]+)", line)
            out[m.group(1)] = {"shape": m.group(2), "op": m.group(3), "line": line,
                               "body": "\n".join(comps.get(calls.group(1), [])) if calls else ""}
    return out


def category(ins: dict) -> str:
    """A kind of work, from the ops inside the instruction (first match wins)."""
    body, op = ins["body"], ins["op"]
    inner = set(re.findall(r"= \S+ ([\w\-]+)\(", body)) | {op}
    if inner & {"dot", "convolution"}:
        batched = re.search(r"lhs_batch_dims=\{[\d,]+\}", ins["line"] + body)
        return "matmul, attention (batched)" if batched else "matmul, linear layers"
    rules = [({"exponential"}, "softmax / logsumexp"), ({"rsqrt"}, "layernorm"),
             ({"tanh"}, "gelu"), ({"sqrt", "power"}, "adam / norms"),
             ({"concatenate", "slice", "dynamic-slice", "dynamic-update-slice", "pad"},
              "concat / slice / pad (blocked attention)"),
             ({"gather", "scatter"}, "embedding gather / scatter"),
             ({"reduce"}, "reductions (bias / norm grads)"), ({"copy", "transpose"}, "copies")]
    for ops, name in rules:
        if inner & ops:
            return name
    return "elementwise (residual, scale, mask, divide)"


def wall_shares(events: list[tuple[int, int, str]]) -> tuple[collections.Counter, dict]:
    """Sweep over (start, end, category) intervals: each moment's time is split among the
    thunks running then; also the share of time with 0, 1, 2+ thunks running."""
    pts = sorted([(s, 1, i) for i, (s, _, _) in enumerate(events)]
                 + [(e, -1, i) for i, (_, e, _) in enumerate(events)])
    active: set[int] = set()
    last, shares, conc = pts[0][0], collections.Counter(), collections.Counter()
    for t, kind, i in pts:
        conc[min(len(active), 2)] += t - last
        for j in active:
            shares[events[j][2]] += (t - last) / len(active)
        last = t
        (active.add if kind == 1 else active.discard)(i)
    span = sum(conc.values()) or 1
    return shares, {k: v / span for k, v in sorted(conc.items())}


def profile_jax(config: str, dtype: str, steps: int) -> tuple[float, collections.Counter, dict]:
    """(ms per step, wall ms per category per step, concurrency) of the suite's causal step."""
    dump = tempfile.mkdtemp(prefix="hlo_")
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" --xla_dump_to={dump} "
                               "--xla_dump_hlo_as_text --xla_dump_hlo_module_re=.*train_step.*")
    import jax

    from benchmarks import suite_step  # imports scaling: the malloc fix, before jax allocates

    shape = SHAPES[config]
    ss = suite_step.build("clm", dtype=dtype, **shape.model_kwargs)
    p, o, step = ss.train.state["params"], ss.train.state["opt_state"], ss.train.step_fn
    x = ss.windows(shape.batch, n=1)[0]
    times = []
    for i in range(3 + steps):  # 3 warm-up steps, then the timed ones (as the peers time them)
        t0 = time.perf_counter()
        p, o, m = step(p, o, x, i)
        m["loss"].block_until_ready()
        times.append(time.perf_counter() - t0)
    ms = statistics.median(times[3:]) * 1e3
    trace = tempfile.mkdtemp(prefix="trace_")
    with jax.profiler.trace(trace):
        for i in range(steps):
            p, o, m = step(p, o, x, i + 3 + steps)
            m["loss"].block_until_ready()
    ins = parse_hlo(sorted(glob.glob(f"{dump}/*train_step*after_optimizations.txt"))[-1])
    data = jax.profiler.ProfileData.from_file(glob.glob(f"{trace}/**/*.xplane.pb",
                                                        recursive=True)[0])
    events = [(ev.start_ns, ev.start_ns + ev.duration_ns, category(ins[ev.name]))
              for plane in data.planes for line in plane.lines
              if line.name.startswith("tf_XLAEigen") for ev in line.events if ev.name in ins]
    shares, conc = wall_shares(events)
    covered = sum(shares.values()) or 1
    # shares of the profiled steps, scaled to the unprofiled step time (tracing slows it)
    return ms, collections.Counter({k: v / covered * ms for k, v in shares.items()}), conc


def _peer_gpt(peers: str):
    """The torch peer's model class, loaded from its file (the peers are no package)."""
    spec = importlib.util.spec_from_file_location("peer_torch_gpt",
                                                  Path(peers) / "peer_torch_gpt.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod.GPT


def profile_torch(config: str, steps: int, peers: str) -> tuple[float, collections.Counter]:
    """(ms per step, self CPU ms per op per step) of the torch peer's step."""
    import torch
    import torch.nn.functional as F
    GPT = _peer_gpt(peers)

    sh = SHAPES[config]
    d, L, H, T, B = sh.d_model, sh.n_layers, sh.n_heads, sh.seq_len, sh.batch
    torch.manual_seed(0)
    model = GPT(256, T, d, L, H)
    groups = [{"params": [q for q in model.parameters() if q.dim() >= 2], "weight_decay": 0.1},
              {"params": [q for q in model.parameters() if q.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=3e-4, betas=(0.9, 0.95), fused=True)
    x = torch.randint(0, 256, (B, T + 1))

    def step():  # the peer's train_step
        loss = F.cross_entropy(model(x[:, :-1]).reshape(-1, 256), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True)
        opt.step()

    for _ in range(3):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    ops = collections.Counter({e.key: e.self_cpu_time_total / steps / 1e3
                               for e in prof.key_averages()})
    return statistics.median(times) * 1e3, ops


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--impl", choices=["jax", "torch", "torch-here"], default="jax")
    p.add_argument("--config", choices=sorted(SHAPES), default="A")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--peers", default=os.environ.get("SCALING_PEERS",
                                                     str(ROOT.parent / "shared" / "peers")),
                   help="the peers' folder (peer_torch_gpt.py), as step_throughput's --peers")
    p.add_argument("--quiet-wait", type=float, default=60.0,
                   help="wait up to this many seconds for other processes to leave the CPUs idle")
    a = p.parse_args()
    if a.quiet_wait > 0 and a.impl != "torch":  # "torch" waits in the process it starts
        from benchmarks.step_throughput import wait_quiet
        wait_quiet(a.quiet_wait)
    if a.impl == "torch":  # re-run this module in the benchmark's own torch venv
        from benchmarks import torch_env
        cmd = [torch_env.ensure(), "-m", "benchmarks.step_profile", "--impl", "torch-here",
               "--config", a.config, "--steps", str(a.steps), "--top", str(a.top),
               "--quiet-wait", str(a.quiet_wait), "--peers", a.peers]
        return subprocess.run(cmd, cwd=ROOT).returncode
    if a.impl == "jax":
        ms, by, conc = profile_jax(a.config, a.dtype, a.steps)
        print(f"suite step, config {a.config}, {a.dtype}: {ms:.1f} ms/step (median, unprofiled); "
              "thunks running: " + ", ".join(f"{k}{'+' if k == 2 else ''}: {v:.0%}"
                                            for k, v in conc.items()))
    else:
        ms, by = profile_torch(a.config, a.steps, a.peers)
        print(f"torch peer, config {a.config}: {ms:.1f} ms/step (median, unprofiled); "
              "ops by self CPU time under the profiler:")
    total = sum(by.values()) or 1
    for name, v in by.most_common(a.top):
        print(f"  {v:9.1f} ms  {v / total:6.1%}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
