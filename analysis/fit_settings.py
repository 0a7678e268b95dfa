"""Fit settings: command-line flags, else RESULTS/fit.yaml, else the defaults.

A results folder may hold ``fit.yaml`` with the settings its committed fits were made with
(``bootstrap: 1000``, ``params: both``, ...), so that a bare ``scaling fit RESULTS`` reproduces
them and a README can quote the command without flags.  The file is safe-loaded YAML (the
contract's loader: 1e12 is a number); an unknown key or a bad value is an InputError naming the
file, the key and the fix (exit code 2).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from analysis.contract import InputError, load_yaml_text

FILE = "fit.yaml"

#: Built-in defaults (the CLI flags' documented defaults).
DEFAULTS: dict[str, Any] = {
    "approach": None, "bootstrap": 0, "params": "total", "seed": 0, "level": 0.8,
    "delta": 1e-3, "budgets": "data", "outlier_mad": None,
}
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
    if key == "approach":
        if isinstance(v, list) and v and all(_int(x) for x in v):
            return ",".join(map(str, v)), None
        return v, None if v is None or isinstance(v, str) else "must be a list such as [2, 3]"
    if key == "budgets":
        fs = [_float(x) for x in v] if isinstance(v, list) else []
        if fs and all(x is not None and x > 0 for x in fs):
            return ",".join(f"{x:g}" for x in fs), None
        return v, None if v == "data" else "must be 'data' or a list of FLOPs such as [1e12, 1e13]"
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
    """Fill every setting left as None on `args` from source/fit.yaml, then the defaults."""
    stored = read(source) if Path(source).is_dir() else {}
    for key, default in DEFAULTS.items():
        if getattr(args, key, None) is None:
            setattr(args, key, stored.get(key, default))
    return args
