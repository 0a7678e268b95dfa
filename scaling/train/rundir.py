"""A run's directory belongs to one run: its config.json says which, and nothing else moves in."""
from __future__ import annotations

import json
from pathlib import Path

from analysis.contract import atomic_write_json
from scaling.errors import InputError
from scaling.train.config import RunConfig, config_identity


def claim_config(run_dir: Path, cfg: RunConfig) -> None:
    """Write config.json, or check that the one there is this run's (never mix two runs).

    Configs that differ only in what cannot change the run's numbers (`RunConfig.identity`:
    the trackers) are the same run, so a tracker can be added on resume.
    """
    p = run_dir / "config.json"
    mine = cfg.to_dict()
    fix = "give another --out, or move the folder aside to start over"
    if not p.exists():
        if (run_dir / "summary.json").exists() or (run_dir / "metrics.jsonl").exists():
            raise InputError("this run folder has results but no config.json: whose they are "
                             "cannot be checked", file=str(p), fix=fix)
        atomic_write_json(p, mine)
        return
    try:
        theirs = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise InputError("config.json is unreadable: whose results are here cannot be checked",
                         file=str(p), fix=fix) from None
    if not isinstance(theirs, dict) or config_identity(theirs) != cfg.identity():
        raise InputError("this run folder holds a different run's config", file=str(p), fix=fix)
    if theirs != mine:
        atomic_write_json(p, mine)
