"""Token streams, deterministic batches and fixed validation windows.

`load_dataset(cfg)` reads the corpus, splits it by document, and opens (or builds once) the token
cache: `train` and `val` are memory-mapped 1-D arrays in which every document is followed by EOS.

Batches are stateless: the training stream is cut into n = len(train) // window non-overlapping
windows; example i of step s has global index g = s * batch_size + i, epoch e = g // n, and is
window perm_{seed, e}[g % n], where perm_{seed, e} = default_rng([seed, e]).permutation(n). So
`batch(seed, step, ...)` is a pure function of its arguments and a resumed run sees exactly the
data of an uninterrupted one.
"""
from __future__ import annotations

import sys
import time
from collections import OrderedDict

import numpy as np

from scaling.data import cache
from scaling.data.config import DataConfig
from scaling.data.corpus import Document, load_corpus, split_documents
from scaling.data.tokenizer import EOS_ID, BPETokenizer, ByteTokenizer, Tokenizer, \
    tokenizer_config
from scaling.errors import InputError

SPLIT_RULE = "bytes-by-sha256(name)-order, v1"  # see corpus.split_documents
ENCODE_CHUNK = 256  # documents per encode_batch call


def _log(progress: bool):
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        if progress:
            print(f"[data {time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)
    return log


def _stream(tok: Tokenizer, docs: list[Document], dtype: np.dtype, log, what: str) -> np.ndarray:
    """Concatenate the documents' ids, each followed by EOS."""
    eos = np.array([EOS_ID], dtype=np.int32)
    parts = []
    for i in range(0, len(docs), ENCODE_CHUNK):
        chunk = docs[i: i + ENCODE_CHUNK]
        for ids in tok.encode_batch([d.text for d in chunk]):
            parts += [ids, eos]
        log(f"encoded {what}: {min(i + ENCODE_CHUNK, len(docs))}/{len(docs)} documents")
    out = np.concatenate(parts) if parts else np.zeros(0, np.int32)
    if out.size and (out.min() < 0 or out.max() >= tok.vocab_size):
        raise RuntimeError("token id out of range")  # never expected: the tokenizer's own ids
    return out.astype(dtype)


def _n_bytes(docs: list[Document]) -> int:
    return sum(len(d.text.encode("utf-8")) for d in docs)


def _builder(cfg: DataConfig, corpus, train_docs, val_docs, key: str, log):
    def build(tmp):
        t0 = time.perf_counter()
        if cfg.tokenizer == "bpe":
            log(f"training BPE (vocab {cfg.vocab_size}) on {len(train_docs)} documents")
            tok = BPETokenizer.train((d.text for d in train_docs), cfg.vocab_size,
                                     cfg.n_sentinels)
            tok.save(tmp / "tokenizer.json")
        else:
            tok = ByteTokenizer(cfg.n_sentinels)
        dtype = cache.token_dtype(tok.vocab_size)
        train = _stream(tok, train_docs, dtype, log, "train")
        val = _stream(tok, val_docs, dtype, log, "val")
        cache.save_array(tmp / "train.npy", train)
        cache.save_array(tmp / "val.npy", val)
        meta = dict(corpus.meta)
        meta.update(
            content_hash=corpus.content_hash,
            n_docs={"train": len(train_docs), "val": len(val_docs)},
            n_tokens={"train": int(train.size), "val": int(val.size)},  # EOS included
            n_bytes={"train": _n_bytes(train_docs), "val": _n_bytes(val_docs)},
            val_fraction=cfg.val_fraction, split_rule=SPLIT_RULE,
            val_doc_names=[d.name for d in val_docs[:1000]],  # first 1000
            tokenizer=tok.spec(), cache_key=key, dataset_version=cache.DATASET_VERSION,
            dtype=dtype.name, build_seconds=round(time.perf_counter() - t0, 3),
            built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        cache.write_json(tmp / cache.META, meta)  # last: marks the entry complete
    return build


def load_dataset(cfg: DataConfig, *, progress: bool = False) -> "Dataset":
    """Corpus -> split -> token cache (built once, then memory-mapped) -> Dataset."""
    cfg.validate()
    log = _log(progress)
    corpus = load_corpus(cfg)
    log(f"corpus {cfg.source}: {len(corpus.docs)} documents, sha256 {corpus.content_hash[:12]}")
    train_docs, val_docs = split_documents(corpus.docs, cfg.val_fraction)
    key = cache.cache_key(corpus.content_hash,
                          tokenizer_config(cfg.tokenizer, cfg.vocab_size, cfg.n_sentinels),
                          {"val_fraction": cfg.val_fraction, "rule": SPLIT_RULE})
    root = cfg.resolved_cache_dir()
    entry, built = cache.open_or_build(root, key,
                                       _builder(cfg, corpus, train_docs, val_docs, key, log),
                                       log=log)
    meta = cache.read_meta(entry)
    try:
        if cfg.tokenizer == "bpe":
            tok = BPETokenizer.load(entry / "tokenizer.json", cfg.n_sentinels, cfg.vocab_size)
        else:
            tok = ByteTokenizer(cfg.n_sentinels)
        train = cache.load_array(entry / "train.npy")
        val = cache.load_array(entry / "val.npy")
    except (OSError, ValueError) as e:
        raise InputError(f"the token cache entry is damaged ({e})", file=str(entry),
                         key="data.cache_dir", fix="delete this folder; it is rebuilt on the "
                                                   "next load") from None
    if (train.ndim != 1 or train.size != meta["n_tokens"]["train"]
            or val.size != meta["n_tokens"]["val"] or meta.get("cache_key") != key):
        raise InputError("the token cache entry does not match its meta.json", file=str(entry),
                         key="data.cache_dir", fix="delete this folder; it is rebuilt on the "
                                                   "next load")
    meta.update({k: v for k, v in corpus.meta.items() if k not in ("n_docs",)})
    meta["cache_dir"] = str(entry)
    meta["cache_hit"] = not built
    log(f"token cache {key}: {'built' if built else 'reused'}; train {train.size} tokens, "
        f"val {val.size} tokens, tokenizer {tok.name}")
    return Dataset(cfg, tok, train, val, meta)


class Dataset:
    """Memory-mapped train/val token streams with pure batch and validation-window functions."""

    def __init__(self, cfg: DataConfig, tokenizer: Tokenizer, train: np.ndarray,
                 val: np.ndarray, meta: dict):
        self.cfg, self.tokenizer, self.train, self.val, self.meta = cfg, tokenizer, train, val, meta
        n_tok = max(1, int(meta["n_tokens"]["train"]))
        self.bytes_per_token = float(meta["n_bytes"]["train"]) / n_tok
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
