"""A run's directory: its identity, its config, and whether it is new, resumable or finished."""
from __future__ import annotations

import json
from pathlib import Path

from scaling.errors import InputError
from scaling.io import atomic_write_json, read_jsonl, write_jsonl
from scaling.train.config import RunConfig, human


def run_id(cfg: RunConfig, n_params: int, tokens: int) -> str:
    """Readable and stable: objective, size, tokens, seed, and a hash of everything else."""
    return f"{cfg.objective}_n{human(n_params)}_d{human(tokens)}_s{cfg.seed}_{cfg.short_hash()}"


def read_summary(run_dir: Path) -> dict | None:
    p = run_dir / "summary.json"
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"corrupt summary ({e})", file=str(p),
                         fix="move the run folder aside and run again") from None


def claim_config(run_dir: Path, cfg: RunConfig) -> None:
    """Write config.json, or check that the one there is this run's (never mix two runs)."""
    p = run_dir / "config.json"
    mine = cfg.to_dict()
    if p.exists():
        try:
            theirs = json.loads(p.read_text())
        except json.JSONDecodeError:
            theirs = None
        if theirs is not None and theirs != mine:
            raise InputError("this run folder holds a different run's config", file=str(p),
                             fix="give another --out, or remove the folder to start over")
        if theirs == mine:
            return
    atomic_write_json(p, mine)


def truncate_metrics(run_dir: Path, step: int) -> None:
    """Keep the metric lines up to `step` (a resume re-logs the steps after it)."""
    p = run_dir / "metrics.jsonl"
    if p.exists():
        write_jsonl(p, [r for r in read_jsonl(p) if r.get("step", 0) <= step])
