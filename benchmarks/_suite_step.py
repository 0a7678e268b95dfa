"""Times the suite's own jitted train step on one peer config; prints one JSON line.

Run by step_throughput.py in a fresh process with no allocator variables set: `import scaling`
applies the malloc fix itself (scaling/_malloc.py). Mirrors the peers' measurement: random
tokens, a pool of pre-built device batches, median step time with block_until_ready.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import scaling  # noqa: F401  (applies the malloc settings before jax allocates)
import jax
import numpy as np

from scaling.model.config import ModelConfig
from scaling.objectives import Specials, get_objective
from scaling.objectives.config import MLMConfig, SpanConfig
from scaling.train.config import OptimConfig
from scaling.train.state import build_train_state


def main() -> None:
    p = argparse.ArgumentParser()
    for k in ("d-model", "n-layers", "n-heads", "seq-len", "batch", "vocab", "steps", "warmup"):
        p.add_argument(f"--{k}", type=int, required=True)
    p.add_argument("--objective", default="clm", choices=["clm", "mlm", "span"])
    p.add_argument("--dtype", default="float32")
    a = p.parse_args()

    kw = {"mlm": {"cfg": MLMConfig()}, "span": {"cfg": SpanConfig()}}.get(a.objective, {})
    obj = get_objective(a.objective, **kw)
    n_sent = 64
    reserved = 4 + n_sent
    # the peers' vocabulary of 256 ordinary ids, plus the suite's reserved ids for mlm/span
    vocab = a.vocab if a.objective == "clm" else a.vocab + reserved
    sp = Specials(vocab_size=vocab, pad_id=0, bos_id=1, eos_id=2, mask_id=3, first_sentinel=4,
                  n_sentinels=n_sent, n_reserved=reserved if a.objective != "clm" else 0)
    model = obj.model_config(ModelConfig(d_model=a.d_model, n_layers=a.n_layers,
                                         n_heads=a.n_heads, seq_len=a.seq_len, vocab_size=vocab,
                                         dtype=a.dtype))
    W = obj.window_len(model)
    ts = build_train_state(model, obj, OptimConfig(lr=3e-4, warmup_steps=1, schedule="constant"),
                           10**6, sp, seed=0)
    params, opt_state, step_fn = ts.state["params"], ts.state["opt_state"], ts.step_fn

    rng = np.random.default_rng(1)
    lo = sp.n_reserved
    pool = [jax.device_put(rng.integers(lo, vocab, (a.batch, W), dtype=np.int32))
            for _ in range(4)]
    t0 = time.perf_counter()
    params, opt_state, m = step_fn(params, opt_state, pool[0], 0)
    m["loss"].block_until_ready()
    compile_s = time.perf_counter() - t0
    for i in range(a.warmup):
        params, opt_state, m = step_fn(params, opt_state, pool[i % 4], i + 1)
    m["loss"].block_until_ready()
    times = []
    for i in range(a.steps):
        t0 = time.perf_counter()
        params, opt_state, m = step_fn(params, opt_state, pool[i % 4], i + a.warmup + 1)
        m["loss"].block_until_ready()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    streams = obj.stream_tokens(model)
    flops_per_example = model.flops_per_token() * model.seq_len
    print(json.dumps({
        "impl": f"suite-{a.objective}", "params": model.n_params_total(),
        "tokens_per_s": a.batch * streams["raw"] / med,
        "model_tokens_per_s": a.batch * (streams["encoder"] + streams["decoder"]) / med,
        "achieved_gflops": a.batch * flops_per_example / med / 1e9,
        "step_ms_median": med * 1e3, "compile_s": compile_s,
        "loss": float(m["loss"]),
        "env": {k: os.environ[k] for k in ("GLIBC_TUNABLES", "LD_PRELOAD") if k in os.environ},
    }))


if __name__ == "__main__":
    main()
