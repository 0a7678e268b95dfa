"""The local worker loop: the last stage of the sweep pipeline (scaling/sweep/pipeline.py).

    initialise jax.distributed (before anything asks JAX for its devices)
      -> the plan: resolve the data, expand to final points, plan, refuse (exit 2, nothing
         written) -- or the caller's plan, when it was made with the data's own vocabulary
      -> refuse damaged results -> load the dataset once -> write sweep.yaml and points.json
      -> for each point of the shard, in order:
           finished (done / diverged)?          skip, never retrain
           claimed by a live worker?            skip (another worker has it)
           claim it (atomic), heartbeat thread, train() -- which resumes from the point's own
           checkpoints by itself -- then release the claim
A point that fails is recorded (summary.json status failed) and retried by the next invocation;
the worker goes on with the next point and exits 1 at the end. Any number of workers may run on
one results folder at once, sharded or not: claims make each point train in exactly one of them.
With --quiet, one line on stderr shows the whole sweep's progress (scaling/sweep/ticker.py).
"""
from __future__ import annotations

import _thread
import sys
import time
import traceback
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from runstore import InputError, atomic_write_json
from runstore.claims import worker_info
from scaling.sweep import grid as grid_mod
from scaling.sweep import pipeline
from scaling.sweep.config import SweepConfig
from scaling.sweep.device import Device
from scaling.sweep.planner import SweepPlan
from scaling.sweep.point import Point
from scaling.sweep.store import FINISHED, Store


@dataclass
class Outcome:
    trained: list[str] = field(default_factory=list)
    skipped_finished: list[str] = field(default_factory=list)
    skipped_claimed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    diverged: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # branches whose trunk is not running

    @property
    def ok(self) -> bool:
        return not self.failed


def vocab_from_config(sweep: SweepConfig) -> int:
    """The vocabulary the sweep's points are expanded with, without building the token cache
    (pipeline.resolve: the data's own; a BPE not trained yet at its requested size)."""
    return pipeline.resolve(sweep).vocab_size


def prepare(sweep: SweepConfig, file: str | None = None, device: Device | None = None,
            measure: bool = False, vocab_size: int | None = None) -> SweepPlan:
    """Resolve, expand and plan the sweep (nothing written); raises InputError on a refused
    point. `vocab_size` is accepted for old callers and must be the data's own if given."""
    plan = pipeline.prepare(sweep, file, device=device, measure=measure)
    if vocab_size is not None and vocab_size != plan.resolved.vocab_size:
        raise InputError(f"vocabulary {vocab_size} given, the data's is "
                         f"{plan.resolved.vocab_size}", key="vocab_size")
    plan.check(file)
    return plan


def _log(quiet: bool, msg: str) -> None:
    if not quiet:
        print(f"[sweep] {msg}", file=sys.stderr, flush=True)


def _the_plan(sweep: SweepConfig, file: str | None, plan: SweepPlan | None,
              progress: bool) -> SweepPlan:
    """The caller's plan when its vocabulary is the data's own (pipeline.resolve), else one
    made here with it (a BPE not trained yet is trained first); refused points stop here."""
    if plan is None or plan.resolved is None or not plan.resolved.exact:
        plan = pipeline.prepare(sweep, file, device=plan.device if plan else None, exact=True,
                                progress=progress)
    plan.check(file)
    _same_points_everywhere(plan.points)
    return plan


def _same_points_everywhere(points: list[Point]) -> None:
    """Every process of a multi-process job trains the same runs: their plans must agree (a
    microbatch count chosen from memory that differs between hosts would not)."""
    crc = zlib.crc32("\n".join(p.run_id for p in points).encode()) & 0x7FFFFFFF
    if _agree(crc) != crc:
        raise InputError("the processes of this job planned different points (microbatches "
                         "chosen from memory that differs between them?)",
                         key="base.train.microbatches", fix="pin base.train.microbatches")


