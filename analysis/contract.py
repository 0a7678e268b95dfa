"""The results contract between `scaling` (the writer) and `analysis` (the reader).

What both packages need, in one place: the input-error type and its one message format, the
one CLI error wrapper, atomic writes and tolerant JSONL, the YAML loader, PF_DAY and C = 6ND, one
number formatter, and the summary.json schema with its one reader. Standard library only and no
import side effects, so a notebook that reads results pays for nothing else; `scaling` may import
this module (the arrow points one way: `analysis` never imports the training stack).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import sys
import tempfile
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

#: 1 PF/s-day in FLOPs.
PF_DAY = 8.64e19

#: summary.json's schema; files written before the field existed are version 1.
SCHEMA_VERSION = 2


def flops_6nd(n_params: Any, tokens: Any) -> Any:
    """Chinchilla's training compute C = 6 N D (scalars or numpy arrays)."""
    return 6.0 * n_params * tokens


def tokens_for_flops(flops: Any, n_params: Any) -> Any:
    """D = C / (6 N), the inverse of `flops_6nd`."""
    return flops / (6.0 * n_params)


# ---- errors -----------------------------------------------------------------------------------

class InputError(ValueError):
    """Bad user input (a config, a corpus, a results file, a CSV): the CLI prints one line
    `error: FILE[:LINE]: key 'a.b': what (fix: ...)` and exits with code 2."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 key: str | None = None, fix: str | None = None):
        self.detail, self.file, self.line, self.key, self.fix = message, file, line, key, fix
        head = [f"{file}:{line}" if file and line else str(file)] if file else []
        if key:
            head.append(f"key '{key}'")
        text = ": ".join([*head, message])
        super().__init__(f"{text} (fix: {fix})" if fix else text)

    def located(self, file: str | None = None, *, prefix: str | None = None) -> "InputError":
        """The same error with the file filled in (if it had none) and the key under `prefix`."""
        key = f"{prefix}.{self.key}" if prefix and self.key else (self.key or prefix)
        where = self.file if self.file not in (None, "<config>") else file
        return type(self)(self.detail, file=where, line=self.line, key=key, fix=self.fix)


def cli_main(fn: Callable[[], int | None]) -> int:
    """Run a command; bad input is one line on stderr and exit code 2, Ctrl-C is 130."""
    try:
        return int(fn() or 0)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130


# ---- files ------------------------------------------------------------------------------------

def fsync_path(path: str | Path) -> None:
    """Flush a written file to disk (before a rename makes it visible)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is fsynced and renamed over `path`.

    Every file the suite writes goes through here, so a reader never sees a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}",
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=True, allow_nan=False) + "\n")


def read_jsonl(path: str | Path) -> list[dict]:
    """Every complete JSON object line; a half-written or corrupt line is skipped with a warning."""
    path = Path(path)
    rows: list[dict] = []
    if not path.exists():
        return rows
    with open(path, encoding="utf-8", errors="replace") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                obj = None
            if isinstance(obj, dict):
                rows.append(obj)
            else:
                warnings.warn(f"{path}:{i}: skipped a half-written or corrupt line", stacklevel=2)
    return rows


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


