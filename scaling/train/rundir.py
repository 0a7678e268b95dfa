"""A run's directory belongs to one run: its config.json says which, and nothing else moves in.

`check` reads only: it refuses a folder that cannot be this run's (an unreadable, missing or
different config.json beside results, a path that is a file, a parent that cannot be written)
before anything is created. `hold` then locks the folder (the sweep's claim, one mechanism for
both) and writes config.json; everything that fails later leaves nothing that blocks a rerun.
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Iterator

from runstore import InputError, RunSummary, atomic_write_json, read_summary
from scaling.train.config import RunConfig, config_identity

_FIX = "give another --out, or move the folder aside to start over"
#: What may sit in a run folder before its config.json: a sweep worker's claim and point row
#: (written just before train()), the lock, and temporary files of an interrupted atomic write.
_BEFORE_CONFIG = ("claim.", "claims.jsonl", "point.json", ".")


def _writable_parent(run_dir: Path) -> None:
    """The folder, or its nearest existing ancestor, is a folder this user can write into."""
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError("is a file, not a folder", file=str(run_dir),
                         fix="give a folder path to --out")
    p = run_dir
    while not p.exists():
        p = p.parent
    if not p.is_dir():
        raise InputError(f"cannot create the run folder: {p} is a file", file=str(run_dir),
                         fix="give a folder path to --out")
    if not os.access(p, os.W_OK | os.X_OK):
        raise InputError(f"cannot write into {p} (permission denied)", file=str(run_dir),
                         fix="give --out a folder you can write to")


def _their_identity(run_dir: Path) -> dict | None:
    """The identity in config.json; None if the folder holds nothing of a run yet; an
    InputError if the folder holds results whose run cannot be told (never adopt those)."""
    p = run_dir / "config.json"
    if not p.exists():
        foreign = sorted(n for n in os.listdir(run_dir) if not n.startswith(_BEFORE_CONFIG))
        if foreign:
            raise InputError(f"this run folder holds {', '.join(foreign[:3])} but no "
                             "config.json: whose results they are cannot be checked",
                             file=str(p), fix=_FIX)
        return None
    try:
        theirs = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        theirs = None
    if not isinstance(theirs, dict):
        raise InputError("config.json is unreadable: whose results are here cannot be checked",
                         file=str(p), fix=_FIX)
    return config_identity(theirs)


def check(run_dir: Path, cfg: RunConfig) -> RunSummary | None:
    """Refuse (InputError, nothing written) a folder that is not, or cannot be shown to be,
    this run's; return its summary when it is this run's and has one (a damaged summary.json
    is an InputError too: a finished run is never trained over)."""
    _writable_parent(run_dir)
    if not run_dir.is_dir():
        return None
    theirs = _their_identity(run_dir)
    if theirs is not None and theirs != cfg.identity():
        raise InputError("this run folder holds a different run's config",
                         file=str(run_dir / "config.json"), fix=_FIX)
    return read_summary(run_dir)


def claim_config(run_dir: Path, cfg: RunConfig) -> None:
    """Write config.json, or check that the one there is this run's (never mix two runs).

    Configs that differ only in what cannot change the run's numbers (`RunConfig.identity`:
    the trackers) are the same run, so a tracker can be added on resume.
    """
    check(run_dir, cfg)
    p, mine = run_dir / "config.json", cfg.to_dict()
    with contextlib.suppress(OSError, ValueError):
        if json.loads(p.read_text(encoding="utf-8")) == mine:
            return
    atomic_write_json(p, mine)


@contextlib.contextmanager
def hold(run_dir: Path, cfg: RunConfig, *, writer: bool = True) -> Iterator[RunSummary | None]:
    """Create, lock and claim the folder for this run; yields its summary if it finished
    meanwhile (another process did it), else None; the lock is released on exit however the
    run ends. Only the writer process of a multi-process job locks and writes."""
    from runstore.claims import hold_run_dir

    run_dir.mkdir(parents=True, exist_ok=True)
    if not writer:
        yield None
        return
    with hold_run_dir(run_dir):
        claim_config(run_dir, cfg)
        yield read_summary(run_dir)