def run_sweep(sweep: SweepConfig, *, file: str | None = None, shard: tuple[int, int] = (0, 1),
              out: str | Path | None = None, quiet: bool = False, worker: str = "",
              plan: SweepPlan | None = None) -> Outcome:
    """Train this worker's share of the sweep (see the module docstring)."""
    from scaling.data.dataset import load_dataset
    from scaling.train import sharding

    _compilation_cache(sweep)
    sharding.maybe_initialize_distributed()
    line = quiet and sharding.is_writer()  # --quiet: the one progress line instead
    quiet = quiet or not sharding.is_writer()  # one process of a multi-process job speaks
    plan = _the_plan(sweep, file, plan, progress=not quiet)
    points = plan.points
    root = Path(out) if out else sweep.out_dir
    store = Store(root, stale_s=sweep.claims.stale_s, heartbeat_s=sweep.claims.heartbeat_s)
    pipeline.refuse_damaged(plan, store)
    ds = plan.resolved.dataset or load_dataset(sweep.run_base.data, progress=not quiet)
    if ds.tokenizer.vocab_size != plan.resolved.vocab_size:
        raise InputError(f"the token cache's tokenizer has {ds.tokenizer.vocab_size} ids, the "
                         f"plan {plan.resolved.vocab_size} ({plan.resolved.vocab_note}): the "
                         "cache changed while the sweep was planned", key="data.cache_dir",
                         fix="run the sweep again")
    if sharding.is_writer():
        store.write_sweep(sweep.resolved(), [p.to_dict() for p in points])
    mine = grid_mod.shard(points, *shard)
    info = worker_info(worker)
    _log(quiet, f"{sweep.name}: {len(mine)} of {len(points)} points in shard {shard[0]}/"
                f"{shard[1]}; results in {root}; worker {info['worker']}")
    ticker = None
    if line:
        from scaling.sweep.ticker import ProgressLine
        ticker = ProgressLine(sweep.name, store, points).start()
    outcome = Outcome()
    try:
        _work(mine, store, info, ds, quiet, outcome)
        if sweep.ptq:
            _ptq_pass(mine, store, info, list(sweep.ptq), quiet)
    finally:
        if ticker is not None:
            ticker.stop()
    _log(quiet, f"{sweep.name}: trained {len(outcome.trained)}, diverged "
                f"{len(outcome.diverged)}, failed {len(outcome.failed)}, already finished "
                f"{len(outcome.skipped_finished)}, held by other workers "
                f"{len(outcome.skipped_claimed)}"
                + (f", waiting for a trunk {len(outcome.waiting)}" if outcome.waiting else ""))
    return outcome


def _work(todo: list[Point], store: Store, info: dict, ds, quiet: bool,
          outcome: Outcome) -> None:
    """Every point of the shard; branches wait for their trunk's checkpoint, everything else
    goes in one pass."""
    while todo:
        waiting = [pt for pt in todo if not _run_point(pt, store, info, ds, quiet, outcome)]
        if not waiting or not _worth_another_pass(waiting, store):
            for pt in waiting:
                _log(quiet, f"point {pt.index} {pt.run_id}: its trunk {pt.trunk_id} is not "
                            "running here or elsewhere; rerun the sweep once it is")
                outcome.waiting.append(pt.run_id)
            return
        time.sleep(min(store.heartbeat_s, 5.0))
        todo = waiting


def _ptq_pass(points: list[Point], store: Store, info: dict, bits: list[int],
              quiet: bool) -> None:
    """`ptq:` of the sweep: each done full-precision point of the shard evaluated at every bit
    width not yet in its summary (scaling/evaluate/ptq.py: idempotent, so a rerun or a second
    worker adds only what is missing). The point's claim keeps two workers off one summary."""
    import jax

    if jax.process_count() > 1:  # orbax restores on every process; one pass per run is simpler
        _log(quiet, "ptq: skipped in a multi-process job (run scaling eval RUN --ptq "
                    f"{','.join(map(str, bits))} afterwards)")
        return
    from scaling.evaluate.ptq import missing_bits, ptq_eval
    for pt in points:
        if pt.role == "trunk" or pt.run.model.quant is not None:
            continue
        run_dir = store.run_dir(pt.run_id)
        if store.status(pt.run_id).status != "done" or not missing_bits(run_dir, bits):
            continue
        claim = store.try_claim(pt.run_id, info, log=False)
        if claim is None:
            continue
        try:
            for e in ptq_eval(run_dir, bits):
                _log(quiet, f"point {pt.index} {pt.run_id}: PTQ {e['bits']} bits ({e['method']}) "
                            f"eval loss {e['eval_loss']:.4f}")
        except InputError as e:
            print(f"error: point {pt.index}: {e}", file=sys.stderr)
        finally:
            claim.release()


def _branch_blocked(pt: Point, store: Store) -> bool:
    """A branch that cannot start yet: its trunk's checkpoint at the branch step is missing."""
    if pt.role != "branch" or (store.run_dir(pt.run_id) / "checkpoints").is_dir():
        return False
    from scaling.train import branch  # orbax: not for a dry run
    return pt.cfg.train.branch_step not in branch.ready_steps(store.run_dir(pt.trunk_id))


def _worth_another_pass(waiting: list[Point], store: Store) -> bool:
    """Some waiting branch's trunk is still running, or has reached the branch step since the
    branch was found blocked in this very pass; every process agrees on process 0's answer."""
    from scaling.train.sharding import is_writer

    again = is_writer() and any(store.status(pt.trunk_id).status == "running"
                                or not _branch_blocked(pt, store) for pt in waiting)
    return bool(_agree(int(again)))


ACTIONS = ("train", "finished", "claimed", "wait", "damaged")


