"""The run record: summary.json's schema with its one reader and writer, and the metrics rows
(metrics.jsonl) with theirs."""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runstore.errors import InputError
from runstore.files import atomic_write_json, read_json, read_jsonl

#: summary.json's schema; files written before the field existed are version 1. Version 3 adds
#: `ptq` (post-training quantisation losses); older files read with it empty.
SCHEMA_VERSION = 3


def _doc(text: str, default: Any = None) -> Any:
    if isinstance(default, (dict, list)):
        return field(default_factory=type(default), metadata={"doc": text})
    return field(default=default, metadata={"doc": text})


@dataclass(frozen=True)
class RunSummary:
    """summary.json: one run's record (what it was) and outcome (how it ended)."""

    status: str = _doc("done | diverged | failed")
    run_id: str = _doc("the run's folder name: objective, size, tokens, seed, config hash", "")
    name: str = _doc("run family (the sweep's name)", "")
    objective: str = _doc("clm | mlm | span", "clm")
    seed: int | None = _doc("seed of initialisation, data order and noise")
    tokenizer: str = _doc("tokenizer name (byte, bpe-V, ...)", "unknown")
    n_params_total: int | None = _doc("every trainable parameter (Chinchilla's N)")
    n_params_nonembedding: int | None = _doc("N minus token/position embeddings (tied head)")
    steps: int | None = _doc("optimizer steps taken (to divergence, for a diverged run)")
    batch_size: int | None = _doc("examples per step (global)")
    tokens: int | None = _doc("D: corpus tokens consumed (span: raw tokens before corruption)")
    tokens_encoder: int | None = _doc("tokens the encoder (or the only stack) processed")
    tokens_decoder: int | None = _doc("tokens the decoder processed (0 without one)")
    flops: float | None = _doc("exact training FLOPs (ModelConfig.flops_per_token, 3x forward)")
    flops_6nd: float | None = _doc("C = 6 N D with total N, as the fits use it")
    flops_per_token: float | None = _doc("ModelConfig.flops_per_token(): per input position")
    flops_per_d_token: float | None = _doc("exact FLOPs per token counted in D (flops / tokens)")
    flops_convention: str = _doc("how FLOPs were counted", "")
    final_eval_loss: float | None = _doc("validation loss, nats per loss-bearing token")
    final_eval_bpb: float | None = _doc("validation bits per byte of text")
    eval_tokens: int | None = _doc("loss-bearing validation tokens scored")
    epochs: float | None = _doc("passes over the training split")
    unique_tokens: int | None = _doc("training-split tokens available (unique D, EOS included)")
    repeats: float | None = _doc("passes beyond the first: max(epochs - 1, 0) (Muennighoff 2023)")
    bytes_per_token: float | None = _doc("text bytes per token of the tokenizer")
    diverged_step: int | None = _doc("the step whose loss was not finite")
    error: str | None = _doc("what failed, for a failed run")
    model: dict = _doc("the resolved model config", {})
    data: dict = _doc("corpus identity: source, content hash, cache key, sizes", {})
    peak_flops_source: str = _doc("where the MFU's peak came from", "")
    wall_s: float | None = _doc("wall time of the last session, seconds")
    versions: dict = _doc("python, jax, flax, ... and the device", {})
    role: str = _doc("run (a point) | trunk (a stable-lr trunk: not a point) | branch (a "
                     "cooldown branch of a trunk: a point)", "run")
    trunk_run_id: str | None = _doc("branch: the trunk it starts from")
    branch_step: int | None = _doc("branch: the trunk step it starts from")
    flops_own: float | None = _doc("exact FLOPs this run spent itself (a branch: its cooldown "
                                   "only; `flops` counts its whole history, trunk share included)")
    ptq: list = _doc("post-training quantisation of the final weights (scaling eval --ptq): "
                     "[{bits, method, granularity, step, eval_loss, eval_bpb, eval_tokens}]", [])
    schema: int = _doc("summary.json schema version", SCHEMA_VERSION)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any, file: str = "summary.json") -> "RunSummary":
        """Check a parsed summary.json against the schema; unknown keys are kept out, not fatal."""
        fix = "move this run folder aside and rerun the sweep (it trains the run again)"
        if not isinstance(data, dict):
            raise InputError("summary.json is not a JSON object", file=file, fix=fix)
        hints = typing.get_type_hints(cls)
        kw: dict[str, Any] = {"schema": 1}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            v, tp = data[f.name], hints[f.name]
            if not _fits(v, tp):
                raise InputError(f"{v!r:.40} is not a valid {f.name}", file=file, key=f.name,
                                 fix=fix)
            kw[f.name] = v
        if "status" not in kw or not isinstance(kw["status"], str):
            raise InputError("missing status", file=file, key="status", fix=fix)
        return cls(**kw)


def _fits(v: Any, tp: Any) -> bool:
    args = typing.get_args(tp)
    if args:  # X | None
        return v is None or any(_fits(v, a) for a in args if a is not type(None))
    if tp is float:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if tp is int:
        return isinstance(v, int) and not isinstance(v, bool)
    return isinstance(v, tp)


def read_summary(run_dir: str | Path) -> RunSummary | None:
    """The run's summary.json, or None if it has none yet; a damaged one is an InputError."""
    p = Path(run_dir) / "summary.json"
    data = read_json(p, default=None, fix="move this run folder aside and rerun the sweep")
    return None if data is None else RunSummary.from_dict(data, file=str(p))


def write_summary(run_dir: str | Path, summary: RunSummary) -> None:
    atomic_write_json(Path(run_dir) / "summary.json", summary.to_dict())


def read_metrics(run_dir: str | Path, *, quiet: bool = False) -> list[dict]:
    """metrics.jsonl's rows with a finite numeric `step` (a damaged line is skipped; warned about
    unless `quiet`). The one reader of metrics rows."""
    import warnings

    from runstore.units import finite_number
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        rows = read_jsonl(Path(run_dir) / "metrics.jsonl")
    return [r for r in rows if finite_number(r.get("step")) is not None]
