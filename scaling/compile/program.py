"""One point's real train step, lowered with abstract state on a target's mesh and compiled by
the target's compiler: what `--compile-for` measures.

The step is the one a run trains (scaling/train/step.py `make_train_step`: the objective's batch,
microbatches, remat, attention, FSDP or replicated state, dtype), built from the model's
*abstract* state (`nnx.eval_shape`, `jax.eval_shape` of the optimizer's init): a 10B-parameter
point costs no memory here. The attention implementation is chosen for the target's platform
(scaling/model/attention.py), never for the tracing host's backend.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from scaling.train.record import RunRecord


def run_specials(run: RunRecord):
    """The reserved ids a run of this record uses (a byte tokenizer's, widened to the
    vocabulary): the same construction as the planner's `point_train_state`."""
    from scaling.data.tokenizer import ByteTokenizer
    from scaling.objectives.base import Specials

    sp = Specials.from_tokenizer(ByteTokenizer(run.cfg.data.n_sentinels))
    return Specials(run.model.vocab_size, sp.pad_id, sp.bos_id, sp.eos_id, sp.mask_id,
                    sp.first_sentinel, sp.n_sentinels, sp.n_reserved)


@dataclass
class AbstractStep:
    """The jitted step and its abstract, sharded arguments."""

    step_fn: object
    args: tuple
    attention: dict = field(default_factory=dict)  # where -> (implementation, why)


def abstract_step(run: RunRecord, mesh, platform: str) -> AbstractStep:
    """The run's train step on `mesh` with ShapeDtypeStruct arguments (nothing allocated)."""
    import jax
    import numpy as np
    from flax import nnx

    from scaling.model.attention import attention_plan
    from scaling.model.transformer import build_model
    from scaling.train import sharding
    from scaling.train.step import make_optimizer, make_train_step, split_model

    t = run.cfg.train
    model = nnx.eval_shape(lambda: build_model(run.model, run.cfg.seed, platform=platform))
    graphdef, params = split_model(model)
    tx = make_optimizer(run.cfg.optim, max(run.steps, 2))
    state = {"params": params, "opt_state": jax.eval_shape(tx.init, params)}
    shardings = sharding.state_shardings(state, mesh, fsdp=t.fsdp)
    args = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                        state, shardings)
    keep = None
    if t.fsdp:
        gathered = sharding.state_shardings(params, mesh, fsdp=False)
        keep = (shardings["params"], shardings["opt_state"], gathered)
    step = make_train_step(graphdef, run.objective(), tx, run_specials(run), run.cfg.seed,
                           t.microbatches, shardings=keep)
    windows = jax.ShapeDtypeStruct((run.batch_size, run.window), np.int32,
                                   sharding=sharding.batch_sharding(mesh))
    return AbstractStep(step, (args["params"], args["opt_state"], windows, 0),
                        attention_plan(run.model, platform))


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    for line in text.splitlines():  # XLA's messages open with a status, then pages of HLO
        line = line.strip()
        if line and not line.startswith(("Traceback", "---", "===")):
            return line[:300]
    return text[:300]


def compile_step(run: RunRecord, mesh, platform: str) -> dict:
    """Lower and compile the run's step on `mesh`: XLA's memory analysis (per device, bytes),
    its cost analysis (FLOPs, bytes accessed, where the compiler gives them), the seconds it
    took, or one line saying why it failed."""
    import jax

    out: dict = {"ok": False}
    t0 = time.perf_counter()
    try:
        a = abstract_step(run, mesh, platform)  # eager parts (the seed's key) on this host
        out["attention"] = {k: list(v) for k, v in a.attention.items()}
        with jax.set_mesh(mesh):  # the Pallas kernels' shard_map reads the mesh from here
            lowered = a.step_fn.lower(*a.args)
            out["lower_s"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            compiled = lowered.compile()
            out["compile_s"] = time.perf_counter() - t1
    except Exception as e:  # noqa: BLE001 - a failed compile is a row of the report
        out["error"] = f"{type(e).__name__}: {_first_line(e)}"
        out["compile_s"] = time.perf_counter() - t0
        return out
    out.update(memory_stats(compiled))
    out.update(cost_stats(compiled))
    out["remat"] = recomputation(compiled)
    out["ok"] = True
    return out


def memory_stats(compiled) -> dict:
    """arguments, outputs, aliased, temporaries and peak = arguments + outputs - aliased +
    temporaries (per device), as scaling/train/state.py `compiled_memory` counts them."""
    m = compiled.memory_analysis()
    out = {"arguments": int(m.argument_size_in_bytes), "outputs": int(m.output_size_in_bytes),
           "aliased": int(m.alias_size_in_bytes), "temporaries": int(m.temp_size_in_bytes),
           "code": int(getattr(m, "generated_code_size_in_bytes", 0))}
    out["peak"] = out["arguments"] + out["outputs"] - out["aliased"] + out["temporaries"]
    return out


def recomputation(compiled) -> dict:
    """What the compiler's rematerialization recomputes (scaling/compile/hlo.py), or {} where
    the compiled module gives no text."""
    from scaling.compile.hlo import rematerialized

    try:
        text = compiled.as_text()
    except Exception:  # noqa: BLE001 - a backend without HLO text: nothing read, nothing priced
        return {}
    return rematerialized(text) if text else {}


def cost_stats(compiled) -> dict:
    """The compiler's FLOPs and bytes accessed per device (None where it gives none: XLA's GPU
    compiler returns no cost analysis when compiling deviceless)."""
    try:
        c = compiled.cost_analysis()
    except Exception:  # noqa: BLE001
        c = None
    if isinstance(c, (list, tuple)):
        c = c[0] if c else None
    if not c:
        return {"flops": None, "bytes_accessed": None, "optimal_seconds": None}
    get = lambda k: float(c[k]) if c.get(k) is not None else None  # noqa: E731
    return {"flops": get("flops"), "bytes_accessed": get("bytes accessed"),
            "optimal_seconds": get("optimal_seconds")}
