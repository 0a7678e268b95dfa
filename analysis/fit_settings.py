"""Fit settings, one options object (`FitOptions`) for the CLI, fit.yaml and notebooks.

Command-line flags win, else RESULTS/fit.yaml, else the defaults; every value goes through the
same checks (`_check`) wherever it comes from, so `--level 2` and `level: 2` in fit.yaml give the
same one-line error.  Budgets default to the data's own ('data': each IsoFLOP budget of the
group, exact: analysis/budgets.py) in the CLI and in the notebook functions alike.

A results folder may hold ``fit.yaml`` with the settings its committed fits were made with
(``bootstrap: 1000``, ``params: both``, ...), so that a bare ``scaling fit RESULTS`` reproduces
them and a README can quote the command without flags.  The file is safe-loaded YAML (the
contract's loader: 1e12 is a number); an unknown key or a bad value is an InputError naming the
file, the key and the fix (exit code 2).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from runstore import InputError, load_yaml_text

FILE = "fit.yaml"

#: Built-in defaults (the CLI flags' documented defaults).
DEFAULTS: dict[str, Any] = {
    "approach": None, "bootstrap": 0, "params": "total", "seed": 0, "level": 0.8,
    "delta": 1e-3, "budgets": "data", "outlier_mad": None, "holdout": None,
    "estimator": "window", "window_dex": 0.5, "group_by": None,
}
#: What each setting holds, for the errors' fixes.
_FLAG = {k: "--" + k.replace("_", "-") for k in DEFAULTS}
_PARAMS = ("total", "nonembedding", "both")


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _float(v: Any) -> float | None:
    """v as a finite float (an int or a float; not a bool, not a string), else None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def _check(key: str, v: Any) -> tuple[Any, str | None]:
    """(value as the CLI would hold it, problem or None)."""
    if key in ("bootstrap", "seed"):
        return v, None if _int(v) and v >= 0 else "must be an integer >= 0"
    if key == "params":
        return v, None if v in _PARAMS else f"must be one of {', '.join(_PARAMS)}"
    f = _float(v)
    if key == "level":
        return f, None if f is not None and 0 < f < 1 else "must be a number in (0, 1), e.g. 0.8"
    if key == "delta":
        return f, None if f is not None and f > 0 else "must be a number > 0, e.g. 1e-3"
    if key == "outlier_mad":
        return f, None if v is None or (f is not None and f > 0) else "must be a number > 0 or null"
    if key == "holdout":
        return v, None if v in (None, "largest") else "must be 'largest' (or left out)"
    if key == "approach":
        if isinstance(v, list) and v and all(_int(x) for x in v):
            return ",".join(map(str, v)), None
        return v, None if v is None or isinstance(v, str) else "must be a list such as [2, 3]"
    if key == "budgets":
        fs = [_float(x) for x in v] if isinstance(v, list) else []
        if fs and all(x is not None and x > 0 for x in fs):
            return ",".join(f"{x:g}" for x in fs), None
        return v, None if v == "data" else "must be 'data' or a list of FLOPs such as [1e12, 1e13]"
    if key in ("estimator", "window_dex"):
        from analysis.isoflop_min import check_option
        return v, check_option(key, v)
    if key == "group_by":
        from analysis.grouping import check_group_by
        return check_group_by(v)
    raise AssertionError(key)


def read(folder: Path) -> dict[str, Any]:
    """The settings in folder/fit.yaml ({} when there is none), validated."""
    path = Path(folder) / FILE
    if not path.is_file():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"unreadable ({exc})", file=str(path), fix="fix or delete the file") from None
    try:
        raw = load_yaml_text(text, file=str(path))
    except InputError as exc:
        raise InputError(exc.detail, file=exc.file, line=exc.line,
                         fix="fix the syntax or delete the file") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InputError("must be a mapping of fit settings", file=str(path),
                         fix=f"e.g. 'bootstrap: 1000' (keys: {', '.join(DEFAULTS)})")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        norm = str(key).replace("-", "_")
        if norm not in DEFAULTS:
            raise InputError("unknown setting", file=str(path), key=str(key),
                             fix=f"use one of {', '.join(DEFAULTS)}")
        value, problem = _check(norm, value)
        if problem:
            raise InputError(f"{problem}, got {value!r}", file=str(path), key=str(key),
                             fix="correct the value or remove the key")
        out[norm] = value
    return out


