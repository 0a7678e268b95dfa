"""One training run, from a resolved config to a finished results folder (docs/design.md layout).

The loop dispatches step t before it reads step t-1's metrics, so the device never waits for
Python, and calls the hooks (scaling/train/hooks.py) due at each step: divergence check, metrics
row, throughput/MFU, eval, the trackers (metrics.jsonl, TensorBoard, W&B), checkpoint, progress.
Batches are pure functions of (seed, step), so a restart from checkpoint k replays exactly the
steps k+1.. of an uninterrupted run.
"""
from __future__ import annotations

import platform
import sys
import time
import warnings
from pathlib import Path

import jax
import numpy as np

import scaling
from runstore import InputError, RunSummary, write_summary
from scaling.data.dataset import Dataset, load_dataset
from scaling.objectives import Specials
from scaling.train import branch, rundir, sharding
from scaling.train import loop_hooks as lh
from scaling.train.checkpoint import Checkpointer
from scaling.train.config import RunConfig
from scaling.train.hooks import Diverged, Hooks, StepInfo, TrackerHook
from scaling.train.record import RunRecord, resolve_run
from scaling.train.schedule import make_schedule
from scaling.train.state import TrainState, build_train_state
from scaling.train.step import evaluate, make_eval_step
from scaling.train.trackers import check_trackers, make_trackers


def _peak_flops(dtype: str) -> tuple[float | None, str]:
    try:
        from scaling.hardware import peak_flops
        p = peak_flops(dtype)
        return p.flops, p.source
    except Exception as e:  # MFU is reported as null rather than invented
        return None, f"unavailable ({e})"


def _versions() -> dict:
    from importlib.metadata import version

    import flax
    import optax
    return {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": version("jaxlib"),
            "flax": flax.__version__, "optax": optax.__version__, "scaling": scaling.__version__,
            "device_kind": jax.devices()[0].device_kind, "n_devices": jax.device_count()}


def default_run_dir(record: RunRecord, root: str | Path = "results") -> Path:
    return Path(root) / record.cfg.name / "runs" / record.run_id


def train(cfg: RunConfig, run_dir: str | Path | None = None, *, progress: bool = True,
          dataset: Dataset | None = None, stop_after_step: int | None = None) -> RunSummary:
    """Train (or resume, or skip if finished) the run; return its summary (status 'stopped',
    never written, when `stop_after_step` ended it early)."""
    sharding.maybe_initialize_distributed()
    ds = dataset or load_dataset(cfg.data, progress=progress)
    record = resolve_run(cfg, ds.tokenizer.vocab_size)
    run_dir = Path(run_dir) if run_dir else default_run_dir(record)
    _check_inputs(record, ds, run_dir)  # everything checkable, before anything is written
    done = rundir.check(run_dir, cfg)  # read only: refuses a folder that is not this run's
    if not _finished(done):
        # one process of a multi-process job writes, claims and locks
        with rundir.hold(run_dir, cfg, writer=sharding.is_writer()) as done:
            if not _finished(done):  # (another process may have finished it meanwhile)
                return _Trainer(record, ds, run_dir, progress).run(stop_after_step)
    if progress:
        print(f"{run_dir}: already {done.status}; nothing to do", file=sys.stderr)
    return done


def _finished(summary: RunSummary | None) -> bool:
    return summary is not None and summary.status in ("done", "diverged")


def _check_inputs(record: RunRecord, ds: Dataset, run_dir: Path) -> None:
    """What used to fail after the run folder was written, so that a corrected rerun was then
    refused as another run's: the corpus against the window, init_from, a branch's trunk."""
    cfg = record.cfg
    ds.epochs(record.tokens, record.window)  # InputError: training stream shorter than a window
    ds.validation_windows(record.window)
    mesh = sharding.data_mesh()
    sharding.check_batch(cfg.train.batch_size, mesh, cfg.train.microbatches)
    _check_memory(record, mesh.size if cfg.train.fsdp else 1)
    check_trackers(cfg.train.trackers)
    if cfg.train.init_from and not (Path(cfg.train.init_from).is_dir() and
                                    Checkpointer.has_checkpoint(cfg.train.init_from)):
        raise InputError(f"no checkpoint in {cfg.train.init_from}", key="train.init_from",
                          fix="point it at a run's checkpoints/ folder")
    if not (run_dir / "checkpoints").is_dir():  # a branch's own checkpoints resume it
        branch.check_branch_ready(run_dir, cfg)


