"""Encoding on every core with worker processes, one single-threaded tokenizer each.

HF `tokenizers` parallelises encode_batch with its own thread pool, but on this project's
2-core machines that measured no faster than one thread (2.3 MB/s on one thread, 2.0 MB/s on
two, byte-level BPE 8192 on Python sources: each batch waits for its longest documents, and
the threads contend with the reader). Worker processes that each encode whole chunks of
documents keep every core busy instead.

The workers are `python -m scaling.data.encode_worker` subprocesses, not multiprocessing: a
spawned multiprocessing child re-imports the caller's __main__ (a user's script without a main
guard would run again), and a forked one inherits a tokenizer thread pool that does not survive
the fork. Each loads the cache entry's own tokenizer.json, so the ids are the tokenizer's,
whatever process computes them. Messages are raw arrays over pipes (encode_worker.py: no
pickle); chunks are handed out round robin and collected in order, so the cache is
byte-identical to an in-process build. At most `2 x workers` chunks are in flight (bounded
memory). A worker whose parent dies reads end-of-file and exits.
"""
from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from scaling.data import encode_worker as wire

CHUNK_BYTES = 1 << 20  # text per message: amortises the pipe, small enough to balance workers
MIN_POOL_BYTES = 32 << 20  # below this, starting workers costs more than it saves


def n_workers() -> int:
    """Worker processes: SCALING_DATA_WORKERS if set (0 = encode in this process), else one
    per core this process may run on."""
    env = os.environ.get("SCALING_DATA_WORKERS", "").strip()
    if env:
        return max(int(env), 0)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def use_pool(kind, text_bytes: int) -> bool:
    """Whether worker processes pay for encoding `text_bytes` with this tokenizer kind
    (kinds.py: byte and tokens: kinds never need them)."""
    return kind.encodes_in_workers and text_bytes >= MIN_POOL_BYTES and n_workers() > 1


class _Worker:
    """One subprocess, with a thread that writes its requests and one that reads its replies
    (so that neither pipe can fill up while the other side waits)."""

    def __init__(self, cfg, entry: Path):
        env = dict(os.environ, RAYON_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scaling.data.encode_worker", cfg.tokenizer, str(entry),
             str(cfg.n_sentinels), str(cfg.vocab_size)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.requests: queue.Queue = queue.Queue()
        self.replies: queue.Queue = queue.Queue()
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._send, self._recv)]
        for t in self._threads:
            t.start()

    def _send(self) -> None:
        try:
            while (texts := self.requests.get()) is not None:
                wire.write_texts(self.proc.stdin, texts)
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # the worker died: _recv reports it

    def _recv(self) -> None:
        while True:
            try:
                got = wire.read_ids(self.proc.stdout)
            except Exception as e:  # a torn reply: the worker died mid-write
                got = e
            if got is None:
                return
            self.replies.put(got)
            if isinstance(got, Exception):
                return

    def get(self) -> tuple[np.ndarray, np.ndarray]:
        while True:
            try:
                got = self.replies.get(timeout=1.0)
                break
            except queue.Empty:
                if self.proc.poll() is not None and self.replies.empty():
                    got = None
                    break
        if got is None or isinstance(got, Exception):
            err = self.proc.stderr.read().decode("utf-8", "replace")[-2000:] \
                if self.proc.poll() is not None else ""
            raise RuntimeError(f"an encode worker failed (exit {self.proc.poll()}): {err}")
        return got

    def close(self, kill: bool = False) -> None:
        if kill:
            self.proc.kill()
        self.requests.put(None)
        self.proc.wait()
        for t in self._threads:
            t.join(1.0)
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()


def _chunks(texts: list[str]) -> Iterator[list[str]]:
    chunk, size = [], 0
    for t in texts:
        chunk.append(t)
        size += len(t)
        if size >= CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


class EncodePool:
    """encode(batches) -> the encoded documents of each batch, in order, over worker processes
    that load the tokenizer of `entry` (the cache entry being built)."""

    def __init__(self, cfg, entry: Path, workers: int | None = None):
        self.workers = workers or n_workers()
        self._w = [_Worker(cfg, entry) for _ in range(self.workers)]
        self._next = 0

    def _submit(self, texts: list[str]) -> _Worker:
        w = self._w[self._next % self.workers]
        self._next += 1
        w.requests.put(texts)
        return w

    def encode(self, batches: Iterable[tuple[int, list]]
               ) -> Iterator[tuple[int, list, list[np.ndarray]]]:
        """(start, docs) batches -> (start, docs, ids per doc), keeping the workers fed with the
        next batch's chunks while this one is written."""
        pending: deque = deque()  # (start, docs, [the worker of each chunk])
        for start, docs in batches:
            pending.append((start, docs, [self._submit(c) for c in _chunks([d.text for d in docs])]))
            while sum(len(p[2]) for p in pending) > 2 * self.workers and len(pending) > 1:
                yield self._collect(pending.popleft())
        while pending:
            yield self._collect(pending.popleft())

    @staticmethod
    def _collect(item) -> tuple[int, list, list[np.ndarray]]:
        start, docs, workers = item
        out: list[np.ndarray] = []
        for w in workers:
            ids, lengths = w.get()
            out += np.split(ids, np.cumsum(lengths)[:-1]) if lengths.size else []
        return start, docs, out

    def close(self, kill: bool = False) -> None:
        for w in self._w:
            w.close(kill)

    def __enter__(self) -> "EncodePool":
        return self

    def __exit__(self, exc_type, *_) -> None:
        self.close(kill=exc_type is not None)
