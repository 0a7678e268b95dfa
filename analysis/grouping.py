"""Grouping keys beyond objective and tokenizer, and the refusal of columns no fit knows.

A CSV from elsewhere often holds several experiments in one file, told apart by a column such
as ``setting``.  Dropping that column silently fits them as one (two settings fitted
together gave a = 0.541, neither setting's own), so a column that is not one of the RunTable's
(``COLUMNS`` or their CSV aliases) is kept aside by the CSV reader and every fit refuses the
table until it is named as a grouping key: ``--group-by setting`` (``group_by: [setting]`` in
fit.yaml, ``FitOptions(group_by=["setting"])`` or ``runs.grouped_by("setting")`` in a
notebook).  Known columns (seed, epochs, ...) may be grouping keys too.  A group's name is then
"objective/tokenizer/setting=A" and its fit files end in "-setting=A".
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from runstore import InputError


def _names(v: Any) -> list[str] | None:
    if isinstance(v, str):
        return [c.strip() for c in v.split(",") if c.strip()]
    if isinstance(v, (list, tuple)) and all(isinstance(c, str) and c.strip() for c in v):
        return [c.strip() for c in v]
    return None


def check_group_by(v: Any) -> tuple[Any, str | None]:
    """(the columns as a tuple, problem or None): a column name, a comma list or a list."""
    if v is None:
        return None, None
    names = _names(v)
    if not names:
        return v, "must be a column name or a list of them, e.g. [setting]"
    return tuple(names), None


def known_columns() -> list[str]:
    from analysis.columns import ALIASES as _ALIASES
    from analysis.columns import COLUMNS

    return sorted({*COLUMNS, *(a for names in _ALIASES.values() for a in names)} - {"flops_6nd"},
                  key=str.lower)


def refuse_extra(table: Any) -> None:
    """InputError when the table holds columns outside the RunTable's (not grouping keys)."""
    if not table._extra or getattr(table, "keep_extra", False):
        return
    names = sorted(table._extra)
    raise InputError(
        f"unknown column{'s' if len(names) > 1 else ''} {', '.join(map(repr, names))} "
        f"(known: {', '.join(known_columns())})", file=table.source, key=names[0],
        fix=f"to fit each value's runs apart, --group-by {','.join(names)} (group_by in "
            "fit.yaml or FitOptions); else delete the column")


def _values(table: Any, col: str) -> np.ndarray:
    from analysis.columns import ALIASES as _ALIASES
    from analysis.columns import COLUMNS
    from analysis.columns import STR_COLUMNS as _STR_COLUMNS

    if col in table._extra:
        return table._extra[col]
    canon = col if col in COLUMNS else next(
        (k for k, names in _ALIASES.items() if col.lower() in (n.lower() for n in names)), None)
    if canon is None:
        raise InputError(f"no column {col!r} to group by", file=table.source, key="group_by",
                         fix=f"name a column of the data: {', '.join(sorted(table._extra)) or 'none extra'}"
                             f" or one of {', '.join(COLUMNS)}")
    v = table[canon]
    return v if canon in _STR_COLUMNS else np.array([f"{x:g}" for x in v], dtype=object)


def grouped_by(table: Any, columns: Sequence[str] | str | None) -> Any:
    """A copy of `table` whose groups are also split by `columns` (their values)."""
    names = _names(columns) if columns is not None else []
    if columns is not None and not names:
        raise InputError(f"{columns!r} is not a column name or a list of them", key="group_by",
                         fix="e.g. --group-by setting")
    if not names or getattr(table, "group_cols", []) == names:
        return table  # nothing asked, or grouped so already (the CLI, then fit_all)
    out = table.subset(np.ones(len(table), dtype=bool))
    vals = [_values(table, c) for c in names]
    safe = lambda s: re.sub(r"[^A-Za-z0-9._=+-]", "_", str(s))
    out._by = np.array([",".join(f"{safe(c)}={safe(v[i])}" for c, v in zip(names, vals))
                        for i in range(len(table))], dtype=object)
    out._extra = {k: v for k, v in table._extra.items() if k not in names}
    out.group_cols = names
    return out
