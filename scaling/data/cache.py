"""The token cache: tokenize once, memory-map forever after.

Layout: <cache_dir>/<key>/{meta.json, build.json, train-00000.bin, ..., val-00000.bin, ...
[, tokenizer.json]}, where key = sha256(source manifest, tokenizer config, split config,
DATASET_VERSION)[:16]. The manifest (sources.py) names the source's files with their sizes and
mtimes (or a hub dataset's name, config and split), so finding an entry reads no corpus text.
meta.json holds only what the content determines (two builds of one source write the same
bytes); build.json holds the build's wall time, throughput and peak memory.

What invalidates an entry (a new key): any change of a source file's size or mtime, a file added
or removed, another max_bytes / text_field / val_fraction / n_sentinels, another tokenizer (kind,
vocabulary, sample bytes or seed, the bytes of a tokenizer.json), or a new DATASET_VERSION. A hub
dataset that changes under one name and split is not noticed (delete its entry). The content is
hashed at build time by two passes, and a source that changed between them is refused.

Safe under concurrency and crashes: a builder holds an exclusive `fcntl.flock` on
<cache_dir>/<key>.lock (a second process waits for it instead of duplicating the work), first
removes the temporary folders that killed builders of this key left (no live builder can own
them while it holds the lock), builds into a new temporary folder inside cache_dir and renames it
into place in one step, so a reader sees either no entry or a complete one. If the entry appeared
meanwhile (a builder without the lock, e.g. on a filesystem where flock does nothing), the
temporary build is discarded and the existing entry used.
"""
from __future__ import annotations

import glob
import hashlib
import json
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np

from runstore import InputError, atomic_write_json, fsync_path
from runstore.files import publish_dir

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: the atomic rename alone keeps entries whole
    fcntl = None

DATASET_VERSION = 2  # 2: sharded .bin streams, manifest keys; bump when the cached arrays' content or format changes
META = "meta.json"


BUILD = "build.json"


def cache_key(source_id, tokenizer_cfg: dict, split_cfg: dict) -> str:
    """16 hex digits from the source's identity (its manifest), tokenizer and split."""
    blob = json.dumps({"corpus": source_id, "tokenizer": tokenizer_cfg, "split": split_cfg,
                       "version": DATASET_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 65535 else np.dtype(np.int32)



def save_array(path: Path, arr: np.ndarray) -> None:
    np.save(path, arr, allow_pickle=False)
    fsync_path(path)


def load_array(path: Path) -> np.ndarray:
    return np.load(path, mmap_mode="r", allow_pickle=False)


def write_json(path: Path, data: dict) -> None:
    atomic_write_json(path, data, indent=1)


def read_meta(entry: Path) -> dict:
    try:
        return json.loads((entry / META).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"the token cache entry is unreadable ({e})", file=str(entry),
                         key="data.cache_dir", fix="delete this folder; it is rebuilt on the next "
                                                   "load") from None


def read_record(entry: Path, name: str) -> dict:
    """The JSON file `name` (META, BUILD) of an entry, or {} when it is missing or unreadable:
    for listings and reports, which show what they can (read_meta refuses instead)."""
    try:
        return json.loads((Path(entry) / name).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def is_complete(entry: Path) -> bool:
    return (entry / META).is_file()


@contextmanager
def _locked(lock_path: Path):
    with open(lock_path, "a+") as fh:
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def open_or_build(root: Path, key: str, build: Callable[[Path], None], *,
                  log: Callable[[str], None] = lambda s: None) -> tuple[Path, bool]:
    """Return (entry folder, built_here). `build(tmp)` must write every file, META last."""
    root = Path(root)
    entry = root / key
    if is_complete(entry):
        return entry, False
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create the cache folder ({e})", file=str(root),
                         key="data.cache_dir", fix="set data.cache_dir or $SCALING_CACHE to a "
                                                   "writable folder") from None
    with _locked(root / f"{key}.lock"):
        if is_complete(entry):  # another process built it while we waited
            log(f"token cache {key}: built by another process")
            return entry, False
        remove_stale(root, key)
        if entry.exists():  # an incomplete entry can only come from outside tampering
            stale = Path(tempfile.mkdtemp(prefix=f".{key}.stale.", dir=root))
            publish_dir(entry, stale / "old")  # moved aside, then deleted
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", suffix=".tmp", dir=root))
        try:
            t0 = time.perf_counter()
            build(tmp)
            if not is_complete(tmp):
                raise RuntimeError(f"cache builder did not write {META}")
            try:
                publish_dir(tmp, entry)
            except OSError:
                if not is_complete(entry):
                    raise
                shutil.rmtree(tmp, ignore_errors=True)  # someone else's entry won: use theirs
                return entry, False
            log(f"token cache {key}: built in {time.perf_counter() - t0:.1f} s")
            return entry, True
        except BaseException as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(e, OSError) and e.filename is None:  # a full disk: say where
                raise OSError(e.errno, e.strerror, str(root)) from e
            raise


def remove_stale(root: Path, key: str) -> list[str]:
    """Delete what killed builders of `key` left (call with the key's lock held)."""
    gone = []
    for p in sorted(glob.glob(str(Path(root) / f".{glob.escape(key)}.*"))):
        if p.endswith(".tmp") or ".stale." in p:
            shutil.rmtree(p, ignore_errors=True)
            gone.append(p)
    return gone


def list_entries(root: Path) -> list[dict]:
    """Every entry of a cache folder: complete ones with their meta, leftovers flagged."""
    out = []
    root = Path(root)
    if not root.is_dir():
        return out
    for p in sorted(root.iterdir()):
        if not p.is_dir():
            continue
        if is_complete(p):
            meta, build = read_record(p, META), read_record(p, BUILD)
            size = sum(f.stat().st_size for f in p.iterdir() if f.is_file())
            out.append({"path": str(p), "key": p.name, "complete": True, "bytes_on_disk": size,
                        "meta": meta, "build": build})
        elif p.name.startswith("."):
            out.append({"path": str(p), "key": p.name, "complete": False})
    return out
