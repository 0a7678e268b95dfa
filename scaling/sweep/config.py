"""The sweep file: typed, frozen, validated on load (docs/design.md, "Sweeps").

A sweep file holds only what differs from the defaults:

    name: quickstart                       # results go to results/<name> unless `out` is set
    objectives: [clm]                      # any of clm, mlm, span
    base: {data: ..., model: ..., optim: ..., train: ...}   # a partial RunConfig
    shape: {aspect_ratio: 32, head_dim: 16}                 # a ShapeRule (scaling/model/shapes.py)
    grid: {params: [...], tokens: [...]}   # or tokens_per_param: [...], or IsoFLOP flops: [...]
    recipe: {lr: ..., batch_size: ..., warmup_tokens_per_param: ..., schedule: ...}
    seeds: [0]
    extra_seeds: [{params: 3e4, flops: 1e12, seeds: [1, 2]}]

Every error names the file and the dotted key, e.g. `sweeps/x.yaml: key 'grid.flops[1]': must be
> 0`, and the CLI exits 2 before anything is written.
"""
from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from runstore import InputError
from scaling.configio import apply_overrides, doc, from_dict, load_yaml, to_dict
from scaling.data.config import DataConfig
from scaling.model.config import ModelConfig
from scaling.model.quant_config import BITS_MAX, BITS_MIN, QuantConfig, parse_precision
from scaling.model.shapes import ShapeRule
from scaling.objectives.config import MLMConfig, ObjectiveName, SpanConfig
from scaling.train.config import OptimConfig, RunConfig, TrainConfig

#: base keys that the sweep itself sets, per point: refused in `base`.
_SET_BY_SWEEP = {"name": "the sweep's `name`", "objective": "`objectives`", "seed": "`seeds`"}
_SET_BY_GRID = ("tokens", "steps")
_SET_BY_SHAPE = ("d_model", "n_layers", "n_heads", "d_ff")


def _positive(values, key: str) -> None:
    for i, v in enumerate(values):
        if not (math.isfinite(v) and v > 0):
            raise InputError(f"must be > 0, got {v}", key=f"{key}[{i}]")


@dataclass(frozen=True)
class GridConfig:
    """The grid: sizes x token counts, sizes x tokens per parameter, or IsoFLOP budgets x sizes."""

    params: tuple[float, ...] = doc("target parameter counts; the shape rule picks the nearest "
                                    "shape and its ACTUAL count is what is recorded")
    tokens: tuple[float, ...] = doc("training tokens D per run (N x D grid)", ())
    tokens_per_param: tuple[float, ...] = doc("D = this x actual N (grid of ratios)", ())
    flops: tuple[float, ...] = doc("IsoFLOP budgets C: D = C / (6 N) with the actual N, rounded "
                                   "to whole steps; nominal and actual C are both recorded", ())
    keep_tokens_per_param: tuple[float, ...] = doc(
        "optional [lo, hi]: drop points whose D / N falls outside (IsoFLOP grids: keep each "
        "budget's sizes near its optimum, e.g. [5, 300]); [] keeps all", ())
    count: Literal["total", "nonembedding"] = doc(
        "which N enters D = C / (6 N) and D = ratio x N (total: Chinchilla's count)", "total")
    precision: tuple[str, ...] = doc(
        "precisions crossed with the grid, as labels (none, w8, w4, w3-lsq, w4a8, w4a8kv4, ...:"
        " each a model.quant setting); [] = the base's own model.quant only", ())

    def validate(self) -> None:
        if not self.params:
            raise InputError("give at least one size", key="params",
                              fix="e.g. params: [1e5, 3e5, 1e6]")
        given = [k for k in ("tokens", "tokens_per_param", "flops") if getattr(self, k)]
        if len(given) != 1:
            raise InputError("give exactly one of tokens, tokens_per_param, flops "
                              f"(got {', '.join(given) or 'none'})", key="tokens",
                              fix="e.g. tokens: [1e6, 3e6] or flops: [1e12, 3e12]")
        r = self.keep_tokens_per_param
        if r and not (len(r) == 2 and 0 <= r[0] < r[1]):
            raise InputError("give [lo, hi] with 0 <= lo < hi", key="keep_tokens_per_param")
        for k in ("params", "tokens", "tokens_per_param", "flops"):
            _positive(getattr(self, k), k)
            vals = getattr(self, k)
            if len(set(vals)) != len(vals):
                raise InputError("has repeated values", key=k)
        self.quant_settings()  # every label parses (a bad one names its index)

    def quant_settings(self) -> tuple[QuantConfig | None, ...]:
        """grid.precision as model.quant values (None: full precision); () when not swept."""
        out = []
        for i, label in enumerate(self.precision):
            try:
                q = parse_precision(label)
            except InputError as e:
                raise InputError(e.detail, key=f"precision[{i}]", fix=e.fix) from None
            out.append(None if q is None else QuantConfig(**q))
        if len(set(out)) != len(out):
            raise InputError("has repeated settings (two labels for one model.quant)",
                             key="precision")
        return tuple(out)

    @property
    def axis(self) -> str:
        """The second axis: 'tokens', 'tokens_per_param' or 'flops'."""
        return next(k for k in ("tokens", "tokens_per_param", "flops") if getattr(self, k))

    @property
    def axis_values(self) -> tuple[float, ...]:
        return getattr(self, self.axis)


