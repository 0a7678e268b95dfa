"""Post-training quantisation of a finished run: its final checkpoint's linear kernels rounded
to a few bits (round-to-nearest, per output channel, absmax scale: scaling/model/quant.py) and
the validation loss measured on the run's own validation windows with the loop's eval step.

The losses go into the run's summary.json (`ptq`, schema 3), one entry per (bits, method):
idempotent (an entry already there is not recomputed) and resumable (each bit width is written
as soon as it is measured). The token table, positions, norms and a tied head are left in full
precision, as `model.quant` leaves them by default.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import numpy as np

from runstore import SCHEMA_VERSION, InputError, read_summary, write_summary
from scaling.configio import from_dict
from scaling.data.dataset import load_dataset
from scaling.model.quant import ptq_round
from scaling.objectives import Specials
from scaling.train.checkpoint import Checkpointer
from scaling.train.config import RunConfig
from scaling.train.record import resolve_run
from scaling.train.state import build_train_state
from scaling.train.step import evaluate, make_eval_step

METHOD, GRANULARITY = "rtn", "per_channel"


def _is_linear_kernel(path) -> bool:
    """A transformer block's linear kernel (not the token table, positions, norms or head)."""
    keys = {str(getattr(k, "key", getattr(k, "name", k))) for k in path}
    return "kernel" in keys and bool(keys & {"blocks", "encoder", "decoder"})


def round_params(params, bits: int):
    """The parameter tree with every block's linear kernel rounded per output channel."""
    return jax.tree_util.tree_map_with_path(
        lambda p, x: ptq_round(x, bits) if _is_linear_kernel(p) and x.ndim == 2 else x, params)


def missing_bits(run_dir: str | Path, bits: list[int]) -> list[int]:
    """The bit widths of `bits` whose PTQ loss the run's summary lacks (all if unreadable)."""
    summary = read_summary(Path(run_dir))
    have = {(e.get("bits"), e.get("method")) for e in (summary.ptq if summary else ())}
    return [b for b in bits if (b, METHOD) not in have]


def ptq_eval(run_dir: str | Path, bits: list[int], *, progress: bool = False) -> list[dict]:
    """Add the PTQ losses at each bit width to the finished run's summary; return its entries."""
    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    if summary is None or summary.status != "done":
        raise InputError("not a finished run (no summary.json with status done)",
                         file=str(run_dir), fix="pass results/<sweep>/runs/<run-id>")
    todo = missing_bits(run_dir, bits)
    if not todo:
        return list(summary.ptq)
    cfg = from_dict(RunConfig, json.loads((run_dir / "config.json").read_text()),
                    file=str(run_dir / "config.json"))
    ds = load_dataset(cfg.data, progress=progress)
    record = resolve_run(cfg, ds.tokenizer.vocab_size)
    specials = Specials.from_tokenizer(ds.tokenizer)
    ts = build_train_state(record.model, record.objective(), cfg.optim, record.steps, specials,
                           cfg.seed)
    ckpt = Checkpointer(run_dir / "checkpoints", read_only=True)
    step = ckpt.latest_step()
    if step is None:
        raise InputError("no checkpoint", file=str(run_dir / "checkpoints"))
    state, _ = ckpt.restore(step, ts.state)
    ckpt.close()
    eval_fn = make_eval_step(ts.graphdef, record.objective(), specials)
    byte_len = np.asarray(ds.tokenizer.token_byte_lengths(), np.float32)
    val = ds.val_batches(record.window, cfg.train.eval_batch_size)
    put = lambda w: jax.numpy.asarray(np.asarray(w, np.int32))  # noqa: E731
    entries = list(summary.ptq)
    for b in todo:
        ev = evaluate(eval_fn, round_params(state["params"], b), val, byte_len, put)
        entries.append({"bits": b, "method": METHOD, "granularity": GRANULARITY, "step": step,
                        **ev})
        summary = dataclasses.replace(summary, ptq=sorted(entries, key=lambda e: -e["bits"]),
                                      schema=SCHEMA_VERSION)
        write_summary(run_dir, summary)  # each bit width as soon as it is measured
    return list(summary.ptq)
