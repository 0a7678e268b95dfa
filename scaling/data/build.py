"""Building one token-cache entry: streaming passes over the source, memory bounded by a batch.

1. scan: every document's name hash and size (16 bytes per document kept) and the content hash;
   the split (corpus.split_mask) follows from them.
2. tokenizer, made by its kind (kinds.py); bpe: trained on a seeded sample of the training
   documents of at most `tokenizer_train_bytes` (all of them, in corpus order, when the split
   is smaller: the stdlib's BPE is the one it always was), streamed from the source again.
3. encode: documents in batches of about BATCH_BYTES are encoded (HF tokenizers run each batch
   on all cores while a reader thread parses the next one) and appended, each followed by EOS,
   to the train or validation shard files (shards.py). The pass hashes the content again: a
   source that changed since the scan is refused, and so is one whose manifest changed.

Deterministic: the same source and config give byte-identical shards and meta.json, whoever
builds them and however often a build was killed before.
"""
from __future__ import annotations

import queue
import resource
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runstore import InputError
from scaling.data import cache, encode_pool
from scaling.data.config import DataConfig
from scaling.data.corpus import ContentHash, empty_error, split_mask, stream_documents, unit_hash
from scaling.data.kinds import tokenizer_kind
from scaling.data.shards import ShardWriter
from scaling.data.tokenizer import EOS_ID, Tokenizer

SPLIT_RULE = "bytes-by-sha256(name)-order, v1"  # see corpus.split_mask
BATCH_BYTES = 8 << 20  # text per encode batch: bounds memory, amortises the thread hand-off
BATCH_DOCS = 8192
VAL_NAMES = 1000  # validation document names kept in meta.json (the first ones)


@dataclass
class Scan:
    hashes: np.ndarray
    sizes: np.ndarray
    content_hash: str
    skipped: list


def scan(source, cfg: DataConfig, log) -> Scan:
    hashes, sizes, h, skipped = [], [], ContentHash(), []
    for doc in stream_documents(source, cfg, skipped, hasher=h):
        size = doc.ids.size if hasattr(doc, "ids") else len(doc.text.encode("utf-8"))
        hashes.append(unit_hash(doc.name))
        sizes.append(size)
    if not sizes:
        raise empty_error(source, skipped)
    log(f"scanned {len(sizes)} documents, {sum(sizes) / 1e6:.1f} M units")
    return Scan(np.array(hashes, np.float64), np.array(sizes, np.int64), h.hexdigest(), skipped)


def make_tokenizer(kind, source, cfg: DataConfig, sc: Scan, is_val: np.ndarray, tmp: Path,
                   log) -> tuple[Tokenizer, dict]:
    """The tokenizer for this entry (its kind stores it in `tmp` when it is not the byte one)
    and the record of its training sample."""
    return kind.build(lambda: stream_documents(source, cfg), sc.sizes, is_val, tmp, log)


