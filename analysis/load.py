"""Loading stored results (results/<sweep>/runs/<run-id>/...) or a CSV into a RunTable.

The reader shares only runstore with the writer (the folder layout, the summary.json schema and
its reader, C = 6ND).  Runs whose status is not "done" are left out with a warning that names
them, and so is a folder whose config.json is missing or damaged (a run folder recreated by a
late writer is not a finished run); a corrupt summary.json is an InputError that names the file
and the fix (the CLI turns it into exit code 2).  One run id found twice (a copied folder, two
sweeps of one root sharing runs) is an InputError naming both folders: counting it twice would
shrink every interval.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Iterable

from analysis.columns import COLUMNS, REQUIRED_KEYS
from analysis.table import AnalysisWarning, RunTable, _num, concat
from runstore import InputError, RunDir, RunSummary, flops_6nd, read_json, read_summary

__all__ = ["load"]


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




def _row(run_dir: Path, s: RunSummary) -> dict[str, Any]:
    """A done run's table row; a required field left null is an InputError naming it."""
    for key in REQUIRED_KEYS:
        if getattr(s, key) is None:
            raise InputError("missing or null in a done run", file=str(run_dir / "summary.json"),
                             key=key, fix="rerun this run or delete its directory")
    n_total, tokens = _num(s.n_params_total), _num(s.tokens)
    return {
        "run_id": s.run_id or run_dir.name, "objective": s.objective, "tokenizer": s.tokenizer,
        "n_total": n_total,
        "n_nonembedding": _num(s.n_params_nonembedding),
        "tokens": tokens,
        "flops": flops_6nd(n_total, tokens),  # C = 6ND, total N, whatever flops_6nd says
        "loss": _num(s.final_eval_loss),
        "bpb": _num(s.final_eval_bpb),
        "status": s.status,
        "epochs": _num(s.epochs),
        "seed": _num(s.seed),
        "bytes_per_token": _num(s.bytes_per_token),
    }


def _read_folder(p: Path, rows: list[dict[str, Any]], run_dirs: list[str | None],
                 excluded: list[str]) -> None:
    """Append the done runs under results folder `p` to rows/run_dirs, the others to excluded."""
    if not p.is_dir():
        raise InputError("no such results folder or CSV", file=str(p),
                         fix="pass results/<sweep> (holding runs/<run-id>/summary.json) or a .csv")
    dirs = _run_dirs_under(p)
    if not dirs:
        raise InputError("no runs found", file=str(p),
                         fix="pass results/<sweep> whose runs/<run-id>/ hold summary.json")
    for d in dirs:
        s = read_summary(d)
        if s is None:
            excluded.append(f"{d.name} (no summary.json: still running?)")
        elif not _has_config(d):
            excluded.append(f"{d.name} (no valid config.json beside its summary)")
        elif s.status != "done":
            excluded.append(f"{d.name} ({s.status})")
        elif s.role != "trunk":  # a trunk of cooldown branches is not a point; its branches are
            rows.append(_row(d, s))
            run_dirs.append(str(d))


def _has_config(run_dir: Path) -> bool:
    """The run's identity is on disk: a config.json holding a JSON object."""
    try:
        return isinstance(read_json(RunDir(run_dir).config, default=None), dict)
    except InputError:
        return False


def _refuse_duplicates(rows: list[dict[str, Any]], run_dirs: list[str | None]) -> None:
    """One run id in two folders: the same run counted twice (InputError naming both)."""
    seen: dict[str, str | None] = {}
    for r, d in zip(rows, run_dirs):
        first = seen.setdefault(r["run_id"], d)
        if first != d:
            raise InputError(f"run {r['run_id']} is in two folders: {first} and {d}",
                             fix="load one of the sweeps, or move the copy aside (one run "
                                 "counted twice makes every interval too narrow)")


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
            from analysis.csv_table import from_csv

            csv_tables.append(from_csv(p))
        else:
            _read_folder(p, rows, run_dirs, excluded)
    _refuse_duplicates(rows, run_dirs)
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
        raise InputError(f"no finished runs in {', '.join(map(str, paths))}",
                         fix="wait for the sweep to finish, or check summary.json 'status'")
    return table
