"""Token streams, deterministic batches and fixed validation windows.

`load_dataset(cfg)` finds the source's token cache by its manifest (no corpus text is read when
the entry exists) or builds it once (build.py); `train` and `val` are memory-mapped 1-D streams
(one shard: a np.memmap; several: a ShardedArray) in which every document is followed by EOS.

Batches are stateless: the training stream is cut into n = len(train) // window non-overlapping
windows; example i of step s has global index g = s * batch_size + i, epoch e = g // n, and is
window perm_{seed, e}[g % n], where perm_{seed, e} = default_rng([seed, e]).permutation(n). So
`batch(seed, step, ...)` is a pure function of its arguments and a resumed run sees exactly the
data of an uninterrupted one, whatever the source and however the stream is sharded.
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

from runstore import InputError
from scaling.data import cache
from scaling.data.build import SPLIT_RULE, builder
from scaling.data.config import DataConfig
from scaling.data.kinds import tokenizer_kind, vocab_size_from_config
from scaling.data.shards import open_split
from scaling.data.sources import open_source
from scaling.data.tokenizer import Tokenizer

__all__ = ["Dataset", "load_dataset", "find_entry", "corpus_tokens", "vocab_size_from_config",
           "SPLIT_RULE"]


def _log(progress: bool):
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        if progress:
            print(f"[data {time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)
    log.enabled = progress  # build._Progress draws a bar on a terminal only when asked to speak
    return log


def find_entry(cfg: DataConfig):
    """(source, manifest, cache root, key): where the config's cache entry lives. Cheap: lists
    and stats the source's files, reads none of their text."""
    cfg.validate()
    source = open_source(cfg)
    manifest = source.manifest()
    source_id = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()
    split = {"val_fraction": cfg.val_fraction, "rule": SPLIT_RULE, "max_bytes": cfg.max_bytes,
             "text_field": cfg.text_field}
    key = cache.cache_key(source_id, tokenizer_kind(cfg).identity(), split)
    return source, manifest, cfg.resolved_cache_dir(), key


def _damaged(entry: Path, why: str) -> InputError:
    return InputError(f"the token cache entry is damaged ({why})", file=str(entry),
                      key="data.cache_dir", fix="delete this folder; it is rebuilt on the next "
                                                "load")


def _open_entry(cfg: DataConfig, source, entry: Path, key: str):
    meta = cache.read_meta(entry)
    try:
        tok = tokenizer_kind(cfg).load(entry, source)
        train = open_split(entry, meta["shards"]["train"], meta["dtype"])
        val = open_split(entry, meta["shards"]["val"], meta["dtype"])
    except (OSError, ValueError, KeyError) as e:
        raise _damaged(entry, e) from None
    if (train.size != meta["n_tokens"]["train"] or val.size != meta["n_tokens"]["val"]
            or meta.get("cache_key") != key):
        raise _damaged(entry, "it does not match its meta.json")
    return tok, train, val, meta


def load_dataset(cfg: DataConfig, *, progress: bool = False) -> "Dataset":
    """Source manifest -> token cache (built once, then memory-mapped) -> Dataset."""
    log = _log(progress)
    source, manifest, root, key = find_entry(cfg)
    entry, built = cache.open_or_build(root, key, builder(cfg, source, manifest, key, log),
                                       log=log)
    tok, train, val, meta = _open_entry(cfg, source, entry, key)
    meta = dict(meta)
    meta["cache_dir"] = str(entry)
    meta["cache_hit"] = not built
    log(f"token cache {key}: {'built' if built else 'reused'}; train {train.size} tokens, "
        f"val {val.size} tokens, tokenizer {tok.name}")
    return Dataset(cfg, tok, train, val, meta)


def corpus_tokens(cfg: DataConfig) -> tuple[float | None, str]:
    """Training tokens of the corpus for planning (sweep --dry-run): exact from the token cache
    when it is built, else a size estimate from the manifest; never reads corpus text."""
    source, manifest, root, key = find_entry(cfg)
    entry = root / key
    if cache.is_complete(entry):
        n = cache.read_meta(entry)["n_tokens"]["train"]
        return float(n), f"{n:,} training tokens (token cache)"
    return tokenizer_kind(cfg).estimate_train_tokens(source, manifest)


