"""Documents of a source, in order: the byte budget, one-document corpora, identity and split.

`stream_documents(source, cfg)` yields the source's documents (sources.py) with empty ones
dropped, cut to `max_bytes` UTF-8 bytes in order (the last one cut), and a corpus of a single
document cut into MAX_CHUNKS pieces at line ends so that it can be split. Memory: one document
(plus the first, held until a second one shows that there is more than one).

The split (`split_mask`) is decided from each document's name hash and size alone, so the build
streams: one pass learns (hash, size) per document (16 bytes each), the next writes each
document's tokens to its side. `load_corpus` materialises everything (small corpora, tests).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from runstore import InputError
from scaling.data.config import DataConfig
from scaling.data.formats import SOURCE_KEY, SUPPORTED, Document
from scaling.data.sources import open_source

MAX_CHUNKS = 64  # a corpus of one document is cut into this many pieces so that it can be split

__all__ = ["Document", "Corpus", "load_corpus", "stream_documents", "split_documents",
           "split_mask", "chunk_document", "unit_hash", "ContentHash", "empty_error"]


@dataclass
class Corpus:
    docs: list[Document]
    content_hash: str  # sha256 over (name, text) of every document, in order
    meta: dict = field(default_factory=dict)


class ContentHash:
    """sha256 over (len(name), len(data), name, data) of every document, in order."""

    def __init__(self):
        self._h = hashlib.sha256()

    def update(self, name: str, data: bytes) -> None:
        nm = name.encode("utf-8")
        self._h.update(f"{len(nm)}:{len(data)}:".encode())
        self._h.update(nm)
        self._h.update(data)

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def unit_hash(name: str) -> float:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big") / 2.0**64


def _budgeted(docs: Iterator[Document], max_bytes: int) -> Iterator[Document]:
    left = max_bytes if max_bytes > 0 else None
    for doc in docs:
        if not doc.text:
            continue
        if left is not None:
            if left <= 0:
                return
            data = doc.text.encode("utf-8")
            if len(data) > left:
                doc = Document(doc.name, data[:left].decode("utf-8", errors="ignore"))
                data = doc.text.encode("utf-8")
            left -= len(data)
            if not doc.text:
                continue
        yield doc


def stream_documents(source, cfg: DataConfig, skipped: list[str] | None = None,
                     hasher: "ContentHash | None" = None, chunk_lone: bool = True
                     ) -> Iterator[Document]:
    """The source's documents after the budget; a lone document comes out in pieces (unless
    chunk_lone is False). `hasher` sees each document as the source gave it (before the cut
    into pieces), so the content hash is that of the documents, however they are split."""
    skipped = [] if skipped is None else skipped
    docs = source.documents(skipped)
    ids = getattr(source, "pretokenized", False)  # documents of ids: no text budget or chunks
    if not ids:
        docs = _budgeted(docs, cfg.max_bytes)
    if hasher is not None:
        docs = _hashed(docs, hasher)
    if not chunk_lone or ids:
        yield from docs
        return
    first = next(docs, None)
    if first is None:
        return
    second = next(docs, None)
    if second is None:
        yield from chunk_document(first)
        return
    yield first
    yield second
    yield from docs


def _hashed(docs, hasher: "ContentHash"):
    for d in docs:
        ids = getattr(d, "ids", None)
        hasher.update(d.name, d.text.encode("utf-8") if ids is None
                      else np.ascontiguousarray(ids).tobytes())
        yield d


def empty_error(source, skipped: list[str]) -> InputError:
    if skipped:
        kinds = sorted({s.rsplit(".", 1)[-1] if "." in s else "(no suffix)" for s in skipped})
        return InputError(f"no text documents: {len(skipped)} files are not UTF-8 text "
                          f"(e.g. {skipped[0]}; suffixes: {', '.join(kinds[:8])})",
                          file=source.where, key=SOURCE_KEY, fix=f"supported: {SUPPORTED}")
    return InputError("the corpus is empty: no non-empty documents", file=source.where,
                      key=SOURCE_KEY, fix="point data.source at non-empty text (UTF-8)")


def load_corpus(cfg: DataConfig) -> Corpus:
    """Read the configured source into documents in memory; InputError on a bad/empty source."""
    source = open_source(cfg)
    skipped: list[str] = []
    h = ContentHash()
    docs = list(stream_documents(source, cfg, skipped, hasher=h, chunk_lone=False))
    if not docs:
        raise empty_error(source, skipped)
    meta = {**source.meta(), "n_docs": len(docs), "max_bytes": cfg.max_bytes,
            "skipped_files": len(skipped), "skipped_names": skipped}
    return Corpus(docs, h.hexdigest(), meta)


def chunk_document(doc: Document, n: int = MAX_CHUNKS) -> list[Document]:
    """Cut one document into up to n pieces, at line ends where possible (for one-file corpora)."""
    text = doc.text
    n = max(1, min(n, len(text)))
    target = -(-len(text) // n)
    pieces, start = [], 0
    while start < len(text):
        end = min(len(text), start + target)
        if end < len(text):
            nl = text.find("\n", end)
            if nl != -1 and nl - end < target:
                end = nl + 1
        pieces.append(text[start:end])
        start = end
    return [Document(f"{doc.name}#{i:03d}", p) for i, p in enumerate(pieces)]


def split_mask(hashes: np.ndarray, sizes: np.ndarray, val_fraction: float,
               where: str | None = None) -> np.ndarray:
    """Which documents go to validation (bool per document), from name hashes and sizes.

    Documents are visited in increasing hash; each goes to validation unless it would push
    validation past 1.25 times its target of val_fraction of the corpus size; the visit stops
    once the target is reached. So validation holds about val_fraction of the bytes, never a
    lopsided share from one huge document, and the choice depends only on names and sizes.
    Both sides get at least one document.
    """
    n = len(sizes)
    if n < 2:
        raise InputError("the corpus is too small to split into training and validation",
                         file=where, key=SOURCE_KEY, fix="use a larger corpus or max_bytes")
    sizes = [int(s) for s in sizes]
    target = val_fraction * sum(sizes)
    order = np.lexsort((np.arange(n), np.asarray(hashes, dtype=np.float64))).tolist()
    is_val, got = np.zeros(n, dtype=bool), 0
    for i in order:
        if got >= target:
            break
        if got + sizes[i] <= 1.25 * target:
            is_val[i], got = True, got + sizes[i]
    if not is_val.any():
        is_val[min(order, key=lambda i: sizes[i])] = True
    if is_val.all():
        is_val[order[-1]] = False
    return is_val


def split_documents(docs: list[Document], val_fraction: float
                    ) -> tuple[list[Document], list[Document]]:
    """(train, validation) by whole documents (split_mask); each side keeps the corpus order."""
    if len(docs) == 1:
        docs = chunk_document(docs[0])
    is_val = split_mask([unit_hash(d.name) for d in docs],
                        [len(d.text.encode("utf-8")) for d in docs], val_fraction,
                        docs[0].name if docs else None)
    return ([d for d, v in zip(docs, is_val) if not v], [d for d, v in zip(docs, is_val) if v])