def resolve(args: Any, source: Path) -> Any:
    """Fill every setting left as None on `args` from source/fit.yaml, then the defaults, and
    check the command line's own values as fit.yaml's are checked (exit 2 naming the flag)."""
    stored = read(source) if Path(source).is_dir() else {}
    for key, default in DEFAULTS.items():
        given = getattr(args, key, None)
        if given is None:
            setattr(args, key, stored.get(key, default))
        elif key not in ("approach", "budgets"):  # comma lists: parsed and checked by the CLI
            value, problem = _check(key, given)
            if problem:
                raise InputError(f"{problem}, got {given!r}", key=_FLAG[key],
                                 fix="correct the value or leave the flag out")
    return args


@dataclasses.dataclass(frozen=True)
class FitOptions:
    """The fit settings (fit.yaml's keys, the CLI's flags), checked on construction.

    budgets: 'data' (the group's own C range) or a sequence of FLOPs.  In a notebook:
    ``analysis.fit_all(runs, FitOptions(bootstrap=200))`` or ``FitOptions.from_folder(path)``.
    """

    approach: Sequence[int] | None = None
    bootstrap: int = 0
    params: str = "total"
    seed: int = 0
    level: float = 0.8
    delta: float = 1e-3
    budgets: Any = "data"
    outlier_mad: float | None = None
    holdout: str | None = None
    estimator: str = "window"
    """Approach 2's per-budget minimum: window (parabola near the lowest loss), all, akima."""
    window_dex: float = 0.5
    """Half-width of approach 2's window in decades of N (at least 5 sizes)."""
    group_by: Any = None
    """Columns (a CSV's extra ones, or seed, epochs) whose values split the runs into groups."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            v = list(v) if f.name in ("approach", "budgets") and isinstance(v, tuple) else v
            if f.name in ("approach", "group_by") and v is None:
                continue
            _, problem = _check(f.name, v)
            if problem:
                raise InputError(f"{problem}, got {v!r}", key=f.name,
                                 fix="correct the value or leave it out")

    @classmethod
    def from_folder(cls, folder: str | Path, **overrides: Any) -> "FitOptions":
        """The settings in folder/fit.yaml, with `overrides` on top."""
        stored = read(Path(folder)) if Path(folder).is_dir() else {}
        if isinstance(stored.get("approach"), str):
            stored["approach"] = [int(a) for a in stored["approach"].split(",")]
        if isinstance(stored.get("budgets"), str) and stored["budgets"] != "data":
            stored["budgets"] = [float(b) for b in stored["budgets"].split(",")]
        return cls(**{**stored, **overrides})

    def fit_kwargs(self, runs: Any, params: str) -> dict[str, Any]:
        """Keyword arguments every approach's function takes, budgets resolved for `runs`."""
        return dict(params=params, bootstrap=self.bootstrap, level=self.level, seed=self.seed,
                    budgets=reporting_budgets(self.budgets, runs, params))


def data_budgets(runs: Any, params: str = "total") -> tuple[float, ...]:
    """The runs' own budgets, exact (analysis/budgets.py)."""
    from analysis.budgets import data_budgets as own

    return own(runs, params)


def reporting_budgets(budgets: Any, runs: Any, params: str) -> tuple[float, ...]:
    """'data' or None -> data_budgets(runs); a sequence of FLOPs as given."""
    if budgets is None or (isinstance(budgets, str) and budgets == "data"):
        return data_budgets(runs, params)
    return tuple(float(b) for b in budgets)