class Dataset:
    """Memory-mapped train/val token streams with pure batch and validation-window functions."""

    def __init__(self, cfg: DataConfig, tokenizer: Tokenizer, train: np.ndarray,
                 val: np.ndarray, meta: dict):
        self.cfg, self.tokenizer, self.train, self.val, self.meta = cfg, tokenizer, train, val, meta
        n_tok = max(1, int(meta["n_tokens"]["train"]))
        n_bytes = int(meta["n_bytes"]["train"])  # 0: a tokens: source, bytes unknown
        self.bytes_per_token = n_bytes / n_tok if n_bytes else None
        self._perms: OrderedDict = OrderedDict()
        self._val_cache: dict[int, np.ndarray] = {}

    def __repr__(self) -> str:
        return (f"Dataset({self.cfg.source!r}, {self.tokenizer.name}, train={self.train.size}, "
                f"val={self.val.size}, key={self.meta.get('cache_key')})")

    def _short(self, what: str, have: int, window: int) -> InputError:
        return InputError(f"the {what} stream has {have} tokens, fewer than one window of "
                          f"{window}", file=self.cfg.source, key="data.source",
                          fix="use a shorter window, a larger corpus or max_bytes, or a larger "
                              "val_fraction" if what == "validation" else
                              "use a shorter window or a larger corpus / max_bytes")

    def n_windows(self, window: int) -> int:
        """Non-overlapping training windows of this length."""
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        return int(self.train.size) // window

    def _perm(self, seed: int, epoch: int, n: int) -> np.ndarray:
        k = (seed, epoch, n)
        p = self._perms.get(k)
        if p is None:
            p = np.random.default_rng([seed, epoch]).permutation(n)
            self._perms[k] = p
            while len(self._perms) > 4:
                self._perms.popitem(last=False)
        else:
            self._perms.move_to_end(k)
        return p

    def batch(self, seed: int, step: int, batch_size: int, window: int) -> np.ndarray:
        """[batch_size, window] int32 training windows: a pure function of the arguments."""
        if seed < 0 or step < 0 or batch_size < 1:
            raise ValueError(f"need seed >= 0, step >= 0, batch_size >= 1; got {seed}, {step}, "
                             f"{batch_size}")
        n = self.n_windows(window)
        if n == 0:
            raise self._short("training", int(self.train.size), window)
        g = step * batch_size + np.arange(batch_size, dtype=np.int64)
        epoch, pos = g // n, g % n
        idx = np.empty(batch_size, dtype=np.int64)
        for e in np.unique(epoch):
            sel = epoch == e
            idx[sel] = self._perm(int(seed), int(e), n)[pos[sel]]
        starts = idx * window
        return np.array(self.train[starts[:, None] + np.arange(window)], dtype=np.int32)

    def epochs(self, tokens: int, window: int) -> float:
        """Passes over the training windows that `tokens` consumed tokens make."""
        n = self.n_windows(window)
        if n == 0:
            raise self._short("training", int(self.train.size), window)
        return float(tokens) / float(n * window)

    def validation_windows(self, window: int) -> np.ndarray:
        """[k, window] int32: k = min(val_windows, len(val) // window) evenly spaced,
        non-overlapping windows over the validation stream (the first at 0, the last at the end)."""
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        w = self._val_cache.get(window)
        if w is None:
            total = int(self.val.size)
            k = min(self.cfg.val_windows, total // window)
            if k < 1:
                raise self._short("validation", total, window)
            i = np.arange(k, dtype=np.int64)
            starts = (i * (total - window)) // (k - 1) if k > 1 else np.zeros(1, np.int64)
            w = np.array(self.val[starts[:, None] + np.arange(window)], dtype=np.int32)
            w.setflags(write=False)
            self._val_cache[window] = w
        return w

    def val_batches(self, window: int, batch_size: int) -> list[np.ndarray]:
        """The fixed validation windows chunked into batches (the last may be smaller);
        independent of any seed, identical for every run sharing corpus, tokenizer and split."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        w = self.validation_windows(window)
        return [w[i: i + batch_size].copy() for i in range(0, len(w), batch_size)]

    def window_bytes(self, windows: np.ndarray) -> np.ndarray:
        """UTF-8 bytes each token position stands for (0 for special ids): sum them for the
        denominator of bits per byte."""
        return self.tokenizer.token_byte_lengths()[np.asarray(windows)]