class JsonlAppender:
    """Appends one flushed line per record; a crash can leave at most one partial last line."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.f = open(self.path, "a")

    def write(self, row: dict) -> None:
        self.f.write(json.dumps(row, sort_keys=True) + "\n")
        self.f.flush()

    def close(self) -> None:
        self.f.close()


# ---- YAML ----------------------------------------------------------------------------------

#: Tags whose values JSON cannot hold (and so no config, sweep or fit file can mean): refused by
#: name rather than built. Python tags are never registered, so PyYAML refuses those itself.
_NON_DATA_TAGS = {"tag:yaml.org,2002:binary": "binary data", "tag:yaml.org,2002:set": "a set",
                  "tag:yaml.org,2002:omap": "an ordered map", "tag:yaml.org,2002:pairs": "pairs",
                  "tag:yaml.org,2002:timestamp": "a date"}
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _yaml_loader():
    import yaml

    class Loader(yaml.SafeLoader):
        """Safe YAML that yields JSON data only: YAML 1.2 floats (`1e12` and `3e-4` are
        numbers, not strings), no dates, no non-finite numbers, no duplicate keys."""

        def construct_mapping(self, node, deep=False):
            seen: dict = {}
            for key_node, _ in node.value:  # merged (`<<`) keys may be overridden: not these
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    raise _YamlDataError(f"key {key!r} is not a string (quote it)", key_node)
                if key in seen:
                    raise _YamlDataError(f"duplicate key '{key}' (first on line "
                                         f"{seen[key].start_mark.line + 1})", key_node)
                seen[key] = key_node
            return super().construct_mapping(node, deep=deep)

        def construct_yaml_float(self, node):
            v = super().construct_yaml_float(node)
            if not math.isfinite(v):
                raise _YamlDataError(f"{node.value} is not a finite number", node)
            return v

    def refuse(what):
        def construct(loader, node):
            shown = f" {node.value}" if isinstance(node.value, str) else ""
            raise _YamlDataError(f"{what}{shown:.40} is not a plain value (quote it if you mean "
                                 "the text)", node)
        return construct

    Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(
        r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))
    Loader.add_constructor("tag:yaml.org,2002:float", Loader.construct_yaml_float)
    for tag, what in _NON_DATA_TAGS.items():
        Loader.add_constructor(tag, refuse(what))
    return Loader


class _YamlDataError(Exception):
    """A value that parses as YAML but is not JSON data; carries the node for its position."""

    def __init__(self, message: str, node: Any):
        super().__init__(message)
        self.mark = node.start_mark


def _where(mark: Any) -> str | None:
    """'LINE:COL' (1-based) of a PyYAML mark, the position half of `FILE:LINE:COL`."""
    return None if mark is None else f"{mark.line + 1}:{mark.column + 1}"


def load_yaml_text(text: str, file: str = "<yaml>") -> Any:
    """Safe-load YAML into JSON data (str-keyed mappings, lists, str, int, finite float, bool,
    null); anything else (a syntax error, a duplicate key, a date, `.inf`, a tag that builds
    another type) is an InputError at FILE:LINE:COL."""
    import yaml
    try:
        return yaml.load(text, Loader=_yaml_loader())  # noqa: S506 (a SafeLoader subclass)
    except _YamlDataError as e:
        raise InputError(str(e), file=file, line=_where(e.mark)) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        if "constructor for the tag" in what:  # e.g. !!python/object: never built, refused
            what = f"tag {what.split()[-1]} builds an object; only plain values are allowed"
        raise InputError(f"not valid YAML ({what})", file=file, line=_where(mark),
                         fix="see https://yaml.org/spec/1.2.2/ or quote the value") from None


# ---- numbers ----------------------------------------------------------------------------------

_SI = (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3))


def fmt_si(x: float | None, unit: str = "", *, digits: int = 3, sep: str = "",
           floor: float = 1.0) -> str:
    """12_500_000 -> '12.5M' (`digits` significant); None -> 'n/a'. Values below 1k print plain.

    `floor` < 1 lets a value just under a unit round up into it (run ids: 999,900 -> '1M').
    """
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    for s, scale in _SI:
        if abs(x) >= scale * floor:
            v = f"{x / scale:.{digits}g}"
            return (v if "e" not in v else f"{x / scale:.0f}") + sep + s + unit
    return f"{x:.{digits}g}{sep}{unit}"


# ---- summary.json -----------------------------------------------------------------------------

def _doc(text: str, default: Any = None) -> Any:
    if isinstance(default, dict):
        return field(default_factory=dict, metadata={"doc": text})
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
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"unreadable summary.json ({e})", file=str(p),
                         fix="move this run folder aside and rerun the sweep") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"corrupt summary.json ({e})", file=str(p),
                         fix="move this run folder aside and rerun the sweep") from None
    return RunSummary.from_dict(data, file=str(p))


def write_summary(run_dir: str | Path, summary: RunSummary) -> None:
    atomic_write_json(Path(run_dir) / "summary.json", summary.to_dict())
