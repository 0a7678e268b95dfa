"""The RunTable: runs as numpy columns, their names and aliases, and their training curves.

Loading (analysis/load.py) and CSV input (analysis/csv_table.py) build it; every fit reads it.
A half-written metrics line is skipped with an AnalysisWarning (runstore.read_metrics, the one
reader of metrics rows).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from analysis.columns import ALIASES as _ALIASES
from analysis.columns import COLUMNS
from analysis.columns import STR_COLUMNS as _STR_COLUMNS
from runstore import InputError, RunDir, flops_6nd, read_metrics, tokens_for_flops


class AnalysisWarning(UserWarning):
    """A run or line was skipped, or a fit had to drop something: always worth reading."""


@dataclass(frozen=True)
class Curve:
    """One run's training curve from metrics.jsonl (NaN where a line lacks a key)."""

    run_id: str
    step: np.ndarray
    tokens: np.ndarray
    flops: np.ndarray
    lr: np.ndarray
    train_loss: np.ndarray
    eval_loss: np.ndarray


class RunTable:
    """Runs as numpy columns (see COLUMNS); ``table["loss"]`` gives a column.

    ``flops`` is always 6 N D with the *total* parameter count (Chinchilla's C); fits that use
    non-embedding N compute C = 6 N_nonembedding D through ``n(params)`` / ``c(params)``.
    Columns may be given under COLUMNS' names or the CSV's aliases (N, D, C, L, ...); any other
    name, a missing N / D (or C) / loss, or a value there that is not a positive number is an
    InputError.
    """

    def __init__(self, columns: Mapping[str, Any], run_dirs: Sequence[str | None] | None = None,
                 extra: Mapping[str, Sequence[str]] | None = None, source: str | None = None):
        columns = _canonical(columns)
        n = len(columns["loss"])
        self._cols: dict[str, np.ndarray] = {}
        for name in COLUMNS:
            values = columns.get(name)
            if name in _STR_COLUMNS:
                default = {"status": "done", "objective": "clm", "tokenizer": "unknown"}.get(name, "")
                arr = np.array([str(v) for v in values] if values is not None else [default] * n,
                               dtype=object)
            else:
                arr = (np.asarray(values, dtype=float) if values is not None
                       else np.full(n, np.nan))
            if len(arr) != n:
                raise ValueError(f"column {name} has {len(arr)} values, expected {n}")
            self._cols[name] = arr
        if columns.get("run_id") is None:
            self._cols["run_id"] = np.array([f"row{i}" for i in range(n)], dtype=object)
        _check_required(self._cols)
        # C = 6 N D with total N, whatever a caller passed (a CSV's C gave D above)
        self._cols["flops"] = flops_6nd(self._cols["n_total"], self._cols["tokens"])
        self._run_dirs = list(run_dirs) if run_dirs is not None else [None] * n
        self._curve_cache: dict[str, Curve] = {}
        # a CSV's columns outside COLUMNS: refused by every fit unless named as grouping keys
        # (analysis/grouping.py); `_by` holds each run's grouping value ("" when ungrouped)
        self._extra = {k: np.array([str(v) for v in vals], dtype=object)
                       for k, vals in (extra or {}).items()}
        self._by = np.array([""] * n, dtype=object)
        self.source = source

    # ---- table access ----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._cols["loss"])

    def __getitem__(self, key: Any) -> Any:
        """``runs["loss"]``: a column (an extra column kept by from_pandas too);
        ``runs[mask]`` (booleans, one per run), ``runs[[0, 3]]`` or ``runs[2:5]``: the runs
        selected, as a RunTable (RunTable.subset)."""
        if isinstance(key, str):
            if key in self._cols:
                return self._cols[key]
            if key in self._extra:
                return self._extra[key]
            raise KeyError(f"no column {key!r}: use one of {', '.join(self.columns)}"
                           + (f" or {', '.join(self._extra)}" if self._extra else ""))
        if isinstance(key, slice):
            return self.subset(np.arange(len(self))[key])
        arr = np.asarray(key)
        if arr.dtype == bool and arr.shape != (len(self),):
            raise InputError(f"a mask of {arr.size} values for {len(self)} runs", key="mask",
                             fix="give one boolean per run, e.g. runs[runs['loss'] < 3]")
        return self.subset(arr)

    def __repr__(self) -> str:
        groups = ", ".join(f"{k}: {len(g)}" for k, g in self.groups().items())
        return f"RunTable({len(self)} runs; {groups})"

    def to_pandas(self) -> Any:
        """The table as a pandas DataFrame, one row per run, extra columns after COLUMNS
        (pandas: the dev extra)."""
        from analysis.result import require_pandas

        return require_pandas().DataFrame({**{k: self._cols[k] for k in COLUMNS},
                                           **self._extra})

    @classmethod
    def from_pandas(cls, df: Any, extra: str = "refuse") -> "RunTable":
        """A RunTable from a DataFrame with COLUMNS' names or aliases (N, D or C, loss).
        extra='refuse' (default): another column is an InputError, as for a CSV; 'keep': kept
        (``runs["mine"]``, to_pandas, usable as a grouping key with grouped_by); 'drop':
        left out."""
        if extra not in ("refuse", "keep", "drop"):
            raise InputError(f"extra={extra!r}", key="extra", fix="use 'refuse', 'keep' or 'drop'")
        alias = {a for names in _ALIASES.values() for a in names} | set(COLUMNS)
        known = {c: df[c].to_numpy() for c in df.columns if c in alias}
        others = [c for c in df.columns if c not in alias]
        if others and extra == "refuse":
            raise InputError("unknown column", key=str(others[0]),
                             fix="drop it, or RunTable.from_pandas(df, extra='keep')")
        kept = {str(c): list(df[c]) for c in others} if extra == "keep" else None
        out = cls(known, extra=kept)
        out.keep_extra = extra == "keep"  # annotations the user asked to keep: fits accept them
        return out

    @property
    def group(self) -> tuple[str, ...]:
        """(objective, tokenizer) of a table holding one group, (objective, tokenizer, by) when
        grouped by more columns (``group_by``); an InputError otherwise, or when the table
        holds columns no fit knows (a CSV's extra columns not named as grouping keys)."""
        from analysis.grouping import refuse_extra

        refuse_extra(self)
        keys = sorted(set(self._keys()))
        if len(keys) != 1:
            raise InputError(f"{len(keys)} groups ({', '.join('/'.join(k) for k in keys)}); "
                             "a fit takes one objective/tokenizer at a time",
                             fix="loop over runs.groups().items()")
        return keys[0]

    def _keys(self) -> list[tuple[str, ...]]:
        return [(o, t, b) if b else (o, t) for o, t, b in
                zip(self._cols["objective"], self._cols["tokenizer"], self._by)]

    def bytes_per_token(self) -> float | None:
        """The runs' median bytes per token (the tokenizer's compression), None if unknown:
        what turns tokens per parameter into bytes per parameter."""
        bpt = self._cols["bytes_per_token"]
        return float(np.nanmedian(bpt)) if np.isfinite(bpt).any() else None

    def grouped_by(self, columns: Sequence[str] | str | None) -> "RunTable":
        """The runs with `columns` (extra CSV columns, or seed, epochs, ...) as grouping keys
        beside objective and tokenizer (analysis/grouping.py); None: the table itself."""
        from analysis.grouping import grouped_by

        return grouped_by(self, columns)

    @property
    def columns(self) -> tuple[str, ...]:
        return COLUMNS

    def rows(self) -> Iterator[dict[str, Any]]:
        """Each run as a dict of plain Python values."""
        for i in range(len(self)):
            yield {k: (v[i] if k in _STR_COLUMNS else float(v[i])) for k, v in self._cols.items()}

    def n(self, params: str = "total") -> np.ndarray:
        """Parameter count chosen for fitting: 'total' (default, Chinchilla) or 'nonembedding'."""
        if params not in ("total", "nonembedding"):
            raise InputError(f"params={params!r}", key="params", fix="use 'total' or 'nonembedding'")
        col = self._cols["n_total" if params == "total" else "n_nonembedding"]
        if np.isnan(col).any():
            bad = self._cols["run_id"][np.isnan(col)][:3]
            raise InputError(f"runs {list(bad)} have no {params} parameter count",
                             key="n_params_nonembedding", fix="use --params total")
        return col

    def n_counted(self, params: str = "total") -> str:
        """What the N fitted with `params` is, in words: 'total' / 'nonembedding' for results
        folders and CSVs that say so (columns n_params_total, n_params_nonembedding), else the
        CSV column's name ("N as given (column 'N')"): a CSV's N may be either count."""
        declared = getattr(self, "n_columns", {}).get(params)
        if declared is None or declared.lower() in ("n_params_total", "n_total",
                                                    "n_params_nonembedding", "n_nonembedding"):
            return params
        return f"N as given (column {declared!r})"

    def c(self, params: str = "total") -> np.ndarray:
        """Budget C = 6 N D with the chosen parameter count."""
        return flops_6nd(self.n(params), self._cols["tokens"])

    def subset(self, mask: np.ndarray | Sequence[int]) -> "RunTable":
        """Rows selected by a boolean mask or index array (curves stay reachable)."""
        idx = np.arange(len(self))[np.asarray(mask)] if np.asarray(mask).dtype == bool \
            else np.asarray(mask, dtype=int)
        sub = RunTable({k: v[idx] for k, v in self._cols.items()},
                       [self._run_dirs[i] for i in idx],
                       {k: v[idx] for k, v in self._extra.items()}, self.source)
        sub._curve_cache = self._curve_cache
        sub._by = self._by[idx]
        sub.n_columns = getattr(self, "n_columns", {})
        sub.group_cols = getattr(self, "group_cols", [])
        sub.keep_extra = getattr(self, "keep_extra", False)
        return sub

    def groups(self) -> "Groups":
        """Runs split by objective and tokenizer, keyed "objective/tokenizer" (as the repr prints
        them): tokens per parameter is reported per group.  ``groups()["clm"]`` also works
        when only one group has that objective (iteration and len see the full keys only)."""
        keys = self._keys()
        out = Groups()
        for key in sorted(set(keys)):
            out["/".join(key)] = self.subset(np.array([k == key for k in keys], dtype=bool))
        return out

    @property
    def has_curves(self) -> bool:
        """Whether every run has a run directory (and so maybe a metrics.jsonl)."""
        return len(self) > 0 and all(d is not None for d in self._run_dirs)

    # ---- curves (lazy) -----------------------------------------------------------------
    def curves(self, run_id: str) -> Curve:
        """The training curve of one run, read from metrics.jsonl on first use."""
        if run_id in self._curve_cache:
            return self._curve_cache[run_id]
        ids = list(self._cols["run_id"])
        if run_id not in ids:
            raise InputError(f"no run {run_id!r} in this table", fix="use one of table['run_id']")
        run_dir = self._run_dirs[ids.index(run_id)]
        if run_dir is None:
            raise InputError(f"run {run_id!r} came from a CSV and has no training curve",
                             fix="load the results folder (approach 1 needs metrics.jsonl)")
        curve = read_curve(Path(run_dir), run_id)
        self._curve_cache[run_id] = curve
        return curve

    def all_curves(self) -> dict[str, Curve]:
        """Every run's curve, keyed by run id."""
        return {rid: self.curves(rid) for rid in self._cols["run_id"]}


