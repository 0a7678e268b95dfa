"""Loading stored results (results/<sweep>/runs/<run-id>/...) or a CSV into a RunTable.

The reader needs none of the writer's code: summary.json and metrics.jsonl are plain JSON.
Runs whose status is not "done" are left out with a warning that names them; a half-written
metrics line is skipped with a warning; a corrupt summary.json is an AnalysisInputError that
names the file and the fix (the CLI turns it into exit code 2).
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from analysis.errors import AnalysisInputError, input_error


class AnalysisWarning(UserWarning):
    """A run or line was skipped, or a fit had to drop something: always worth reading."""


#: summary.json keys a done run must have (the rest are optional).
REQUIRED_KEYS = ("status", "n_params_total", "tokens", "final_eval_loss")

#: Column names of a RunTable, in order.
COLUMNS = (
    "run_id", "objective", "tokenizer", "n_total", "n_nonembedding", "tokens", "flops",
    "loss", "bpb", "status", "epochs", "seed", "bytes_per_token",
)
_STR_COLUMNS = {"run_id", "objective", "tokenizer", "status"}


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
    """

    def __init__(self, columns: Mapping[str, Any], run_dirs: Sequence[str | None] | None = None):
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
        if columns.get("flops") is None or np.isnan(self._cols["flops"]).all():
            self._cols["flops"] = 6.0 * self._cols["n_total"] * self._cols["tokens"]
        self._run_dirs = list(run_dirs) if run_dirs is not None else [None] * n
        self._curve_cache: dict[str, Curve] = {}

    # ---- table access ----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._cols["loss"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self._cols[name]

    def __repr__(self) -> str:
        groups = ", ".join(f"{o}/{t}: {len(g)}" for (o, t), g in self.groups().items())
        return f"RunTable({len(self)} runs; {groups})"

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
            raise AnalysisInputError(f"params={params!r}. Fix: use 'total' or 'nonembedding'")
        col = self._cols["n_total" if params == "total" else "n_nonembedding"]
        if np.isnan(col).any():
            bad = self._cols["run_id"][np.isnan(col)][:3]
            raise AnalysisInputError(
                f"runs {list(bad)} have no {params} parameter count. Fix: use --params total")
        return col

    def c(self, params: str = "total") -> np.ndarray:
        """Budget C = 6 N D with the chosen parameter count."""
        return 6.0 * self.n(params) * self._cols["tokens"]

    def subset(self, mask: np.ndarray | Sequence[int]) -> "RunTable":
        """Rows selected by a boolean mask or index array (curves stay reachable)."""
        idx = np.arange(len(self))[np.asarray(mask)] if np.asarray(mask).dtype == bool \
            else np.asarray(mask, dtype=int)
        sub = RunTable({k: v[idx] for k, v in self._cols.items()},
                       [self._run_dirs[i] for i in idx])
        sub._curve_cache = self._curve_cache
        return sub

    def groups(self) -> dict[tuple[str, str], "RunTable"]:
        """Runs split by (objective, tokenizer): tokens per parameter is reported per group."""
        keys = list(zip(self._cols["objective"], self._cols["tokenizer"]))
        out: dict[tuple[str, str], RunTable] = {}
        for key in sorted(set(keys)):
            out[key] = self.subset(np.array([k == key for k in keys], dtype=bool))
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
            raise AnalysisInputError(f"no run {run_id!r} in this table. Fix: use one of table['run_id']")
        run_dir = self._run_dirs[ids.index(run_id)]
        if run_dir is None:
            raise AnalysisInputError(
                f"run {run_id!r} came from a CSV and has no training curve. "
                "Fix: load the results folder (approach 1 needs metrics.jsonl)")
        curve = read_metrics(Path(run_dir) / "metrics.jsonl", run_id)
        self._curve_cache[run_id] = curve
        return curve

    def all_curves(self) -> dict[str, Curve]:
        """Every run's curve, keyed by run id."""
        return {rid: self.curves(rid) for rid in self._cols["run_id"]}


