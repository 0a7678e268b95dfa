"""Atomic writes and tolerant reads: the only place a file or folder is renamed into place.

Every file the suite writes (summaries, metrics, configs, the token cache's records, fits,
figures) goes through `atomic_path`, and a folder built whole (a token cache entry) is published
by `publish_dir`, so a reader never sees a half-written one.
"""
from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator

from runstore.errors import InputError


def fsync_path(path: str | Path) -> None:
    """Flush a written file to disk (before a rename makes it visible)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: A temporary file of atomic_path older than this was left by a killed writer (every write
#: through it takes seconds at most): the next write of the same file removes it.
ORPHAN_AGE_S = 600.0


def _remove_orphans(path: Path) -> None:
    pattern = str(path.parent / f".{glob.escape(path.stem)}.*.tmp{glob.escape(path.suffix)}")
    for p in glob.glob(pattern):
        with contextlib.suppress(OSError):
            if time.time() - os.path.getmtime(p) > ORPHAN_AGE_S:
                os.unlink(p)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is fsynced and renamed over `path`.

    Every file the suite writes goes through here, so a reader never sees a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}",
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.filename is None:  # a full disk: say which file
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise


def publish_dir(tmp: str | Path, dest: str | Path) -> None:
    """Give the folder `tmp`, built completely, the name `dest` in one step (same filesystem).

    Never replaces a folder with content: when `dest` exists and is not empty this raises
    OSError and `tmp` is left as it was (the caller decides whose folder wins).
    """
    os.rename(tmp, dest)


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=True, allow_nan=False) + "\n")


def read_jsonl(path: str | Path) -> list[dict]:
    """Every complete JSON object line; a half-written or corrupt line is skipped with a warning."""
    path = Path(path)
    rows: list[dict] = []
    if not path.exists():
        return rows
    with open(path, encoding="utf-8", errors="replace") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                obj = None
            if isinstance(obj, dict):
                rows.append(obj)
            else:
                warnings.warn(f"{path}:{i}: skipped a half-written or corrupt line", stacklevel=2)
    return rows


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


class JsonlAppender:
    """Appends one flushed line per record; a crash can leave at most one partial last line."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.f = open(self.path, "a")

    def write(self, row: dict) -> None:
        self.f.write(json.dumps(row, sort_keys=True) + "\n")
        self.f.flush()

    def close(self) -> None:
        self.f.close()


_MISSING = object()


def read_json(path: str | Path, *, default: Any = _MISSING, fix: str | None = None) -> Any:
    """The one JSON-file reader: the parsed value; `default` when the file does not exist (an
    InputError naming it when no default is given); a file that cannot be read or parsed is
    always an InputError naming it, with `fix`. Callers that tolerate damage catch it."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        if default is _MISSING:
            raise InputError(f"{p.name} not found", file=str(p), fix=fix) from None
        return default
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"unreadable {p.name} ({e})", file=str(p), fix=fix) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"corrupt {p.name} ({e})", file=str(p), fix=fix) from None
