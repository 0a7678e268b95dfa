"""Runs from a CSV (N, D or C, loss): strict about what it accepts, one clear line when not.

UTF-8 only (a BOM is dropped), each column once, no row longer than the header, finite
numbers; every refusal is an InputError naming the file, the line and the column.

Column names are matched without regard to case, under the aliases of ``load._ALIASES``:
N = n = params = n_params = parameters, D = d = tokens, C = c = flops = compute, loss = L.
A column that is none of these is kept aside and refused by every fit unless it is named as
a grouping key (``--group-by``; analysis/grouping.py): a `setting` column that tells two
experiments apart is never dropped silently.  Given N, D and C, C must be 6ND or the exact
FLOPs (within a factor 2 of 6ND, and the same factor for every run to 10%); otherwise the
rows that disagree are named.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from analysis.columns import ALIASES as _ALIASES
from analysis.columns import STR_COLUMNS as _STR_COLUMNS
from analysis.table import RunTable
from runstore import InputError, flops_6nd, tokens_for_flops


def from_csv(path: str | Path) -> RunTable:
    """Runs from a CSV with columns N (or n_params), D (or tokens) or C (flops), and loss.

    When only C is given, D = C / (6 N).  Optional: run_id, objective, tokenizer, bpb, seed,
    n_params_nonembedding, bytes_per_token.  Bad input raises InputError naming the
    file, the column and the fix.
    """
    path = Path(path)
    header, records = _read_csv_rows(path)
    src = _match_columns(path, header)
    fix = "give columns N (or n_params), D (or tokens) or C (or flops), and loss"
    if src["n_total"] is None:
        raise InputError(f"missing column (header: {header})", file=str(path), key="N", fix=fix)
    if src["loss"] is None:
        raise InputError(f"missing column (header: {header})", file=str(path), key="loss", fix=fix)
    if src["tokens"] is None and src["flops"] is None:
        raise InputError(f"missing column D/tokens and C/flops (header: {header})", file=str(path),
                         key="D", fix=fix)
    if not records:
        raise InputError("no data rows", file=str(path), fix="add one row per run")

    cols = _csv_values(path, records, src)
    n = np.asarray(cols["n_total"], dtype=float)
    if "tokens" not in cols:
        cols["tokens"] = list(tokens_for_flops(np.asarray(cols["flops"], dtype=float), n))
    for col in ("n_total", "tokens", "loss"):
        arr = np.asarray(cols[col], dtype=float)
        bad = np.flatnonzero(~(arr > 0))
        if bad.size:
            raise InputError("missing, zero, negative or non-numeric value", file=str(path),
                             line=int(bad[0]) + 2, key=src[col] or col,
                             fix="every row needs positive N, D (or C) and loss")
    if "flops" in cols and src["tokens"] is not None:
        _check_flops(path, np.asarray(cols["flops"], dtype=float), n,
                     np.asarray(cols["tokens"], dtype=float), src["flops"])
    cols.pop("flops", None)  # always recomputed as 6 N D with total N
    used = {v for v in src.values() if v is not None}
    extra = {h: [rec.get(h) or "" for rec in records] for h in header if h and h not in used}
    table = RunTable(cols, None, extra, str(path))
    table.n_columns = {"total": src["n_total"], "nonembedding": src["n_nonembedding"]}
    return table


def _match_columns(path: Path, header: list[str]) -> dict[str, str | None]:
    """The header's column for each RunTable column (aliases, any case); two headers for one
    column are refused."""
    src: dict[str, str | None] = {}
    for col, aliases in _ALIASES.items():
        names = {a.lower() for a in aliases}
        hits = [h for h in header if h.lower() in names]
        if len(hits) > 1:
            raise InputError(f"columns {', '.join(map(repr, hits))} all mean {col!r}",
                             file=str(path), line=1, key=hits[1], fix="keep one of them")
        src[col] = hits[0] if hits else None
    return src


def _check_flops(path: Path, c: np.ndarray, n: np.ndarray, d: np.ndarray, name: str | None
                 ) -> None:
    """A C column beside N and D must be 6ND or the exact FLOPs: within a factor 2 of 6ND,
    by one factor for every run (to 10%); else an InputError naming the rows that disagree."""
    ok = np.isfinite(c) & (c > 0)
    ratio = c / flops_6nd(n, d)
    med = float(np.median(ratio[ok])) if ok.any() else 1.0
    bad = np.flatnonzero(~ok | (ratio < 0.5) | (ratio > 2.0) | (np.abs(ratio / med - 1) > 0.1))
    if bad.size:
        rows = ", ".join(str(i + 2) for i in bad[:5]) + (" ..." if bad.size > 5 else "")
        raise InputError(f"C disagrees with 6ND on {bad.size} of {len(c)} rows (lines {rows}; "
                         f"C/6ND = {ratio[bad[0]]:.3g} on line {bad[0] + 2})", file=str(path),
                         line=int(bad[0]) + 2, key=name or "C",
                         fix="give C = 6 N D (or the exact FLOPs), or drop the C column")


def _read_csv_rows(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """Header and rows of a UTF-8 CSV (a BOM is dropped); a duplicated column name, a row with
    more cells than the header, or bytes that are not UTF-8 are an InputError naming the line."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise InputError(f"cannot read CSV ({exc})", file=str(path), fix="check the path") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start}: {exc.object[exc.start:exc.start + 1]!r})",
                         file=str(path), fix="save the file as UTF-8") from None
    except csv.Error as exc:
        raise InputError(f"not a valid CSV ({exc})", file=str(path), fix="fix the file") from None
    header = [h.strip() for h in rows[0]] if rows else []
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise InputError("column given twice", file=str(path), line=1, key=dup[0],
                         fix="keep one column of each name")
    records = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) > len(header):
            raise InputError(f"{len(row)} cells but the header has {len(header)}", file=str(path),
                             line=lineno, fix="remove the extra cells or name their column")
        records.append(dict(zip(header, row)))
    return header, records


def _csv_values(path: Path, records: list[dict[str, Any]], src: dict[str, str | None]
                ) -> dict[str, list[Any]]:
    """Each found column's values (strings or floats; an empty cell is NaN); row 1 is the header."""
    cols: dict[str, list[Any]] = {}
    for col, name in src.items():
        if name is None:
            continue
        values: list[Any] = []
        for lineno, rec in enumerate(records, start=2):
            raw = (rec.get(name) or "").strip()
            if col in _STR_COLUMNS:
                values.append(raw)
                continue
            try:
                v = float(raw) if raw else math.nan
            except ValueError:
                v = None
            if v is None or math.isinf(v):
                raise InputError(f"not a finite number: {raw!r}", file=str(path), line=lineno,
                                 key=name, fix="write plain numbers such as 1.2e8") from None
            values.append(v)
        cols[col] = values
    return cols