def _batches(source, cfg: DataConfig, hasher: ContentHash):
    """(start index, documents) batches, produced by a reader thread one batch ahead."""
    q: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def produce():
        try:
            batch, nbytes, start, i = [], 0, 0, 0
            for i, doc in enumerate(stream_documents(source, cfg, hasher=hasher)):
                if stop.is_set():
                    return
                batch.append(doc)
                nbytes += len(doc.text) if hasattr(doc, "text") else doc.ids.size
                if nbytes >= BATCH_BYTES or len(batch) >= BATCH_DOCS:
                    q.put((start, batch))
                    batch, nbytes, start = [], 0, i + 1
            if batch:
                q.put((start, batch))
            q.put(None)
        except BaseException as e:  # handed to the consumer, which raises it
            q.put(e)

    t = threading.Thread(target=produce, name="data-reader", daemon=True)
    t.start()
    try:
        while (item := q.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while t.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(0.05)


class _Progress:
    """The encode pass's progress in MB/s and tokens/s: a bar redrawn in place on a terminal,
    a log line every `every_s` elsewhere (CI logs, files)."""

    def __init__(self, total_units: int, log, every_s: float = 2.0):
        self.total, self.log = total_units, log
        self.bar = bool(getattr(log, "enabled", False)) and sys.stderr.isatty()
        self.every = 0.25 if self.bar else every_s
        self.t0 = self.last = time.perf_counter()
        self.units = self.tokens = 0

    def add(self, units: int, tokens: int) -> None:
        self.units += units
        self.tokens += tokens
        now = time.perf_counter()
        if now - self.last >= self.every or (self.bar and self.units >= self.total):
            self.last = now
            self._show(max(now - self.t0, 1e-9))

    def _show(self, dt: float) -> None:
        frac = min(self.units / max(self.total, 1), 1.0)
        rate = f"{self.units / 1e6 / dt:.2f} MB/s, {self.tokens / dt / 1e6:.2f} M tokens/s"
        if not self.bar:
            self.log(f"encoding {100 * frac:5.1f}%: {rate}")
            return
        eta = dt * (1 - frac) / frac if frac > 0 else 0.0
        filled = int(30 * frac)
        end = "\n" if frac >= 1.0 else ""
        print(f"\r  encoding [{'#' * filled}{'.' * (30 - filled)}] {100 * frac:5.1f}%  {rate}  "
              f"eta {eta:4.0f} s ", end=end, file=sys.stderr, flush=True)


def _encoded_here(batches, tok: Tokenizer):
    """(start, docs, ids per doc), encoded in this process (byte, tokens:, small corpora)."""
    for start, docs in batches:
        yield start, docs, tok.encode_batch([d.ids if hasattr(d, "ids") else d.text
                                             for d in docs])


def _encoded(source, cfg: DataConfig, tok: Tokenizer, text_bytes: int, tmp: Path, hasher, log,
             info: dict):
    """The encoded stream, from worker processes when that pays (encode_pool.py); their
    number goes to info["workers"]."""
    info["workers"] = 0
    batches = _batches(source, cfg, hasher)
    if not encode_pool.use_pool(tokenizer_kind(cfg), text_bytes):
        yield from _encoded_here(batches, tok)
        return
    with encode_pool.EncodePool(cfg, tmp) as pool:
        info["workers"] = pool.workers
        log(f"encoding with {pool.workers} worker processes")
        yield from pool.encode(batches)


def encode_pass(source, cfg: DataConfig, tok: Tokenizer, sc: Scan, is_val: np.ndarray,
                tmp: Path, dtype: np.dtype, log) -> dict:
    writers = {s: ShardWriter(tmp, s, dtype) for s in ("train", "val")}
    h, val_names = ContentHash(), []
    n_docs = {"train": 0, "val": 0}
    eos = np.array([EOS_ID], np.int64)
    prog, info = _Progress(int(sc.sizes.sum()), log), {}
    for start, docs, encoded in _encoded(source, cfg, tok, int(sc.sizes.sum()), tmp, h, log,
                                         info):
        parts: dict[str, list] = {"train": [], "val": []}
        for j, (doc, ids) in enumerate(zip(docs, encoded, strict=True)):
            i = start + j
            side = "val" if i < len(is_val) and is_val[i] else "train"
            if side == "val" and len(val_names) < VAL_NAMES:
                val_names.append(doc.name)
            n_docs[side] += 1
            parts[side] += [ids, eos]
        for side, p in parts.items():
            if p:
                ids = np.concatenate(p)
                if ids.min() < 0 or ids.max() >= tok.vocab_size:
                    raise RuntimeError("token id out of range")  # the tokenizer's own ids
                writers[side].append(ids)
        prog.add(int(sc.sizes[start:start + len(docs)].sum()), sum(len(e) + 1 for e in encoded))
    if h.hexdigest() != sc.content_hash or sum(n_docs.values()) != len(sc.sizes):
        raise InputError("the source changed while its token cache was built", file=source.where,
                         key="data.source", fix="rerun once the source stops changing")
    shards = {s: w.close() for s, w in writers.items()}
    return {"shards": shards, "n_docs": n_docs, "val_doc_names": val_names,
            "n_tokens": {s: sum(x["tokens"] for x in sh) for s, sh in shards.items()},
            "seconds": time.perf_counter() - prog.t0, "workers": info["workers"]}


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory of this process (RUSAGE_CHILDREN: of its largest finished child)."""
    r = resource.getrusage(who).ru_maxrss
    return r / (1 << 20) if sys.platform == "darwin" else r / 1024.0


def builder(cfg: DataConfig, source, manifest: dict, key: str, log):
    """`build(tmp)` for cache.open_or_build: writes the shards, meta.json and build.json."""
    def build(tmp: Path) -> None:
        t0 = time.perf_counter()
        sc = scan(source, cfg, log)
        if sc.skipped:  # said once, at build time; the names are in meta.json too
            warnings.warn(f"{source.where}: {len(sc.skipped)} file(s) skipped, not valid UTF-8 "
                          f"text (e.g. {', '.join(sc.skipped[:3])}); meta.json lists them",
                          stacklevel=2)
        is_val = split_mask(sc.hashes, sc.sizes, cfg.val_fraction, source.where)
        kind = tokenizer_kind(cfg)
        tok, sample = make_tokenizer(kind, source, cfg, sc, is_val, tmp, log)
        dtype = cache.token_dtype(tok.vocab_size)
        enc = encode_pass(source, cfg, tok, sc, is_val, tmp, dtype, log)
        if source.manifest() != manifest:
            raise InputError("the source's files changed while its token cache was built",
                             file=source.where, key="data.source",
                             fix="rerun once the source stops changing")
        text = not kind.pretokenized
        meta = dict(source.meta())
        meta.update(
            content_hash=sc.content_hash, n_docs=enc["n_docs"], n_tokens=enc["n_tokens"],
            n_bytes={s: int(sc.sizes[is_val == (s == "val")].sum()) if text else 0
                     for s in ("train", "val")},
            val_fraction=cfg.val_fraction, split_rule=SPLIT_RULE, max_bytes=cfg.max_bytes,
            val_doc_names=enc["val_doc_names"], tokenizer=tok.spec(), tokenizer_sample=sample,
            skipped_files=len(sc.skipped), skipped_names=sc.skipped[:1000],
            cache_key=key, dataset_version=cache.DATASET_VERSION, dtype=dtype.name,
            shards=enc["shards"])
        wall = time.perf_counter() - t0
        units = int(sc.sizes.sum())
        cache.write_json(tmp / cache.BUILD, {
            "wall_s": round(wall, 3), "encode_s": round(enc["seconds"], 3),
            "mb_per_s": round(units / 1e6 / max(wall, 1e-9), 3),
            "tokens_per_s": round(sum(enc["n_tokens"].values()) / max(wall, 1e-9), 1),
            "peak_rss_mb": round(peak_rss_mb(), 1), "encode_workers": enc["workers"],
            "worker_peak_rss_mb": round(peak_rss_mb(resource.RUSAGE_CHILDREN), 1)
            if enc["workers"] else 0.0,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        cache.write_json(tmp / cache.META, meta)  # last: marks the entry complete
    return build
