"""One training run, from a resolved config to a finished results folder (DESIGN.md layout).

The loop dispatches step t before it reads step t-1's metrics, so the device never waits for
Python; batches are pure functions of (seed, step), so a restart from checkpoint k replays
exactly the steps k+1.. of an uninterrupted run.
"""
from __future__ import annotations

import math
import platform
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

import scaling
from scaling.data.dataset import Dataset, load_dataset
from scaling.errors import ConfigError
from scaling.io import JsonlAppender, atomic_write_json
from scaling.model.config import ModelConfig
from scaling.model.transformer import build_model
from scaling.objectives import Objective, Specials, get_objective
from scaling.train import sharding
from scaling.train.checkpoint import Checkpointer
from scaling.train.config import RunConfig, steps_for
from scaling.train.rundir import claim_config, read_summary, run_id, truncate_metrics
from scaling.train.schedule import make_schedule
from scaling.train.step import (evaluate, make_eval_step, make_optimizer, make_train_step,
                                split_model)


@dataclass(frozen=True)
class Plan:
    """Everything about a run that follows from its config and tokenizer, before training."""

    cfg: RunConfig
    objective: Objective
    model: ModelConfig
    window: int             # raw corpus tokens per example
    steps: int
    tokens_per_example: int  # counted in D
    flops_per_example: float
    n_total: int
    n_nonembedding: int

    @property
    def tokens(self) -> int:
        return self.steps * self.cfg.train.batch_size * self.tokens_per_example

    @property
    def flops(self) -> float:
        return self.steps * self.cfg.train.batch_size * self.flops_per_example

    @property
    def run_id(self) -> str:
        return run_id(self.cfg, self.n_total, self.tokens)


def objective_for(cfg: RunConfig) -> Objective:
    if cfg.objective == "mlm":
        return get_objective("mlm", cfg=cfg.mlm)
    if cfg.objective == "span":
        return get_objective("span", cfg=cfg.span, n_sentinels=cfg.data.n_sentinels)
    return get_objective("clm")


def plan_run(cfg: RunConfig, vocab_size: int) -> Plan:
    """Resolve the model for the tokenizer's vocabulary and count steps, tokens, FLOPs."""
    if cfg.model.vocab_size and cfg.model.vocab_size < vocab_size:
        raise ConfigError(f"model.vocab_size {cfg.model.vocab_size} is smaller than the "
                          f"tokenizer's {vocab_size}", key="model.vocab_size",
                          fix="set it to 0 to take the tokenizer's")
    obj = objective_for(cfg)
    model = obj.model_config(cfg.model.replace(vocab_size=cfg.model.vocab_size or vocab_size))
    streams = obj.stream_tokens(model)
    steps = steps_for(cfg, streams["raw"])
    return Plan(cfg=cfg, objective=obj, model=model, window=obj.window_len(model), steps=steps,
                tokens_per_example=streams["raw"],
                flops_per_example=model.flops_per_token() * model.seq_len,
                n_total=model.n_params_total(), n_nonembedding=model.n_params_nonembedding())


def _peak_flops(dtype: str) -> tuple[float | None, str]:
    try:
        from scaling.hardware import peak_flops
        p = peak_flops(dtype)
        return p.flops, p.source
    except Exception as e:  # MFU is reported as null rather than invented
        return None, f"unavailable ({e})"


def _versions() -> dict:
    import flax
    import optax
    from importlib.metadata import version
    return {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": version("jaxlib"),
            "flax": flax.__version__, "optax": optax.__version__, "scaling": scaling.__version__,
            "device_kind": jax.devices()[0].device_kind, "n_devices": jax.device_count()}


def default_run_dir(plan: Plan, root: str | Path = "results") -> Path:
    return Path(root) / plan.cfg.name / "runs" / plan.run_id


def train(cfg: RunConfig, run_dir: str | Path | None = None, *, progress: bool = True,
          dataset: Dataset | None = None, stop_after_step: int | None = None) -> dict:
    """Train (or resume, or skip if finished) the run; return its summary."""
    sharding.maybe_initialize_distributed()
    ds = dataset or load_dataset(cfg.data, progress=progress)
    plan = plan_run(cfg, ds.tokenizer.vocab_size)
    run_dir = Path(run_dir) if run_dir else default_run_dir(plan)
    run_dir.mkdir(parents=True, exist_ok=True)
    claim_config(run_dir, cfg)  # refuses a folder that holds another run
    done = read_summary(run_dir)
    if done is not None and done.get("status") in ("done", "diverged"):
        if progress:
            print(f"{run_dir}: already {done['status']}; nothing to do", file=sys.stderr)
        return done
    return _Trainer(plan, ds, run_dir, progress).run(stop_after_step)