def _decide(pt: Point, store: Store, info: dict, quiet: bool):
    """(action, claim) for one point, from the results folder: one of ACTIONS, with the claim
    taken when the action is "train"."""
    st = store.status(pt.run_id)
    if st.status in FINISHED:
        return "finished", None
    if st.status == "damaged":  # damaged since the sweep started: never trained over
        print(f"error: point {pt.index}: {st.detail}", file=sys.stderr)
        return "damaged", None
    if _branch_blocked(pt, store):
        return _orphan(pt, store), None
    claim = store.try_claim(pt.run_id, info)
    if claim is None:
        _log(quiet, f"point {pt.index} {pt.run_id}: claimed by another worker ({st.detail}); skip")
        return "claimed", None
    claim.on_lost = _thread.interrupt_main
    claim.start()
    if store.status(pt.run_id).status in FINISHED:  # finished between the check and the claim
        claim.release()
        return "finished", None
    return "train", claim


def _orphan(pt: Point, store: Store) -> str:
    """'wait' for a blocked branch whose trunk may still reach the branch step; 'damaged', with
    the error line, when the trunk has finished without that checkpoint (its branch_points/
    deleted or cut short): waiting would never end."""
    trunk = store.status(pt.trunk_id)
    if trunk.status not in FINISHED:
        return "wait"
    where = store.run_dir(pt.trunk_id)
    print(f"error: point {pt.index} {pt.run_id}: its trunk {pt.trunk_id} is {trunk.status} "
          f"without a checkpoint at the branch step {pt.cfg.train.branch_step} in "
          f"{where}/branch_points, so this branch can never start (fix: move {where} aside "
          "and rerun the sweep: it trains the trunk again, then its branches)", file=sys.stderr)
    return "damaged"


def _agree(value: int) -> int:
    """Process 0's value, in every process of a multi-process job: one run spans all of them, so
    they must take the same points in the same order. Only process 0 reads and writes claims."""
    import jax

    if jax.process_count() == 1:
        return value
    import numpy as np
    from jax.experimental import multihost_utils

    return int(multihost_utils.broadcast_one_to_all(np.int32(value)))


def _run_point(pt: Point, store: Store, info: dict, ds, quiet: bool, outcome: Outcome) -> bool:
    """Train one point unless it is finished or held by another worker; False if it is a branch
    whose trunk checkpoint does not exist yet (try again later)."""
    from scaling.train import sharding

    action, claim = _decide(pt, store, info, quiet) if sharding.is_writer() else ("wait", None)
    action = ACTIONS[_agree(ACTIONS.index(action))]
    if action == "finished":
        outcome.skipped_finished.append(pt.run_id)
    elif action == "claimed":
        outcome.skipped_claimed.append(pt.run_id)
    elif action == "damaged":
        outcome.failed.append(pt.run_id)
    if action != "train":
        return action != "wait"
    try:
        _train_point(pt, store, ds, quiet, outcome, claim)
    finally:
        if claim is not None:
            claim.release()
    return True


def _train_point(pt: Point, store: Store, ds, quiet: bool, outcome: Outcome, claim) -> None:
    from scaling.train.loop import train
    from scaling.train.sharding import is_writer

    rid = pt.run_id
    if is_writer():
        atomic_write_json(store.run_dir(rid) / "point.json", pt.to_dict())
    _log(quiet, f"point {pt.index} {rid}: training {pt.role} (N {pt.run.n_total:,}, "
                f"D {pt.run.tokens:,}, steps {pt.run.start_step}..{pt.run.end_step})")
    t0 = time.time()
    try:
        summary = train(pt.cfg, store.run_dir(rid), progress=not quiet, dataset=ds)
    except KeyboardInterrupt:
        if claim is None or not claim.lost.is_set():
            raise
        _log(quiet, f"point {pt.index} {rid}: claim lost; moving on")
        outcome.skipped_claimed.append(rid)
        return
    except InputError as e:  # found late (a corpus too short for this shape, say)
        print(f"error: {e}", file=sys.stderr)
        outcome.failed.append(rid)
        return
    except Exception:
        traceback.print_exc()
        _log(quiet, f"point {pt.index} {rid}: FAILED; it is retried on the next invocation")
        outcome.failed.append(rid)
        return
    (outcome.diverged if summary.status == "diverged" else outcome.trained).append(rid)
    _log(quiet, f"point {pt.index} {rid}: {summary.status} in {time.time() - t0:.0f}s, "
                f"eval loss {summary.final_eval_loss}")


def _compilation_cache(sweep: SweepConfig) -> None:
    """JAX's persistent compilation cache under the token cache folder: a restarted or requeued
    worker does not compile its point's steps again (same HLO -> same executable, same losses).
    Off with SCALING_NO_COMPILE_CACHE=1; a cache dir already configured is left alone."""
    import os

    import jax

    if os.environ.get("SCALING_NO_COMPILE_CACHE") or jax.config.jax_compilation_cache_dir:
        return
    path = sweep.run_base.data.resolved_cache_dir() / "jax_compilation"
    try:
        path.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    except Exception:  # a cache is an optimisation only
        pass