def read_metrics(path: Path, run_id: str = "") -> Curve:
    """Parse metrics.jsonl, skipping (with a warning) lines that are not complete JSON objects."""
    keys = ("step", "tokens", "flops", "lr", "train_loss", "eval_loss")
    cols: dict[str, list[float]] = {k: [] for k in keys}
    if not path.exists():
        raise input_error(str(path), None, "missing", "rerun the run, or drop it from the folder")
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or "step" not in rec:
                raise ValueError("not a metrics record")
        except ValueError:
            warnings.warn(f"{path}:{lineno}: skipped a half-written or corrupt metrics line",
                          AnalysisWarning, stacklevel=2)
            continue
        for k in keys:
            v = rec.get(k)
            cols[k].append(float(v) if isinstance(v, (int, float)) else math.nan)
    arrays = {k: np.asarray(v, dtype=float) for k, v in cols.items()}
    return Curve(run_id=run_id, **arrays)


def _run_dirs_under(path: Path) -> list[Path]:
    """Run directories under a sweep folder, a runs/ folder, a results/ root, or one run."""
    if (path / "summary.json").exists() or (path / "metrics.jsonl").exists():
        return [path]
    if (path / "runs").is_dir():
        return sorted(p for p in (path / "runs").iterdir() if p.is_dir())
    if path.name == "runs":
        return sorted(p for p in path.iterdir() if p.is_dir())
    # a results/ root holding several sweeps
    dirs: list[Path] = []
    for sweep in sorted(p for p in path.iterdir() if p.is_dir()):
        if (sweep / "runs").is_dir():
            dirs.extend(sorted(p for p in (sweep / "runs").iterdir() if p.is_dir()))
    return dirs