class _Trainer:
    def __init__(self, plan: Plan, ds: Dataset, run_dir: Path, progress: bool):
        self.plan, self.ds, self.run_dir, self.progress = plan, ds, run_dir, progress
        self.cfg = plan.cfg
        self.mesh = sharding.data_mesh()
        sharding.check_batch(self.cfg.train.batch_size, self.mesh)
        self.specials = Specials.from_tokenizer(ds.tokenizer)

    def _init_state(self):
        cfg = self.cfg
        graphdef, params = split_model(build_model(self.plan.model, cfg.seed))
        tx = make_optimizer(cfg.optim, self.plan.steps)
        state = {"params": params, "opt_state": tx.init(params)}
        return graphdef, tx, state

    def run(self, stop_after_step: int | None) -> dict:
        cfg, plan, ds = self.cfg, self.plan, self.ds
        t_start = time.time()
        graphdef, tx, state = self._init_state()
        ckpt = Checkpointer(self.run_dir / "checkpoints", keep=cfg.train.keep_checkpoints)
        start = ckpt.latest_step() or 0
        if start:
            state, _ = ckpt.restore(start, state)
        elif cfg.train.init_from:
            src = Checkpointer(cfg.train.init_from)
            step0 = src.latest_step()
            if step0 is None:
                raise ConfigError("no checkpoint there", key="train.init_from",
                                  fix="point it at a run's checkpoints/ folder")
            state, _ = src.restore(step0, state)
            src.close()
        truncate_metrics(self.run_dir, start)
        state = sharding.put_replicated(state, self.mesh)
        params, opt_state = state["params"], state["opt_state"]

        step_fn = make_train_step(graphdef, plan.objective, tx, self.specials, cfg.seed)
        eval_fn = make_eval_step(graphdef, plan.objective, self.specials)
        byte_len_V = sharding.put_replicated(
            np.asarray(ds.tokenizer.token_byte_lengths(), np.float32), self.mesh)
        val = ds.val_batches(plan.window, cfg.train.eval_batch_size)
        put = lambda w: sharding.put_batch(np.asarray(w, np.int32), self.mesh)
        lr_at = make_schedule(cfg.optim, plan.steps)
        B = cfg.train.batch_size
        epochs = ds.epochs(plan.tokens_per_example * B * plan.steps, plan.window)
        if epochs > 1:
            warnings.warn(f"{plan.run_id}: {epochs:.2f} epochs over the training split; data "
                          "repeats, which bends scaling laws", stacklevel=2)
        peak, peak_src = _peak_flops(plan.model.dtype)
        log = JsonlAppender(self.run_dir / "metrics.jsonl")
        bar = _progress(plan, start) if self.progress else None

        is_eval = lambda k: k == plan.steps or (cfg.train.eval_every > 0
                                                and k % cfg.train.eval_every == 0)
        is_ckpt = lambda k: k == plan.steps or k % cfg.train.checkpoint_every == 0
        clock = {"t": time.perf_counter(), "k": start, "busy": 0.0}
        warned_mfu: list[bool] = []

        def train_row(k: int, m: dict) -> dict | None:
            """Read step k's metrics (blocking on step k only); None if the loss is not finite."""
            loss = float(m["loss"])
            if not math.isfinite(loss):
                return None
            if not (k % cfg.train.log_every == 0 or is_eval(k)):
                return {}
            now = time.perf_counter()
            ex_s = (k - clock["k"]) * B / max(now - clock["t"] - clock["busy"], 1e-9)
            clock.update(t=now, k=k, busy=0.0)
            row = {"step": k, "tokens": k * B * plan.tokens_per_example,
                   "flops": k * B * plan.flops_per_example, "lr": lr_at(k - 1),
                   "train_loss": loss, "grad_norm": float(m["grad_norm"]),
                   "tokens_per_s": ex_s * plan.tokens_per_example,
                   "mfu": (ex_s * plan.flops_per_example / peak) if peak else None}
            if row["mfu"] is not None and row["mfu"] > 1 and not warned_mfu:
                warned_mfu.append(True)
                warnings.warn(f"MFU {row['mfu']:.0%} > 100%: the peak ({peak_src}) is too low; "
                              "on CPU it was likely measured under load (delete "
                              "$SCALING_CACHE/cpu_peak.json to measure again)", stacklevel=2)
            if bar is not None:
                bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{row['tokens_per_s']:.0f}",
                                mfu=f"{row['mfu']:.1%}" if row["mfu"] else "n/a")
            return row

        status, last_eval, diverged_step, error = "done", None, None, None
        pending = None  # (k, metrics still on device) of the step dispatched last
        try:
            for step in range(start, plan.steps):
                k = step + 1
                windows = put(ds.batch(cfg.seed, step, B, plan.window))
                params, opt_state, metrics = step_fn(params, opt_state, windows, step)
                if pending is not None:  # step k is queued: now read step k-1
                    row = train_row(*pending)
                    if row is None:
                        diverged_step = pending[0]
                        break
                    if row:
                        log.write(row)
                pending = (k, metrics)
                if bar is not None:
                    bar.update(1)
                if is_eval(k) or is_ckpt(k) or k == stop_after_step:
                    row, pending = train_row(*pending), None
                    if row is None:
                        diverged_step = k
                        break
                    t0 = time.perf_counter()
                    if is_eval(k):
                        last_eval = evaluate(eval_fn, params, val, byte_len_V, put)
                        row.update(last_eval)
                    if row:
                        log.write(row)
                    if is_ckpt(k):
                        ckpt.save(k, {"params": params, "opt_state": opt_state},
                                  {"step": k, "run_id": plan.run_id})
                    clock["busy"] += time.perf_counter() - t0
                if k == stop_after_step:
                    status = "stopped"
                    break
        except Exception as e:
            status, error = "failed", f"{type(e).__name__}: {e}"
            raise
        except BaseException:  # KeyboardInterrupt / SystemExit: unfinished, resumable; no summary
            status = "interrupted"
            raise
        finally:
            if bar is not None:
                bar.close()
            log.close()
            ckpt.close()
            if diverged_step is not None:
                status = "diverged"
            if status in ("done", "diverged", "failed"):
                summary = self._summary(status, last_eval, epochs, time.time() - t_start,
                                        diverged_step, error, peak_src)
                atomic_write_json(self.run_dir / "summary.json", summary)
        if status == "stopped":
            return {"status": "stopped", "step": stop_after_step}
        if self.progress:
            loss = summary["final_eval_loss"]
            print(f"{status}: {self.run_dir}  final eval loss "
                  f"{'n/a' if loss is None else f'{loss:.4f}'}", file=sys.stderr)
        return summary

    def _summary(self, status, last_eval, epochs, wall_s, diverged_step, error, peak_src):
        plan, cfg = self.plan, self.cfg
        steps = plan.steps if status == "done" else (diverged_step or 0)
        tokens = steps * cfg.train.batch_size * plan.tokens_per_example
        streams = plan.objective.stream_tokens(plan.model)
        ev = last_eval or {}
        return {
            "status": status, "run_id": plan.run_id, "name": cfg.name,
            "objective": cfg.objective, "seed": cfg.seed,
            "n_params_total": plan.n_total, "n_params_nonembedding": plan.n_nonembedding,
            "tokens": tokens, "steps": steps, "batch_size": cfg.train.batch_size,
            "tokens_encoder": steps * cfg.train.batch_size * streams["encoder"],
            "tokens_decoder": steps * cfg.train.batch_size * streams["decoder"],
            "flops_6nd": 6.0 * plan.n_total * tokens,
            "flops": steps * cfg.train.batch_size * plan.flops_per_example,
            "flops_per_token": plan.flops_per_example / plan.tokens_per_example,
            "flops_convention": "3x forward; attention QK and AV counted in full (no causal "
                                "halving); see ModelConfig.flops_per_token",
            "final_eval_loss": ev.get("eval_loss") if status == "done" else None,
            "final_eval_bpb": ev.get("eval_bpb") if status == "done" else None,
            "eval_tokens": ev.get("eval_tokens"),
            "epochs": epochs, "tokenizer": self.ds.tokenizer.name,
            "bytes_per_token": self.ds.bytes_per_token,
            "diverged_step": diverged_step, "error": error,
            "model": {k: v for k, v in plan.model.__dict__.items()},
            "data": {k: self.ds.meta.get(k) for k in ("source", "content_hash", "python_version",
                                                      "cache_key", "n_tokens", "n_bytes")},
            "peak_flops_source": peak_src, "wall_s": wall_s, "versions": _versions(),
        }


def _progress(plan: Plan, start: int):
    from tqdm import tqdm
    return tqdm(total=plan.steps, initial=start, desc=plan.run_id[:40], unit="step",
                dynamic_ncols=True, file=sys.stderr, mininterval=0.5)