@dataclass(frozen=True)
class SizeRule:
    """A hyperparameter as a function of the run's actual parameter count N.

    constant: `value`; power: base x (N / n_ref) ^ exponent; table: the entry whose N is nearest
    in log space ([[N, value], ...]). In a sweep file a bare number means constant.
    """

    rule: Literal["constant", "power", "table"] = doc("constant, power or table", "constant")
    value: float = doc("constant: the value", 0.0)
    base: float = doc("power: the value at N = n_ref", 0.0)
    n_ref: float = doc("power: reference parameter count", 0.0)
    exponent: float = doc("power: exponent of N / n_ref (e.g. -0.6, or -1/3)", 0.0)
    table: tuple[tuple[float, ...], ...] = doc("table: [[N, value], ...]; nearest N in log space",
                                               ())
    multiple_of: int = doc("round to a multiple of this (integer quantities such as batch); "
                           "0 = no rounding", 0)
    min: float = doc("clip below (0 = none)", 0.0)
    max: float = doc("clip above (0 = none)", 0.0)

    def validate(self) -> None:
        if self.rule == "constant" and not self.value > 0:
            raise InputError("constant rule needs value > 0", key="value")
        if self.rule == "power" and not (self.base > 0 and self.n_ref > 0):
            raise InputError("power rule needs base > 0 and n_ref > 0", key="base",
                              fix="e.g. {rule: power, base: 7.8e-3, n_ref: 37760, exponent: -0.6}")
        if self.rule == "table":
            if not self.table:
                raise InputError("table rule needs table: [[N, value], ...]", key="table")
            for i, row in enumerate(self.table):
                if len(row) != 2 or not (row[0] > 0 and row[1] > 0):
                    raise InputError("each row is [N > 0, value > 0]", key=f"table[{i}]")
        if self.multiple_of < 0 or self.min < 0 or self.max < 0:
            raise InputError("must be >= 0", key="multiple_of/min/max")

    def __call__(self, n: float) -> float:
        if self.rule == "constant":
            v = self.value
        elif self.rule == "power":
            v = self.base * (n / self.n_ref) ** self.exponent
        else:
            v = min(self.table, key=lambda row: abs(math.log(row[0] / n)))[1]
        if self.min:
            v = max(v, self.min)
        if self.max:
            v = min(v, self.max)
        if self.multiple_of:
            v = max(self.multiple_of, self.multiple_of * round(v / self.multiple_of))
        return v


@dataclass(frozen=True)
class RecipeConfig:
    """Per-size training recipe: learning rate, batch size, beta2, warmup and schedule."""

    lr: SizeRule | None = doc("peak learning rate by size; unset = base.optim.lr", None)
    batch_size: SizeRule | None = doc("examples per step by size (rounded to an integer); unset "
                                      "= base.train.batch_size", None)
    b2: SizeRule | None = doc("AdamW beta2 by size (Porian et al. 2024 tune it for small "
                              "batches); unset = base.optim.b2", None)
    warmup_tokens_per_param: float = doc("warmup of this x N tokens (Porian et al. 2024: ~1); "
                                         "0 = base.optim.warmup_frac / warmup_steps", 0.0)
    schedule: Literal["", "cosine", "wsd", "constant", "wsd_branch"] = doc(
        "'' = base.optim.schedule (cosine to min_lr_ratio over exactly the run's D by default); "
        "wsd_branch: one warmup-stable trunk per size, a cooldown branch per D "
        "(scaling/sweep/branching.py)", "")
    cooldown_frac: float = doc("wsd_branch: each branch's cooldown as a share of its steps, in "
                               "(0, 1) (Hägele et al. 2024: 0.2); shape: base.optim.decay_shape",
                               0.2)

    def validate(self) -> None:
        if self.warmup_tokens_per_param < 0:
            raise InputError("must be >= 0", key="warmup_tokens_per_param")
        if not 0 < self.cooldown_frac < 1:
            raise InputError("must be in (0, 1)", key="cooldown_frac", fix="e.g. 0.2")


