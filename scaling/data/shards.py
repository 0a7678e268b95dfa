"""Sharded token files: append-only writers at build time, one memory-mapped array to read.

A split's stream is the concatenation of SPLIT-00000.bin, SPLIT-00001.bin, ... (raw ids, little
endian, dtype in meta.json), each at most SHARD_TOKENS ids. The writer hashes what it writes, so
the content is verified once, at build time, and opening a cache only checks file sizes.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from runstore import fsync_path

SHARD_TOKENS = 1 << 30  # ids per shard file (2 GiB of uint16)



class ShardWriter:
    """Appends ids of one split to its shard files; `close()` returns their descriptions."""

    def __init__(self, folder: Path, split: str, dtype: np.dtype, shard_tokens: int = 0):
        self.folder, self.split, self.dtype = Path(folder), split, np.dtype(dtype)
        self.limit = shard_tokens or SHARD_TOKENS
        self.shards: list[dict] = []
        self.total = 0
        self._fh = None
        self._n = 0
        self._h = None

    def _roll(self) -> None:
        self._finish()
        name = f"{self.split}-{len(self.shards):05d}.bin"
        self._fh = open(self.folder / name, "wb")
        self._name, self._n, self._h = name, 0, hashlib.sha256()

    def _finish(self) -> None:
        if self._fh is None:
            return
        self._fh.close()
        fsync_path(self.folder / self._name)
        self.shards.append({"file": self._name, "tokens": self._n,
                            "sha256": self._h.hexdigest()})
        self._fh = None

    def append(self, ids: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=self.dtype.newbyteorder("<"))
        while ids.size:
            if self._fh is None or self._n >= self.limit:
                self._roll()
            take = ids[: self.limit - self._n]
            data = take.tobytes()
            self._fh.write(data)
            self._h.update(data)
            self._n += take.size
            self.total += take.size
            ids = ids[take.size:]

    def close(self) -> list[dict]:
        if self._fh is None and not self.shards:
            self._roll()  # an empty split still has one (empty) shard
        self._finish()
        return self.shards


class ShardedArray:
    """A read-only 1-D view over shard memmaps; `a[int_array]` gathers across shard ends."""

    ndim = 1

    def __init__(self, parts: list[np.ndarray]):
        self.parts = parts
        sizes = np.array([p.size for p in parts], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(sizes)])
        self.size = int(self.starts[-1])
        self.dtype = parts[0].dtype
        self.shape = (self.size,)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return self._take(np.arange(self.size, dtype=np.int64)[idx])
        idx = np.asarray(idx, dtype=np.int64)
        return self._take(idx)

    def _take(self, idx: np.ndarray) -> np.ndarray:
        if idx.size and (idx.min() < 0 or idx.max() >= self.size):
            raise IndexError("index out of range of the token stream")
        shard = np.searchsorted(self.starts, idx, side="right") - 1
        out = np.empty(idx.shape, dtype=self.dtype)
        for s in np.unique(shard):
            sel = shard == s
            out[sel] = self.parts[s][idx[sel] - self.starts[s]]
        return out

    def __array__(self, dtype=None, copy=None):
        a = np.concatenate([np.asarray(p) for p in self.parts])
        return a if dtype is None else a.astype(dtype)


def open_split(folder: Path, shards: list[dict], dtype: str):
    """The split's stream: the memmap itself for one shard, else a ShardedArray."""
    parts = []
    for s in shards:
        path = Path(folder) / s["file"]
        n = int(s["tokens"])
        if os.path.getsize(path) != n * np.dtype(dtype).itemsize:
            raise ValueError(f"{path.name} has {os.path.getsize(path)} bytes, expected "
                             f"{n} ids")
        parts.append(np.memmap(path, dtype=np.dtype(dtype).newbyteorder("<"), mode="r",
                               shape=(n,)) if n else np.zeros(0, dtype))
    return parts[0] if len(parts) == 1 else ShardedArray(parts)