class Groups(dict):
    """RunTable.groups(): a dict keyed "objective/tokenizer[/by]" that also answers a key
    naming the objective alone (or objective/tokenizer of a table grouped further) when
    exactly one group matches it."""

    def __missing__(self, key: str) -> "RunTable":
        hits = [k for k in self if k.startswith(f"{key}/")]
        if len(hits) == 1:
            return self[hits[0]]
        raise KeyError(f"{key!r}: " + (f"ambiguous, use one of {', '.join(hits)}" if hits
                                       else f"no such group, use one of {', '.join(self)}"))


def _canonical(columns: Mapping[str, Any]) -> dict[str, Any]:
    """Columns under COLUMNS' names (aliases mapped); unknown names are an InputError."""
    alias = {a: col for col, names in _ALIASES.items() for a in names}
    out: dict[str, Any] = {}
    for name, values in columns.items():
        col = name if name in COLUMNS else alias.get(name)
        if col is None:
            raise InputError("unknown column", key=str(name),
                             fix=f"use {', '.join(COLUMNS)} (or N, D, C, loss); to keep your "
                                 "own columns: RunTable.from_pandas(df, extra='keep')")
        if col in out:
            raise InputError(f"given twice (as {col!r})", key=str(name), fix="give it once")
        out[col] = values
    if out.get("tokens") is None and out.get("flops") is not None and out.get("n_total") is not None:
        out["tokens"] = tokens_for_flops(np.asarray(out["flops"], dtype=float),
                                         np.asarray(out["n_total"], dtype=float))
    for col in ("n_total", "tokens", "loss"):
        if out.get(col) is None:
            raise InputError("missing column", key=col,
                             fix="give N (n_total), D (tokens) or C (flops), and loss")
    return out