@dataclass(frozen=True)
class ExtraSeeds:
    """More seeds for chosen grid points (e.g. near each IsoFLOP minimum)."""

    params: float = doc("the grid's nominal size (one of grid.params)")
    seeds: tuple[int, ...] = doc("seeds to add at this point")
    tokens: float = doc("the grid value on the tokens axis (N x D grids)", 0.0)
    tokens_per_param: float = doc("the grid value on the tokens_per_param axis", 0.0)
    flops: float = doc("the grid value on the flops axis (IsoFLOP grids)", 0.0)

    def validate(self) -> None:
        if not self.seeds or any(not 0 <= s < 2**32 for s in self.seeds):
            raise InputError("give one or more seeds in [0, 2**32)", key="seeds")


@dataclass(frozen=True)
class ClaimConfig:
    """How workers share a results folder: atomic claims with a heartbeat."""

    heartbeat_s: float = doc("touch the claim this often while training", 15.0)
    stale_s: float = doc("a claim not touched for this long is taken over (its worker is "
                         "presumed dead); keep it well above heartbeat_s", 180.0)

    def validate(self) -> None:
        if not (self.heartbeat_s > 0 and self.stale_s > 2 * self.heartbeat_s):
            raise InputError("need heartbeat_s > 0 and stale_s > 2 x heartbeat_s",
                              key="stale_s")


