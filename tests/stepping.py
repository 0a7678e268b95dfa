"""Test helper: the train state a run builds (build_train_state) for a tiny config, stepped on
random windows without the data pipeline, so step-level comparisons take seconds."""
from __future__ import annotations

import numpy as np
from conftest import tiny_run

from scaling.configio import from_dict
from scaling.data.tokenizer import ByteTokenizer
from scaling.objectives import Specials
from scaling.train import sharding
from scaling.train.config import RunConfig
from scaling.train.record import resolve_run
from scaling.train.state import build_train_state


def tiny_record(objective: str = "clm", **over):
    cfg = from_dict(RunConfig, tiny_run(objective=objective, **over))
    tok = ByteTokenizer(cfg.data.n_sentinels)
    return resolve_run(cfg, tok.vocab_size), Specials.from_tokenizer(tok)


def losses(objective: str = "clm", steps: int = 3, mesh=None, **over) -> list[float]:
    """Train losses of `steps` steps of the tiny config with `over` applied."""
    rec, sp = tiny_record(objective, **over)
    t = rec.cfg.train
    ts = build_train_state(rec.model, rec.objective(), rec.cfg.optim, rec.steps, sp,
                           rec.cfg.seed, microbatches=t.microbatches, fsdp=t.fsdp)
    mesh = mesh or sharding.data_mesh()
    ts.put(mesh)
    rng = np.random.default_rng(0)
    params, opt, out = ts.state["params"], ts.state["opt_state"], []
    for step in range(steps):
        w = rng.integers(sp.n_reserved, sp.vocab_size, (t.batch_size, rec.window), np.int32)
        params, opt, m = ts.step_fn(params, opt, sharding.put_batch(w, mesh), step)
        out.append(float(m["loss"]))
    return out


def rel_diff(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) / abs(y) for x, y in zip(a, b, strict=True))
