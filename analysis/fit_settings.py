"""Fit settings: one documented options class (`FitOptions`) for the CLI, fit.yaml and notebooks.

The settings are loaded the way the run config is: typed fields, each with a one-line doc
(`field(metadata={"doc": ...})`, what `scaling config show fit` prints), layered lowest first as
the defaults, RESULTS/fit.yaml, `--set KEY=VALUE` (a YAML value, as for `scaling train`), then
the named flags (`--bootstrap 1000`).  Every value goes through the same check (`_check`)
wherever it comes from, so `--level 2`, `--set level=2` and `level: 2` in fit.yaml give the same
one-line error naming the flag, `--set` or the file.  Lists stay lists (`approach` a tuple of
ints, `budgets` 'data' or a tuple of FLOPs): nothing is joined into "2,3" and split again.
Budgets default to the data's own ('data': each IsoFLOP budget of the group, exact:
analysis/budgets.py) in the CLI and in the notebook functions alike.

A results folder may hold ``fit.yaml`` with the settings its committed fits were made with
(``bootstrap: 1000``, ``params: both``, ...), so that a bare ``scaling fit RESULTS`` reproduces
them and a README can quote the command without flags.  The file is safe-loaded YAML
(runstore's loader: 1e12 is a number); an unknown key or a bad value is an InputError naming
the file, the key and the fix (exit code 2).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from analysis.bootstrap import INTERVAL_METHODS
from runstore import InputError, load_yaml_text, parse_override

FILE = "fit.yaml"
_PARAMS = ("total", "nonembedding", "both")
#: Approach 3's bootstrap draws and interval constructions (analysis/parametric.py).
_RESAMPLE = ("runs", "residuals")
#: The most bootstrap resamples: beyond, intervals no longer tighten (their Monte-Carlo error is
#: already ~0.3% of their width at 1e5) and memory and time grow without bound.
MAX_BOOTSTRAP = 100_000


def _doc(text: str, default: Any) -> Any:
    """A field with its one-line doc (the convention of scaling.configio.doc, which analysis
    does not import)."""
    return dataclasses.field(default=default, metadata={"doc": text})


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _float(v: Any) -> float | None:
    """v as a finite float (an int or a float; not a bool, not a string), else None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def _check(key: str, v: Any) -> tuple[Any, str | None]:
    """(the value as FitOptions holds it, problem or None)."""
    if key == "bootstrap":
        return v, None if _int(v) and 0 <= v <= MAX_BOOTSTRAP else \
            f"must be an integer in [0, {MAX_BOOTSTRAP:,}], e.g. 1000"
    if key == "seed":
        return v, None if _int(v) and v >= 0 else "must be an integer >= 0"
    if key == "params":
        return v, None if v in _PARAMS else f"must be one of {', '.join(_PARAMS)}"
    if key == "resample":
        return v, None if v in _RESAMPLE else f"must be one of {', '.join(_RESAMPLE)}"
    if key == "interval_method":
        return v, None if v in INTERVAL_METHODS else \
            f"must be one of {', '.join(INTERVAL_METHODS)}"
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
        if v is None:
            return None, None
        if isinstance(v, (list, tuple)) and v and all(_int(x) and x in (1, 2, 3) for x in v):
            return tuple(sorted(set(v))), None
        return v, "must be a list of 1, 2 and 3 such as [2, 3]"
    if key == "budgets":
        if isinstance(v, str) and v == "data":
            return v, None
        fs = [_float(x) for x in v] if isinstance(v, (list, tuple)) else []
        if fs and all(x is not None and x > 0 for x in fs):
            return tuple(fs), None
        return v, "must be 'data' or a list of FLOPs such as [1e12, 1e13]"
    if key in ("estimator", "window_dex"):
        from analysis.isoflop_min import check_option
        return v, check_option(key, v)
    if key == "group_by":
        if v is None:
            return None, None
        from analysis.grouping import check_group_by
        return check_group_by(v)
    raise AssertionError(key)


