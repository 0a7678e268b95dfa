"""The run config: one YAML file (or a sweep point) resolves to this, validated on load."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal

from runstore import InputError
from scaling.configio import apply_overrides, doc, from_dict, load_yaml, to_dict
from scaling.data.config import DataConfig
from scaling.model.config import ModelConfig
from scaling.objectives.config import MLMConfig, ObjectiveName, SpanConfig


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with global-norm clipping and a learning-rate schedule."""

    lr: float = doc("peak learning rate, > 0", 3e-3)
    b1: float = doc("Adam beta1, in [0, 1)", 0.9)
    b2: float = doc("Adam beta2, in [0, 1)", 0.95)
    eps: float = doc("Adam epsilon, > 0", 1e-8)
    weight_decay: float = doc("decoupled weight decay on matrices (ndim >= 2)", 0.1)
    grad_clip: float = doc("global-norm clip; 0 disables", 1.0)
    schedule: Literal["cosine", "wsd", "constant"] = doc(
        "cosine: warmup then cosine to min_lr_ratio at the last step; wsd: warmup, stable, "
        "decay over decay_frac; constant: warmup then flat", "cosine")
    warmup_frac: float = doc("warmup as a share of the run's steps", 0.05)
    warmup_steps: int = doc("warmup in steps; overrides warmup_frac when > 0", 0)
    min_lr_ratio: float = doc("final learning rate as a share of the peak", 0.1)
    decay_frac: float = doc("wsd: share of the steps spent decaying", 0.2)
    decay_shape: Literal["linear", "cosine", "1-sqrt"] = doc("wsd: decay shape", "1-sqrt")

    def validate(self) -> None:
        if not self.lr > 0:
            raise InputError("must be > 0", key="lr")
        for k in ("b1", "b2"):  # at 1 a moment never forgets; above 1 it grows
            if not 0 <= getattr(self, k) < 1:
                raise InputError(f"must be in [0, 1), got {getattr(self, k)}", key=k)
        if not self.eps > 0:  # eps <= 0 divides by a vanishing second moment
            raise InputError(f"must be > 0, got {self.eps}", key="eps", fix="e.g. 1e-8")
        if not 0 <= self.warmup_frac < 1:
            raise InputError("must be in [0, 1)", key="warmup_frac")
        if not 0 <= self.min_lr_ratio <= 1:
            raise InputError("must be in [0, 1]", key="min_lr_ratio")
        if not 0 < self.decay_frac <= 1:
            raise InputError("must be in (0, 1]", key="decay_frac")
        if self.grad_clip < 0 or self.weight_decay < 0 or self.warmup_steps < 0:
            raise InputError("must be >= 0", key="grad_clip/weight_decay/warmup_steps")


@dataclass(frozen=True)
class TrainConfig:
    """How long, how big a batch, and how often to evaluate, log and checkpoint."""

    tokens: int = doc("training tokens D; steps = tokens // (batch_size x tokens per example)", 0)
    steps: int = doc("optimizer steps (instead of tokens)", 0)
    batch_size: int = doc("examples per step (global, over all devices), in [1, 2**20]", 16)
    eval_every: int = doc("evaluate every this many steps (and at the end); 0 = only at the end",
                          200)
    eval_batch_size: int = doc("examples per evaluation batch, in [1, 2**20]", 16)
    log_every: int = doc("write a metrics line every this many steps", 10)
    checkpoint_every: int = doc("checkpoint every this many steps (and at the end)", 200)
    keep_checkpoints: int = doc("checkpoints kept on disk", 2)
    init_from: str = doc("start from another run's checkpoint dir (step taken from it), e.g. a "
                         "WSD cooldown branch; '' = fresh init", "")
    stop_at: int = doc("end the run after this many steps although its schedule is that of "
                       "`steps` (the trunk of cooldown branches); 0 = run all steps", 0)
    branch_points: tuple[int, ...] = doc("steps whose checkpoints are kept for good in "
                                         "branch_points/ (never removed by keep_checkpoints)", ())
    branch_from: str = doc("start as a cooldown branch of this sibling run (run id in the same "
                           "runs/ folder), from its branch_points/ checkpoint at branch_step", "")
    branch_step: int = doc("the trunk step this branch starts from (with branch_from)", 0)
    trackers: tuple[Literal["jsonl", "tensorboard", "wandb"], ...] = doc(
        "where metrics rows go besides metrics.jsonl (always written): tensorboard (event files "
        "in the run folder), wandb (WANDB_MODE/WANDB_PROJECT apply); not part of run identity",
        ("jsonl",))
    microbatches: int = doc("gradient accumulation: split each batch into this many "
                            "microbatches inside one optimizer step (batch_size must divide)", 1)
    fsdp: bool = doc("shard parameters and optimizer state over the data axis (FSDP / ZeRO-3) "
                     "instead of replicating them", False)

    def validate(self) -> None:
        if self.microbatches < 1 or self.batch_size % self.microbatches:
            raise InputError(f"must be >= 1 and divide batch_size {self.batch_size}",
                              key="microbatches", fix="pick a divisor of train.batch_size")
        for k in ("batch_size", "eval_batch_size", "log_every", "checkpoint_every",
                  "keep_checkpoints"):
            if getattr(self, k) < 1:
                raise InputError("must be >= 1", key=k)
        for k in ("batch_size", "eval_batch_size"):  # a typo (1e12) would allocate, not fail
            if getattr(self, k) > 2**20:
                raise InputError(f"must be at most 2**20, got {getattr(self, k)}", key=k)
        if self.eval_every < 0:
            raise InputError("must be >= 0", key="eval_every")
        self._validate_branching()

    def _validate_branching(self) -> None:
        if self.stop_at < 0 or self.branch_step < 0 or any(b < 1 for b in self.branch_points):
            raise InputError("must be >= 0 (branch points >= 1)", key="stop_at/branch_step")
        if bool(self.branch_from) != (self.branch_step > 0):
            raise InputError("give branch_from and branch_step > 0 together", key="branch_from",
                              fix="branch_from: <trunk run id>, branch_step: <its step>")
        if "/" in self.branch_from:
            raise InputError("a run id in the same runs/ folder, not a path", key="branch_from")


