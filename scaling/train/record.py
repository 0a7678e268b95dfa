"""The run record: everything about a run that follows from its config and its tokenizer.

Built in one place (`resolve_run`), before any training: the resolved model, N (total and
non-embedding), steps, tokens per example of each stream, D, exact FLOPs and 6ND, the run id.
The trainer, the sweep's points, the planner and summary.json all read it; nothing else
multiplies steps by batch by tokens. Imports no training stack (no optax, orbax), so a dry run
plans a sweep without loading the trainer.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from runstore import SCHEMA_VERSION, InputError, RunSummary, flops_6nd, fmt_si
from scaling.configio import to_dict
from scaling.model.config import ModelConfig
from scaling.objectives import Objective, get_objective
from scaling.train.config import RunConfig

FLOPS_CONVENTION = ("3x forward; attention QK and AV counted in full (no causal halving); see "
                    "ModelConfig.flops_per_token")


def objective_for(cfg: RunConfig) -> Objective:
    """The run's objective with its options from the config."""
    options = {"mlm": {"cfg": cfg.mlm},
               "span": {"cfg": cfg.span, "n_sentinels": cfg.data.n_sentinels}}
    return get_objective(cfg.objective, **options.get(cfg.objective, {}))


@dataclass(frozen=True)
class RunRecord:
    """A resolved run. Per-example counts are the objective's streams; totals are at `steps`."""

    cfg: RunConfig
    model: ModelConfig          # vocabulary and architecture resolved
    steps: int
    window: int                 # corpus tokens read per example
    tokens_per_example: int     # counted in D (span: raw tokens before corruption)
    encoder_per_example: int    # tokens the encoder (or the only stack) processes
    decoder_per_example: int
    flops_per_example: float    # exact training FLOPs (ModelConfig.flops_per_token x seq_len)

    @property
    def batch_size(self) -> int:
        return self.cfg.train.batch_size

    @property
    def n_total(self) -> int:
        return self.model.n_params_total()

    @property
    def n_nonembedding(self) -> int:
        return self.model.n_params_nonembedding()

    def tokens_at(self, step: int) -> int:
        """D after `step` optimizer steps."""
        return step * self.batch_size * self.tokens_per_example

    def flops_at(self, step: int) -> float:
        """Exact training FLOPs after `step` optimizer steps."""
        return step * self.batch_size * self.flops_per_example

    @property
    def tokens(self) -> int:
        return self.tokens_at(self.steps)

    @property
    def flops(self) -> float:
        return self.flops_at(self.steps)

    @property
    def flops_6nd(self) -> float:
        return flops_6nd(self.n_total, self.tokens)

    @functools.cached_property
    def run_id(self) -> str:
        """Readable and stable: objective, size, tokens, seed, and a hash of everything else."""
        c = self.cfg
        return (f"{c.objective}_n{fmt_si(self.n_total, floor=0.9995)}_"
                f"d{fmt_si(self.tokens, floor=0.9995)}_s{c.seed}_{c.short_hash()}")

    def objective(self) -> Objective:
        return objective_for(self.cfg)

    @property
    def role(self) -> str:
        t = self.cfg.train
        return "branch" if t.branch_from else "trunk" if t.stop_at else "run"

    @property
    def end_step(self) -> int:
        """The step the run ends at: a trunk stops early, at its last branch point."""
        return self.cfg.train.stop_at or self.steps

    @property
    def start_step(self) -> int:
        """The first step this run computes itself (a branch takes the trunk's before it)."""
        return self.cfg.train.branch_step

    def summary(self, steps: int, **outcome) -> RunSummary:
        """summary.json for this run after `steps` steps, with the outcome fields given."""
        B, t = self.batch_size, self.cfg.train
        return RunSummary(
            role=self.role, trunk_run_id=t.branch_from or None,
            branch_step=t.branch_step or None,
            flops_own=self.flops_at(max(steps - self.start_step, 0)),
            schema=SCHEMA_VERSION, run_id=self.run_id, name=self.cfg.name,
            objective=self.cfg.objective, seed=self.cfg.seed,
            n_params_total=self.n_total, n_params_nonembedding=self.n_nonembedding,
            steps=steps, batch_size=B, tokens=self.tokens_at(steps),
            tokens_encoder=steps * B * self.encoder_per_example,
            tokens_decoder=steps * B * self.decoder_per_example,
            flops=self.flops_at(steps), flops_6nd=flops_6nd(self.n_total, self.tokens_at(steps)),
            flops_per_token=self.model.flops_per_token(),
            flops_per_d_token=self.flops_per_example / self.tokens_per_example,
            flops_convention=FLOPS_CONVENTION, model=model_dict(self.model), **outcome)


def model_dict(model: ModelConfig) -> dict:
    """summary.json's `model`: the resolved model config; `quant` only when set (an unquantised
    run's record reads as before)."""
    d = to_dict(model)
    if d.get("quant") is None:
        d.pop("quant", None)
    return d


def resolve_run(cfg: RunConfig, vocab_size: int) -> RunRecord:
    """Resolve the model for the tokenizer's vocabulary and count steps, tokens and FLOPs."""
    if cfg.model.vocab_size and cfg.model.vocab_size < vocab_size:
        raise InputError(f"model.vocab_size {cfg.model.vocab_size} is smaller than the "
                          f"tokenizer's {vocab_size}", key="model.vocab_size",
                          fix="set it to 0 to take the tokenizer's")
    obj = objective_for(cfg)
    model = obj.model_config(cfg.model.replace(vocab_size=cfg.model.vocab_size or vocab_size))
    streams = obj.stream_tokens(model)
    return RunRecord(cfg=cfg, model=model, steps=_steps(cfg, streams["raw"]),
                     window=obj.window_len(model), tokens_per_example=streams["raw"],
                     encoder_per_example=streams["encoder"],
                     decoder_per_example=streams["decoder"],
                     flops_per_example=model.flops_per_token() * model.seq_len)


def _steps(cfg: RunConfig, tokens_per_example: int) -> int:
    """The run's step count; with `train.tokens`, the steps that consume at most that many.
    With neither (a sweep point whose D is less than one batch, or the sweep's base before the
    grid gives it a length) the run has zero steps: the sweep's planner refuses such points."""
    if cfg.train.steps or not cfg.train.tokens:
        return cfg.train.steps
    steps = cfg.train.tokens // (cfg.train.batch_size * tokens_per_example)
    if steps < 1:
        raise InputError(f"{cfg.train.tokens} tokens is less than one batch", key="train.tokens")
    return steps