@dataclasses.dataclass(frozen=True)
class FitOptions:
    """Fit settings (RESULTS/fit.yaml, --set KEY=VALUE, the flags of scaling fit and plot)

    Checked on construction; lists become tuples.  In a notebook:
    ``analysis.fit_all(runs, FitOptions(bootstrap=200))`` or ``FitOptions.from_folder(path)``.
    """

    approach: tuple[int, ...] | None = _doc(
        "approaches to fit, a list of 1, 2, 3 (null: every one that applies; 2 and 3 for a CSV)",
        None)
    bootstrap: int = _doc("bootstrap resamples for every interval (0: no intervals)", 0)
    params: Literal["total", "nonembedding", "both"] = _doc(
        "N counted in the fits; both: fit with each (figures use total)", "total")
    seed: int = _doc("random seed of the bootstrap", 0)
    level: float = _doc("interval level, in (0, 1)", 0.8)
    delta: float = _doc("Huber delta of approach 3's objective", 1e-3)
    budgets: str | tuple[float, ...] = _doc(
        "budgets C of the allocation table: 'data' (each IsoFLOP budget of the runs, exact; no "
        "extrapolation) or a list of FLOPs", "data")
    outlier_mad: float | None = _doc(
        "approach 3: drop runs with |residual| > K robust sd, then refit (null: keep all)", None)
    resample: Literal["runs", "residuals"] = _doc(
        "approach 3's bootstrap: runs (pairs: runs drawn with replacement) or residuals", "runs")
    interval_method: Literal["bc", "percentile"] = _doc(
        "approach 3's intervals: bc (bias-corrected percentile; coverage measured in "
        "analysis/parametric.py) or percentile", "bc")
    holdout: Literal["largest"] | None = _doc(
        "'largest': fit on every budget but the largest and predict it (approaches 2, 3)", None)
    estimator: Literal["window", "all", "akima"] = _doc(
        "approach 2's per-budget minimum: window (a parabola through the sizes near the lowest "
        "loss), all (one parabola through every size), akima (interpolation)", "window")
    window_dex: float = _doc("half-width of approach 2's window in decades of N (at least 5 "
                             "sizes)", 0.5)
    group_by: tuple[str, ...] | None = _doc(
        "columns (a CSV's extra ones, or seed, epochs) whose values split the runs into groups",
        None)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            value, problem = _check(f.name, v)
            if problem:
                raise InputError(f"{problem}, got {v!r}", key=f.name,
                                 fix="correct the value or leave it out")
            object.__setattr__(self, f.name, value)

    @classmethod
    def from_folder(cls, folder: str | Path, **overrides: Any) -> "FitOptions":
        """The settings in folder/fit.yaml, with `overrides` on top."""
        stored = read(Path(folder)) if Path(folder).is_dir() else {}
        return cls(**{**stored, **overrides})

    def fit_kwargs(self, runs: Any, params: str) -> dict[str, Any]:
        """Keyword arguments every approach's function takes, budgets resolved for `runs`."""
        return dict(params=params, bootstrap=self.bootstrap, level=self.level, seed=self.seed,
                    budgets=reporting_budgets(self.budgets, runs, params))


def check_kwargs(**values: Any) -> None:
    """The checks of FitOptions on a function's keyword arguments (``fit_parametric(g,
    level=-0.5)``): a one-line InputError naming the argument, as the CLI names its flag."""
    for key, v in values.items():
        if key == "budgets" and v is None:
            continue
        _, problem = _check(key, v)
        if problem:
            raise InputError(f"{problem}, got {v!r}", key=key,
                             fix="correct the argument or leave it out")


def with_kwargs(options: "FitOptions | None", kwargs: Mapping[str, Any]) -> "FitOptions":
    """`options` (default FitOptions()) with keyword arguments on top, each checked; an
    unknown keyword is an InputError listing the settings."""
    unknown = sorted(set(kwargs) - set(DEFAULTS))
    if unknown:
        raise InputError(f"unknown setting {unknown[0]!r}", key=unknown[0],
                         fix=f"use one of {', '.join(DEFAULTS)}")
    base = options or FitOptions()
    return dataclasses.replace(base, **kwargs) if kwargs else base


#: Every setting and its default (FitOptions' fields).
DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(FitOptions)}
#: The flag of each setting, for the errors about a flag's value.
_FLAG = {k: "--" + k.replace("_", "-") for k in DEFAULTS}


def _setting(key: Any, value: Any, file: str, fix: str) -> tuple[str, Any]:
    """(setting name, checked value) of one `key: value` from fit.yaml or --set."""
    norm = str(key).removeprefix("fit.").replace("-", "_")
    if norm not in DEFAULTS:
        raise InputError("unknown setting", file=file, key=str(key),
                         fix=f"use one of {', '.join(DEFAULTS)} (scaling config show fit)")
    checked, problem = _check(norm, value)
    if problem:
        raise InputError(f"{problem}, got {value!r}", file=file, key=str(key), fix=fix)
    return norm, checked


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
    return dict(_setting(k, v, str(path), "correct the value or remove the key")
                for k, v in raw.items())


def parse_sets(sets: Sequence[str]) -> dict[str, Any]:
    """`--set KEY=VALUE` settings (fit.yaml's keys, optionally as fit.KEY; the value read as
    YAML, e.g. --set approach=[2,3]), validated; errors name --set and the key."""
    out: dict[str, Any] = {}
    for text in sets:
        keys, value = parse_override(text, "--set", example="bootstrap=1000",
                                     value_fix="write a YAML value, e.g. --set budgets=[1e18,1e22]")
        name, checked = _setting(".".join(keys), value, "--set", "correct the value")
        out[name] = checked
    return out


def load(source: str | Path, flags: Mapping[str, Any] | None = None,
         sets: Sequence[str] = ()) -> FitOptions:
    """The options of a fit of `source`: the defaults, under source/fit.yaml (for a folder),
    under `--set` settings, under the flags given (None: not given; errors name the flag)."""
    values = read(Path(source)) if Path(source).is_dir() else {}
    values.update(parse_sets(sets))
    for key, given in (flags or {}).items():
        if given is None:
            continue
        value, problem = _check(key, given)
        if problem:
            raise InputError(f"{problem}, got {given!r}", key=_FLAG[key],
                             fix="correct the value or leave the flag out")
        values[key] = value
    return FitOptions(**values)


def data_budgets(runs: Any, params: str = "total") -> tuple[float, ...]:
    """The runs' own budgets, exact (analysis/budgets.py)."""
    from analysis.budgets import data_budgets as own

    return own(runs, params)


def reporting_budgets(budgets: Any, runs: Any, params: str) -> tuple[float, ...]:
    """'data' or None -> data_budgets(runs); a sequence of FLOPs as given."""
    if budgets is None or (isinstance(budgets, str) and budgets == "data"):
        return data_budgets(runs, params)
    return tuple(float(b) for b in budgets)