@dataclass(frozen=True)
class RunConfig:
    """One training run."""

    name: str = doc("run family name (the results folder)", "run")
    objective: ObjectiveName = doc("pre-training objective", "clm")
    seed: int = doc("seed for initialisation, data order and masking noise, in [0, 2**32)", 0)
    data: DataConfig = doc("corpus and tokenizer", default_factory=DataConfig)
    model: ModelConfig = doc("model shape", default_factory=ModelConfig)
    optim: OptimConfig = doc("optimizer and schedule", default_factory=OptimConfig)
    train: TrainConfig = doc("length and cadence", default_factory=lambda: TrainConfig(steps=100))
    mlm: MLMConfig = doc("masked-LM options (objective mlm)", default_factory=MLMConfig)
    span: SpanConfig = doc("span-corruption options (objective span)",
                           default_factory=SpanConfig)

    def validate(self) -> None:
        if not self.name or "/" in self.name:
            raise InputError("must be a non-empty name without '/'", key="name")
        if not 0 <= self.seed < 2**32:  # jax.random.PRNGKey keeps 32 bits: larger seeds collide
            raise InputError(f"must be in [0, 2**32), got {self.seed}", key="seed")
        # the run's length is checked here, not in TrainConfig: a sweep's `base` is a train
        # section without one (each point gets its own steps; scaling/sweep/config.py)
        if (self.train.tokens > 0) == (self.train.steps > 0):
            raise InputError("give exactly one of train.tokens and train.steps (> 0)",
                              key="train.tokens", fix="set train.tokens: 2_000_000, say")

    def to_dict(self) -> dict:
        return to_dict(self)

    def identity(self) -> dict:
        """What makes this run this run (`config_identity`): run ids hash it, and a run folder
        accepts any config with the same identity."""
        return config_identity(self.to_dict())

    def short_hash(self) -> str:
        """A hash of the whole resolved config (its identity), for run identity."""
        blob = json.dumps(self.identity(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:8]


def load_run_config(path: str, overrides: list[str] = ()) -> RunConfig:
    data = apply_overrides(load_yaml(path), list(overrides))
    return from_dict(RunConfig, data, file=str(path))


#: Keys that cannot change a run's numbers (where its metrics go): never part of its identity.
NOT_IDENTITY = (("train", "trackers"), ("model", "remat"))  # remat: bit-identical (tests)
#: Keys added after results were committed, with their defaults: at the default they are left
#: out of the identity, so the run ids (hashes) of earlier runs stay what they were.
IDENTITY_SINCE_V2: dict[tuple[str, ...], object] = {
    ("train", "stop_at"): 0, ("train", "branch_points"): [], ("train", "branch_from"): "",
    ("train", "branch_step"): 0,
    ("train", "microbatches"): 1, ("train", "fsdp"): False, ("model", "attention"): "auto",
    ("model", "scan_layers"): False,
    ("model", "quant"): None,
    ("data", "tokenizer_train_bytes"): 64_000_000, ("data", "tokenizer_train_seed"): 0,
    ("data", "hf_config"): "", ("data", "hf_split"): "train", ("data", "hf_streaming"): False,
    ("data", "tokens_vocab_size"): 0, ("data", "tokens_separator_id"): -2,
}


def config_identity(d: dict) -> dict:
    """A resolved config (as a dict, e.g. a config.json) reduced to the run's identity."""
    d = json.loads(json.dumps(d))
    for path in NOT_IDENTITY:
        d.get(path[0], {}).pop(path[1], None)
    for path, default in IDENTITY_SINCE_V2.items():
        node = d
        for k in path[:-1]:
            node = node.get(k, {})
        if node.get(path[-1], default) == default:
            node.pop(path[-1], None)
    return d