@dataclass(frozen=True)
class BaseRun:
    """The sweep file's `base`, typed: a RunConfig without what the sweep sets per point (its
    name, objective and seed; train.steps / train.tokens, set by the grid; the model's shape,
    set by the shape rule). Parsed once, when the file is loaded (`SweepConfig.run_base`)."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)   # no length: steps = tokens = 0
    mlm: MLMConfig = field(default_factory=MLMConfig)
    span: SpanConfig = field(default_factory=SpanConfig)

    def run_config(self, name: str, objective: str, seed: int) -> RunConfig:
        """This base as one objective's and seed's RunConfig, still without a length (the grid
        stage gives each point its steps; until then it is a template, not a runnable run)."""
        return RunConfig(name=name, objective=objective, seed=seed, data=self.data,
                         model=self.model, optim=self.optim, train=self.train, mlm=self.mlm,
                         span=self.span)


@dataclass(frozen=True)
class SweepConfig:
    """A sweep: objectives x grid x seeds over one base run config."""

    name: str = doc("sweep name; results go to results/<name>")
    grid: GridConfig = doc("the grid of sizes and tokens (or budgets)")
    objectives: tuple[ObjectiveName, ...] = doc("pre-training objectives",
                                                                ("clm",))
    base: dict = doc("a partial RunConfig (data, model, optim, train cadence) shared by every "
                     "point; only what differs from the defaults", default_factory=dict)
    shape: ShapeRule = doc("how a parameter count becomes a shape", default_factory=ShapeRule)
    recipe: RecipeConfig = doc("per-size lr, batch, beta2, warmup, schedule",
                               default_factory=RecipeConfig)
    seeds: tuple[int, ...] = doc("seeds of every point", (0,))
    extra_seeds: tuple[ExtraSeeds, ...] = doc("extra seeds for chosen points", ())
    ptq: tuple[int, ...] = doc("post-training quantisation: bit widths at which each finished "
                               "full-precision point (not a trunk) is evaluated, as `scaling "
                               "eval RUN --ptq` does; [] = none", ())
    out: str = doc("results folder; '' = results/<name>", "")
    claims: ClaimConfig = doc("claim heartbeat and stale timeout", default_factory=ClaimConfig)

    def validate(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise InputError("must be a non-empty name without '/'", key="name")
        if not self.objectives:
            raise InputError("give at least one objective", key="objectives")
        if len(set(self.objectives)) != len(self.objectives):
            raise InputError("has repeated values", key="objectives")
        if (not self.seeds or any(not 0 <= s < 2**32 for s in self.seeds)  # RunConfig.seed
                or len(set(self.seeds)) != len(self.seeds)):
            raise InputError("give distinct seeds in [0, 2**32)", key="seeds")
        for i, b in enumerate(self.ptq):
            if not BITS_MIN <= b <= BITS_MAX:
                raise InputError(f"must be {BITS_MIN}-{BITS_MAX} bits, got {b}", key=f"ptq[{i}]",
                                 fix="e.g. ptq: [8, 4, 3]")
        if len(set(self.ptq)) != len(self.ptq):
            raise InputError("has repeated values", key="ptq")
        axis = self.grid.axis
        for i, e in enumerate(self.extra_seeds):
            if e.params not in self.grid.params:
                raise InputError(f"{e.params:g} is not one of grid.params",
                                  key=f"extra_seeds[{i}].params")
            if getattr(e, axis) not in self.grid.axis_values:
                raise InputError(f"{axis} {getattr(e, axis):g} is not one of grid.{axis}",
                                  key=f"extra_seeds[{i}].{axis}")

    @property
    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path("results") / self.name

    @functools.cached_property
    def run_base(self) -> BaseRun:
        """`base`, typed and validated (parsed once per SweepConfig; `base` itself stays the
        file's mapping, so that the schema shows it as "the run config's keys")."""
        return from_dict(BaseRun, copy.deepcopy(self.base), prefix="base")

    def base_run(self, objective: str | None = None, seed: int | None = None) -> RunConfig:
        """`run_base` as a RunConfig for one objective and seed (default: the first of each),
        without a length: for reading the base's data or dtype. Points come from the grid."""
        return self.run_base.run_config(self.name, objective or self.objectives[0],
                                        self.seeds[0] if seed is None else seed)

    def resolved(self) -> dict:
        """The sweep as run: every default filled in (what results/<name>/sweep.yaml holds)."""
        d = to_dict(self)
        base = to_dict(self.run_base)
        for k in _SET_BY_GRID:
            base["train"].pop(k)
        for k in _SET_BY_SHAPE:
            base["model"].pop(k)
        d["base"] = base
        if not self.grid.precision:  # as before these existed: the same sweep.yaml
            d["grid"].pop("precision")
        if not self.ptq:
            d.pop("ptq")
        return d


def _normalise(raw: dict) -> dict:
    """Sugar: a bare number for a SizeRule means {rule: constant, value: x}."""
    recipe = raw.get("recipe")
    if isinstance(recipe, dict):
        for k in ("lr", "batch_size", "b2"):
            v = recipe.get(k)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                recipe[k] = {"rule": "constant", "value": v}
    return raw


def _check_base(base: dict, file: str) -> None:
    if not isinstance(base, dict):
        raise InputError(f"expected a mapping, got {base!r}", file=file, key="base")
    for k, why in _SET_BY_SWEEP.items():
        if k in base:
            raise InputError(f"set by {why}, not in base", file=file, key=f"base.{k}")
    train = base.get("train") or {}
    for k in _SET_BY_GRID:
        if isinstance(train, dict) and train.get(k):
            raise InputError("set per point by the grid, not in base", file=file,
                              key=f"base.train.{k}", fix="remove it; use grid.tokens or "
                              "grid.flops")
    model = base.get("model") or {}
    for k in _SET_BY_SHAPE:
        if isinstance(model, dict) and k in model:
            raise InputError("set per point by the shape rule, not in base", file=file,
                              key=f"base.model.{k}", fix="use the `shape:` section")


def sweep_from_dict(raw: dict, file: str = "<sweep>") -> SweepConfig:
    """Validate a sweep mapping (the whole file, base included) into a SweepConfig."""
    raw = _normalise(copy.deepcopy(raw))
    _check_base(raw.get("base", {}), file)
    sweep = from_dict(SweepConfig, raw, file=file)
    try:
        _ = sweep.run_base  # parsed and validated here, once: an error names the file
    except InputError as e:
        raise InputError(e.detail, file=file, key=e.key, fix=e.fix) from None
    if sweep.grid.precision and sweep.run_base.model.quant is not None:
        raise InputError("set per point by grid.precision, not in base", file=file,
                         key="base.model.quant", fix="add its label to grid.precision, e.g. "
                         f"'{sweep.run_base.model.quant.label()}'")
    return sweep


def load_sweep(path: str | Path, overrides: list[str] = ()) -> SweepConfig:
    """Read, override (--set key=value) and validate a sweep file."""
    data = apply_overrides(load_yaml(path), list(overrides))
    return sweep_from_dict(data, file=str(path))
