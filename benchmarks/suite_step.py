"""The suite's train step as every benchmark builds it, and one process timing it.

`build` is the one place the benchmarks make the step: it calls the suite's own builder,
`scaling.train.state.build_train_state`, the one the trainer and the planner
(`scaling.sweep.planner.point_train_state`, behind `--measure` and `--check-memory`) call, so
what a benchmark times is what a run trains. step_throughput, step_profile, step_variants and
gpu_check all go through it.

Run as a module it times one shape in this process and prints one JSON line; step_throughput
runs it so, in a fresh process with no allocator variable set (`import scaling` applies the
malloc fix itself, scaling/_malloc.py). It measures as the peers do: random tokens, a pool of
pre-built device batches, the median step time with block_until_ready.

    python -m benchmarks.suite_step --d-model 128 --n-layers 4 --n-heads 4 --seq-len 256 \
        --batch 16 --vocab 256 --warmup 5 --steps 40 [--objective clm|mlm|span] [--dtype D]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import dataclass

import jax
import numpy as np

import scaling  # noqa: F401  (applies the malloc settings before jax allocates)
from scaling.model.config import ModelConfig
from scaling.objectives import Objective, Specials, get_objective
from scaling.objectives.config import MLMConfig, SpanConfig
from scaling.train.config import OptimConfig
from scaling.train.state import TrainState, build_train_state

#: the sentinels reserved for span corruption (and kept for mlm), as the byte tokenizer's
N_SENTINELS = 64
#: the peers' AdamW learning rate, held constant: the schedule is no part of what is timed
OPTIM = OptimConfig(lr=3e-4, warmup_steps=1, schedule="constant")
TOTAL_STEPS = 10**6


@dataclass
class SuiteStep:
    """The model, objective, reserved ids and train state of one benchmark shape."""

    model: ModelConfig
    objective: Objective
    specials: Specials
    train: TrainState

    @property
    def window(self) -> int:
        """Tokens per example the objective reads (clm: seq_len + 1)."""
        return self.objective.window_len(self.model)

    def windows(self, batch: int, n: int = 4, seed: int = 1) -> list:
        """`n` device batches of random ordinary ids (no reserved id), shape (batch, window)."""
        rng = np.random.default_rng(seed)
        lo, hi = self.specials.n_reserved, self.model.vocab_size
        return [jax.device_put(rng.integers(lo, hi, (batch, self.window), dtype=np.int32))
                for _ in range(n)]


def specials(objective: str, vocab: int) -> Specials:
    """The reserved ids: none for clm (the peers' vocabulary as is); for mlm and span the
    byte tokenizer's layout (pad, bos, eos, mask, sentinels) ahead of `vocab` ordinary ids."""
    if objective == "clm":
        return Specials(vocab, 0, 1, 2, 3, 4, N_SENTINELS, 0)
    reserved = 4 + N_SENTINELS
    return Specials(vocab + reserved, 0, 1, 2, 3, 4, N_SENTINELS, reserved)


def build(objective: str = "clm", *, d_model: int, n_layers: int, n_heads: int, seq_len: int,
          vocab: int = 256, dtype: str = "float32", microbatches: int = 1,
          **model_options) -> SuiteStep:
    """The suite's step for one shape: `vocab` ordinary ids, `model_options` any other
    ModelConfig field (pos, norm, mlp, remat, attention...), initialised from seed 0."""
    kw = {"mlm": {"cfg": MLMConfig()}, "span": {"cfg": SpanConfig()}}.get(objective, {})
    obj = get_objective(objective, **kw)
    sp = specials(objective, vocab)
    model = obj.model_config(ModelConfig(d_model=d_model, n_layers=n_layers, n_heads=n_heads,
                                         seq_len=seq_len, vocab_size=sp.vocab_size, dtype=dtype,
                                         **model_options))
    ts = build_train_state(model, obj, OPTIM, TOTAL_STEPS, sp, seed=0,
                           microbatches=microbatches)
    return SuiteStep(model, obj, sp, ts)


def time_steps(ss: SuiteStep, batch: int, warmup: int, steps: int) -> dict:
    """Compile, `warmup` untimed steps, then the median of `steps` timed ones."""
    params, opt_state, step_fn = ss.train.state["params"], ss.train.state["opt_state"], \
        ss.train.step_fn
    pool = ss.windows(batch)
    t0 = time.perf_counter()
    params, opt_state, m = step_fn(params, opt_state, pool[0], 0)
    m["loss"].block_until_ready()
    compile_s = time.perf_counter() - t0
    for i in range(warmup):
        params, opt_state, m = step_fn(params, opt_state, pool[i % 4], i + 1)
    m["loss"].block_until_ready()
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        params, opt_state, m = step_fn(params, opt_state, pool[i % 4], i + warmup + 1)
        m["loss"].block_until_ready()
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "compile_s": compile_s,
            "loss": float(m["loss"])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for k in ("d-model", "n-layers", "n-heads", "seq-len", "batch", "vocab", "steps", "warmup"):
        p.add_argument(f"--{k}", type=int, required=True)
    p.add_argument("--objective", default="clm", choices=["clm", "mlm", "span"])
    p.add_argument("--dtype", default="float32")
    a = p.parse_args()
    ss = build(a.objective, d_model=a.d_model, n_layers=a.n_layers, n_heads=a.n_heads,
               seq_len=a.seq_len, vocab=a.vocab, dtype=a.dtype)
    t = time_steps(ss, a.batch, a.warmup, a.steps)
    med, model = t["median_s"], ss.model
    streams = ss.objective.stream_tokens(model)
    flops_per_example = model.flops_per_token() * model.seq_len
    print(json.dumps({
        "impl": f"suite-{a.objective}", "params": model.n_params_total(),
        "tokens_per_s": a.batch * streams["raw"] / med,
        "model_tokens_per_s": a.batch * (streams["encoder"] + streams["decoder"]) / med,
        "achieved_gflops": a.batch * flops_per_example / med / 1e9,
        "step_ms_median": med * 1e3, "compile_s": t["compile_s"], "loss": t["loss"],
        "env": {k: os.environ[k] for k in ("GLIBC_TUNABLES", "LD_PRELOAD") if k in os.environ},
    }))


if __name__ == "__main__":
    main()