def _check_required(cols: dict[str, np.ndarray]) -> None:
    """Every run needs a positive, finite N, D and loss (NaN is not a run)."""
    for col in ("n_total", "tokens", "loss"):
        bad = np.flatnonzero(~(np.isfinite(cols[col]) & (cols[col] > 0)))
        if bad.size:
            raise InputError(f"{bad.size} of {len(cols[col])} values are not positive finite "
                             f"numbers (first: row {bad[0]}, {cols[col][bad[0]]!r})", key=col,
                             fix="drop those runs, or give their N, D and loss")


def read_curve(run_dir: Path, run_id: str = "") -> Curve:
    """A run's metrics.jsonl as a Curve (runstore.read_metrics), skipping with an
    AnalysisWarning each line that is not a complete metrics record."""
    keys = ("step", "tokens", "flops", "lr", "train_loss", "eval_loss")
    path = RunDir(run_dir).metrics
    if not path.exists():
        raise InputError("missing", file=str(path), fix="rerun the run, or drop it from the folder")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = read_metrics(run_dir)
    for w in caught:  # runstore's warning, re-issued under this package's category
        warnings.warn(str(w.message), AnalysisWarning, stacklevel=2)
    cols = {k: [_num(r.get(k)) for r in records] for k in keys}
    arrays = {k: np.asarray(v, dtype=float) for k, v in cols.items()}
    return Curve(run_id=run_id, **arrays)


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def concat(tables: Sequence[RunTable]) -> RunTable:
    """Rows of several tables, in order (an extra column missing from a table is empty there)."""
    cols = {k: np.concatenate([t[k] for t in tables]) for k in COLUMNS}
    dirs = [d for t in tables for d in t._run_dirs]
    names = sorted({k for t in tables for k in t._extra})
    extra = {k: np.concatenate([t._extra.get(k, np.array([""] * len(t), dtype=object))
                                for t in tables]) for k in names}
    sources = sorted({t.source for t in tables if t.source})
    out = RunTable(cols, dirs, extra, ", ".join(sources) or None)
    out._by = np.concatenate([t._by for t in tables])
    declared = [getattr(t, "n_columns", {}) for t in tables if len(t)]
    if declared and all(d == declared[0] for d in declared):
        out.n_columns = declared[0]
    return out