def _check_memory(record: RunRecord, shards: int) -> None:
    """A model whose states alone exceed a device (say, a vocabulary of 2**31) is refused here,
    not by XLA after config.json was written."""
    from scaling.budget.memory import check_states_fit
    from scaling.hardware import local_memory

    mem, source = local_memory()
    check_states_fit(record.model, record.model.dtype, mem, source, shards)


class _Trainer:
    def __init__(self, record: RunRecord, ds: Dataset, run_dir: Path, progress: bool):
        self.record, self.ds, self.run_dir, self.progress = record, ds, run_dir, progress
        self.cfg = record.cfg
        self.mesh = sharding.data_mesh()
        sharding.check_batch(self.cfg.train.batch_size, self.mesh, self.cfg.train.microbatches)
        self.specials = Specials.from_tokenizer(ds.tokenizer)
        self.epochs = ds.epochs(record.tokens, record.window)
        self.peak, self.peak_source = _peak_flops(record.model.dtype)

    def _restore(self, ts: TrainState, ckpt: Checkpointer) -> int:
        """Resume from this run's latest checkpoint, or start as a branch of a trunk, or from
        `train.init_from`'s weights."""
        start = 0
        newest = ckpt.restore_newest(ts.state)  # past an unreadable latest one, saying so
        if newest is not None:
            ts.state, start = newest
        elif self.cfg.train.branch_from:
            ts.state, start = branch.start_branch(ts.state, self.run_dir, self.cfg)
        elif self.cfg.train.init_from:
            src = Checkpointer(self.cfg.train.init_from, read_only=True)
            step0 = src.latest_step()
            if step0 is None:
                raise InputError("no checkpoint there", key="train.init_from",
                                  fix="point it at a run's checkpoints/ folder")
            ts.state, _ = src.restore(step0, ts.state)
            src.close()
        return start

    def _evaluator(self, ts: TrainState):
        eval_fn = make_eval_step(ts.graphdef, self.record.objective(), self.specials)
        byte_len_V = sharding.put_replicated(
            np.asarray(self.ds.tokenizer.token_byte_lengths(), np.float32), self.mesh)
        val = self.ds.val_batches(self.record.window, self.cfg.train.eval_batch_size)
        return lambda params: evaluate(eval_fn, params, val, byte_len_V, self._put)

    def _put(self, windows) -> jax.Array:
        return sharding.put_batch(np.asarray(windows, np.int32), self.mesh)

    def _hooks(self, ts: TrainState, ckpt: Checkpointer, start: int) -> tuple[Hooks, lh.Evaluate]:
        rec, t = self.record, self.cfg.train
        hooks = Hooks()
        every = lambda n: (lambda k, final: final or (n > 0 and k % n == 0))  # noqa: E731
        eval_due, ckpt_due = every(t.eval_every), every(t.checkpoint_every)
        row_due = lambda k, final: k % t.log_every == 0 or eval_due(k, final)  # noqa: E731
        hooks.add(lh.check_divergence, every=1, name="divergence")
        hooks.add(lh.MetricsRow(rec, make_schedule(self.cfg.optim, rec.steps)), every=row_due)
        hooks.add(lh.Throughput(rec, start, self.peak, self.peak_source), every=row_due)
        evaluator = lh.Evaluate(self._evaluator(ts))
        hooks.add(evaluator, every=eval_due, needs_state=True)
        writer = sharding.is_writer()  # metrics.jsonl and trackers: one process
        trackers = make_trackers(t.trackers, self.run_dir, run_id=rec.run_id,
                                 group=self.cfg.name, config=self.cfg.to_dict(),
                                 start_step=start) if writer else []
        for tracker in trackers:
            hooks.add(TrackerHook(tracker), every=row_due, name=type(tracker).__name__)
        hooks.add(lh.Checkpoint(ckpt, rec.run_id), every=ckpt_due, needs_state=True)
        if t.branch_points:
            points = branch.BranchPoint(self.run_dir, t.branch_points, rec.run_id)
            hooks.add(points, every=points.due, needs_state=True)
        if self.progress and sharding.is_writer():
            hooks.add(lh.Progress(rec.end_step, start, rec.run_id), every=1)
        return hooks, evaluator

    def _finish_step(self, hooks: Hooks, k: int, metrics, ts: TrainState | None, final: bool):
        info = StepInfo(step=k, final=final, loss=float(metrics["loss"]),
                        grad_norm=float(metrics["grad_norm"]), busy_s=hooks.busy_s,
                        state=None if ts is None else ts.state)
        hooks.run(info)

    def _steps(self, ts: TrainState, hooks: Hooks, start: int, stop_after: int | None) -> None:
        rec, seed, B = self.record, self.cfg.seed, self.cfg.train.batch_size
        params, opt_state = ts.state["params"], ts.state["opt_state"]
        pending = None  # (k, metrics still on device) of the step dispatched last
        end = rec.end_step
        for step in range(start, end):
            k = step + 1
            windows = self._put(self.ds.batch(seed, step, B, rec.window))
            params, opt_state, metrics = ts.step_fn(params, opt_state, windows, step)
            ts.state = {"params": params, "opt_state": opt_state}
            if pending is not None:  # step k is queued: now read step k-1
                self._finish_step(hooks, *pending, None, False)
            pending = (k, metrics)
            final = k == end
            if hooks.needs_state(k, final) or k == stop_after:
                self._finish_step(hooks, k, metrics, ts, final)
                pending = None
            if k == stop_after:
                return
        if pending is not None:
            self._finish_step(hooks, *pending, None, True)

    def run(self, stop_after_step: int | None) -> RunSummary:
        t_start = time.time()
        if self.epochs > 1:
            warnings.warn(f"{self.record.run_id}: {self.epochs:.2f} epochs over the training "
                          "split; data repeats, which bends scaling laws", stacklevel=2)
        ts = build_train_state(self.record.model, self.record.objective(), self.cfg.optim,
                               self.record.steps, self.specials, self.cfg.seed,
                               microbatches=self.cfg.train.microbatches,
                               fsdp=self.cfg.train.fsdp)
        ckpt = Checkpointer(self.run_dir / "checkpoints", keep=self.cfg.train.keep_checkpoints)
        start = self._restore(ts, ckpt)
        ts.put(self.mesh)
        hooks, evaluator = self._hooks(ts, ckpt, start)
        status, steps, error = "done", self.record.end_step, None
        try:
            self._steps(ts, hooks, start, stop_after_step)
            if stop_after_step is not None and stop_after_step < self.record.end_step:
                status = "stopped"
        except Diverged as d:
            status, steps = "diverged", d.step
        except Exception as e:
            status, error, steps = "failed", f"{type(e).__name__}: {e}", 0
            raise
        except BaseException:  # KeyboardInterrupt / SystemExit: unfinished, resumable; no summary
            status = "interrupted"
            raise
        finally:
            hooks.close()
            if status in ("done", "diverged", "failed"):
                summary = self._summary(status, steps, evaluator.last, error, t_start)
                if sharding.is_writer():
                    write_summary(self.run_dir, summary)
        if status == "stopped":
            return RunSummary(status="stopped", steps=stop_after_step)
        if self.progress:
            loss = summary.final_eval_loss
            print(f"{status}: {self.run_dir}  final eval loss "
                  f"{'n/a' if loss is None else f'{loss:.4f}'}", file=sys.stderr)
        return summary

    def _summary(self, status, steps, last_eval, error, t_start) -> RunSummary:
        ev, done = last_eval or {}, status == "done"
        meta = self.ds.meta
        return self.record.summary(
            steps, status=status, final_eval_loss=ev.get("eval_loss") if done else None,
            final_eval_bpb=ev.get("eval_bpb") if done else None,
            eval_tokens=ev.get("eval_tokens"), epochs=self.epochs,
            unique_tokens=int(self.ds.train.size), repeats=max(self.epochs - 1.0, 0.0),
            tokenizer=self.ds.tokenizer.name, bytes_per_token=self.ds.bytes_per_token,
            diverged_step=steps if status == "diverged" else None, error=error,
            data={k: meta.get(k) for k in ("source", "content_hash", "python_version",
                                           "cache_key", "n_tokens", "n_bytes")},
            peak_flops_source=self.peak_source, wall_s=time.time() - t_start,
            versions=_versions())