def _read_summary(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise input_error(str(path), None, f"corrupt summary.json ({exc})",
                          "delete this run directory and rerun the sweep (it resumes)") from exc
    if not isinstance(data, dict):
        raise input_error(str(path), None, "summary.json is not a JSON object",
                          "delete this run directory and rerun the sweep")
    return data


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def load(paths: str | Path | Iterable[str | Path]) -> RunTable:
    """Load runs from results folders (or CSV files) into one RunTable.

    Accepts ``results/<sweep>``, its ``runs/`` folder, a ``results/`` root with several
    sweeps, a single run directory, a ``.csv`` file, or a list of any of these.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    rows: list[dict[str, Any]] = []
    run_dirs: list[str | None] = []
    excluded: list[str] = []
    csv_tables: list[RunTable] = []
    for p in map(Path, paths):
        if p.suffix.lower() == ".csv":
            csv_tables.append(from_csv(p))
            continue
        if not p.is_dir():
            raise input_error(str(p), None, "no such results folder or CSV",
                              "pass results/<sweep> (holding runs/<run-id>/summary.json) or a .csv")
        dirs = _run_dirs_under(p)
        if not dirs:
            raise input_error(str(p), None, "no runs found",
                              "pass results/<sweep> whose runs/<run-id>/ hold summary.json")
        for d in dirs:
            sp = d / "summary.json"
            if not sp.exists():
                excluded.append(f"{d.name} (no summary.json: still running?)")
                continue
            s = _read_summary(sp)
            status = str(s.get("status", "missing"))
            if status != "done":
                excluded.append(f"{d.name} ({status})")
                continue
            for key in REQUIRED_KEYS:
                if not isinstance(s.get(key), (int, float, str)) or s.get(key) is None:
                    raise input_error(str(sp), key, "missing or null in a done run",
                                      "rerun this run or delete its directory")
            n_total = _num(s["n_params_total"])
            tokens = _num(s["tokens"])
            rows.append({
                "run_id": str(s.get("run_id", d.name)),
                "objective": str(s.get("objective", "clm")),
                "tokenizer": str(s.get("tokenizer", "unknown")),
                "n_total": n_total,
                "n_nonembedding": _num(s.get("n_params_nonembedding")),
                "tokens": tokens,
                "flops": 6.0 * n_total * tokens,  # C = 6ND, total N, whatever flops_6nd says
                "loss": _num(s["final_eval_loss"]),
                "bpb": _num(s.get("final_eval_bpb")),
                "status": status,
                "epochs": _num(s.get("epochs")),
                "seed": _num(s.get("seed")),
                "bytes_per_token": _num(s.get("bytes_per_token")),
            })
            run_dirs.append(str(d))
    if excluded:
        warnings.warn(f"excluded {len(excluded)} run(s) not done: " + ", ".join(excluded),
                      AnalysisWarning, stacklevel=2)
    bad = [r["run_id"] for r in rows
           if not (r["loss"] > 0 and r["n_total"] > 0 and r["tokens"] > 0)]
    if bad:
        warnings.warn(f"excluded run(s) with non-positive or non-finite loss/N/D: {bad}",
                      AnalysisWarning, stacklevel=2)
        keep = [i for i, r in enumerate(rows) if r["run_id"] not in bad]
        rows = [rows[i] for i in keep]
        run_dirs = [run_dirs[i] for i in keep]
    table = RunTable({k: [r[k] for r in rows] for k in COLUMNS}, run_dirs)
    if csv_tables:
        table = concat([table, *csv_tables]) if len(table) else concat(csv_tables)
    if len(table) == 0:
        raise AnalysisInputError(
            f"no finished runs in {', '.join(map(str, paths))}. "
            "Fix: wait for the sweep to finish, or check summary.json 'status'")
    return table


def concat(tables: Sequence[RunTable]) -> RunTable:
    """Rows of several tables, in order."""
    cols = {k: np.concatenate([t[k] for t in tables]) for k in COLUMNS}
    dirs = [d for t in tables for d in t._run_dirs]
    return RunTable(cols, dirs)


# ---- CSV -------------------------------------------------------------------------------
_ALIASES = {
    "n_total": ("N", "n_params", "n_params_total", "n_total", "params"),
    "n_nonembedding": ("n_params_nonembedding", "n_nonembedding"),
    "tokens": ("D", "tokens"),
    "flops": ("C", "flops", "flops_6nd"),
    "loss": ("loss", "final_eval_loss", "L"),
    "bpb": ("bpb", "final_eval_bpb"),
    "run_id": ("run_id", "id", "name"),
    "objective": ("objective",),
    "tokenizer": ("tokenizer",),
    "seed": ("seed",),
    "epochs": ("epochs",),
    "bytes_per_token": ("bytes_per_token",),
}


def from_csv(path: str | Path) -> RunTable:
    """Runs from a CSV with columns N (or n_params), D (or tokens) or C (flops), and loss.

    When only C is given, D = C / (6 N).  Optional: run_id, objective, tokenizer, bpb, seed,
    n_params_nonembedding, bytes_per_token.  Bad input raises AnalysisInputError naming the
    file, the column and the fix.
    """
    path = Path(path)
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
            records = [{(k or "").strip(): v for k, v in r.items()} for r in reader]
    except OSError as exc:
        raise input_error(str(path), None, f"cannot read CSV ({exc})", "check the path") from exc
    lower = {h.lower(): h for h in header}

    def find(col: str) -> str | None:
        for alias in _ALIASES[col]:
            if alias in header:
                return alias
            if alias.lower() in lower and alias not in ("D", "C", "N", "L"):
                return lower[alias.lower()]
        return None

    src = {col: find(col) for col in _ALIASES}
    fix = "give columns N (or n_params), D (or tokens) or C (or flops), and loss"
    if src["n_total"] is None:
        raise input_error(str(path), "N", f"missing column (header: {header})", fix)
    if src["loss"] is None:
        raise input_error(str(path), "loss", f"missing column (header: {header})", fix)
    if src["tokens"] is None and src["flops"] is None:
        raise input_error(str(path), "D", f"missing column D/tokens and C/flops (header: {header})", fix)
    if not records:
        raise input_error(str(path), None, "no data rows", "add one row per run")

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
                values.append(float(raw) if raw else math.nan)
            except ValueError:
                raise input_error(f"{path}:{lineno}", name, f"not a number: {raw!r}",
                                  "write plain numbers such as 1.2e8") from None
        cols[col] = values
    n = np.asarray(cols["n_total"], dtype=float)
    if "tokens" not in cols:
        cols["tokens"] = list(np.asarray(cols["flops"], dtype=float) / (6.0 * n))
    for col in ("n_total", "tokens", "loss"):
        arr = np.asarray(cols[col], dtype=float)
        bad = np.flatnonzero(~(arr > 0))
        if bad.size:
            raise input_error(f"{path}:{bad[0] + 2}", src[col] or col,
                              "missing, zero, negative or non-numeric value",
                              "every row needs positive N, D (or C) and loss")
    cols.pop("flops", None)  # always recomputed as 6 N D with total N
    return RunTable(cols, None)
