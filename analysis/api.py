"""Fit every group of a RunTable with every approach asked for: what `scaling fit` and a
notebook's ``analysis.fit_all(runs, options)`` both do (one FitOptions, one loop)."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

from analysis.fit_settings import FitOptions, with_kwargs
from analysis.grouping import refuse_extra
from analysis.numeric import numeric_warnings
from analysis.table import AnalysisWarning, RunTable
from runstore import InputError


def param_counts(params: str, cmd: str = "fit") -> list[str]:
    """The N counts to fit: 'both' is total and non-embedding for fit, total for plot."""
    if params != "both":
        return [params]
    return ["total"] if cmd == "plot" else ["total", "nonembedding"]


def fit_one(k: int, group: RunTable, options: FitOptions, params: str) -> Any:
    """Approach k on one group with the options' settings."""
    from analysis import approach1, approach2, parametric

    common = options.fit_kwargs(group, params)
    if k == 1:
        return approach1.envelope_fit(group, **common)
    if k == 2:
        return approach2.isoflop(group, estimator=options.estimator,
                                 window_dex=options.window_dex, **common)
    return parametric.fit_parametric(group, delta=options.delta, outlier_mad=options.outlier_mad,
                                     resample=options.resample,
                                     interval_method=options.interval_method, **common)


def fit_all(runs: RunTable, options: FitOptions | None = None, cmd: str = "fit",
            approaches: list[int] | None = None, explicit: bool | None = None,
            **settings: Any) -> list[tuple[str, Any]]:
    """[(file stem, fit)] for every N count, group and approach.  An approach that does not
    apply to a group (approach 2 on an N x D grid) is one warning line, unless the approaches
    were asked for explicitly (then its InputError stands).  ``settings``: FitOptions' fields
    as keywords on top of `options` (``fit_all(runs, bootstrap=200)``), checked the same way."""
    options = with_kwargs(options, settings)
    if approaches is None:
        approaches = sorted(options.approach) if options.approach else [1, 2, 3]
    explicit = bool(options.approach) if explicit is None else explicit
    runs = runs.grouped_by(options.group_by)
    refuse_extra(runs)  # a column no fit knows: refused before anything is fitted
    fits: list[tuple[str, Any]] = []
    for params in param_counts(options.params, cmd):
        suffix = "" if params == "total" else f"-{params}"
        for key, group in runs.groups().items():
            tag = "-".join(group.group)
            for k in approaches:
                try:
                    with numeric_warnings(f"approach {k}, {key} ({params} N)"):
                        fit = fit_one(k, group, options, params)
                except InputError as exc:
                    if explicit:
                        raise
                    warnings.warn(f"approach {k} skipped for {key} ({params} N): {exc.detail}",
                                  AnalysisWarning, stacklevel=2)
                    continue
                label = group.n_counted(params)
                if label != params:
                    fit = dataclasses.replace(fit, n_counted=label)
                fits.append((f"approach{k}-{tag}{suffix}", fit))
    return fits
