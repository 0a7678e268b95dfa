"""Corpus sources -> a sorted list of named text documents, its content hash, and the split.

Sources (DataConfig.source):
- 'stdlib': the running interpreter's standard library .py files (sysconfig stdlib path), sorted
  by relative path, without site-packages and (unless include_tests) the top-level test/ package;
  files that are not valid UTF-8 are skipped and counted.
- 'synthetic': Markov-chain text with a known entropy rate (synthetic.py).
- a text file, a folder (recursive; hidden files and folders skipped; files that are not UTF-8
  text are skipped and counted) or a glob ('data/**/*.txt'); any '.jsonl' file among them is read
  as one document per line, the text in `text_field`.

Document names are relative paths (plus ':line' for JSONL), so the content hash and the
train/validation split do not depend on where the corpus lies on disk.
"""
from __future__ import annotations

import glob as globlib
import hashlib
import json
import os
import platform
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from scaling.data import synthetic
from scaling.data.config import DataConfig
from scaling.errors import InputError

SOURCE_KEY = "data.source"
MAX_CHUNKS = 64  # a corpus of one document is cut into this many pieces so that it can be split


@dataclass(frozen=True)
class Document:
    name: str
    text: str


@dataclass
class Corpus:
    docs: list[Document]
    content_hash: str  # sha256 over (name, text) of every document, in order
    meta: dict = field(default_factory=dict)


def _is_glob(s: str) -> bool:
    return any(c in s for c in "*?[")


def _decode(data: bytes) -> str | None:
    """UTF-8 text, or None for binary / non-UTF-8 data."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _stdlib_files(include_tests: bool) -> tuple[Path, list[str]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    names = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        parts = rel_dir.parts
        dirnames[:] = [d for d in dirnames if d not in ("site-packages", "dist-packages",
                                                        "__pycache__")
                       and not (not parts and d == "test" and not include_tests)]
        for f in filenames:
            if f.endswith(".py"):
                names.append((rel_dir / f).as_posix())
    return root, sorted(names)


def _tree_files(root: Path) -> list[str]:
    names = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
        rel_dir = Path(dirpath).relative_to(root)
        names += [(rel_dir / f).as_posix() for f in filenames if not f.startswith(".")]
    return sorted(n for n in names if (root / n).is_file())


def _glob_files(pattern: str) -> tuple[Path, list[str]]:
    parts = Path(pattern).parts
    base_parts = []
    for p in parts:
        if _is_glob(p):
            break
        base_parts.append(p)
    base = Path(*base_parts) if base_parts else Path(".")
    hits = [Path(h) for h in globlib.glob(pattern, recursive=True)]
    names = sorted(h.relative_to(base).as_posix() for h in hits if h.is_file()
                   and not any(q.startswith(".") for q in h.relative_to(base).parts))
    return base, names


def _jsonl_docs(path: Path, name: str, text_field: str) -> list[Document]:
    docs = []
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise InputError(f"line {lineno} is not valid JSON ({e})", file=f"{path}:{lineno}",
                                 key=SOURCE_KEY, fix="write one JSON object per line") from None
            if not isinstance(rec, dict) or text_field not in rec:
                raise InputError(f"line {lineno} has no field '{text_field}'",
                                 file=f"{path}:{lineno}", key="data.text_field",
                                 fix="set data.text_field to the field that holds the text, or "
                                     "fix that line")
            text = rec[text_field]
            if not isinstance(text, str):
                raise InputError(f"line {lineno}: field '{text_field}' is not a string",
                                 file=f"{path}:{lineno}", key="data.text_field",
                                 fix="the text field must hold a JSON string")
            docs.append(Document(f"{name}:{lineno}", text))
    return docs


class _Budget:
    """Keeps documents, in order, up to max_bytes UTF-8 bytes (0 = no limit); cuts the last one."""

    def __init__(self, max_bytes: int):
        self.left = max_bytes if max_bytes > 0 else None

    @property
    def full(self) -> bool:
        return self.left is not None and self.left <= 0

    def take(self, doc: Document, docs: list[Document]) -> None:
        if not doc.text or self.full:
            return
        if self.left is not None:
            data = doc.text.encode("utf-8")
            if len(data) > self.left:
                doc = Document(doc.name, data[: self.left].decode("utf-8", errors="ignore"))
                data = doc.text.encode("utf-8")
            self.left -= len(data)
            if not doc.text:
                return
        docs.append(doc)


def _read_files(base: Path, names: list[str], cfg: DataConfig, meta: dict) -> list[Document]:
    budget, docs, skipped = _Budget(cfg.max_bytes), [], []
    for name in names:
        if budget.full:
            break
        path = base / name
        if name.endswith(".jsonl"):
            for d in _jsonl_docs(path, name, cfg.text_field):
                budget.take(d, docs)
            continue
        text = _decode(path.read_bytes())
        if text is None:
            skipped.append(name)
            continue
        budget.take(Document(name, text), docs)
    meta["n_files"] = len(names)
    meta["skipped_files"] = len(skipped)
    meta["skipped_names"] = skipped
    return docs


def content_hash(docs: list[Document]) -> str:
    h = hashlib.sha256()
    for d in docs:
        name, data = d.name.encode("utf-8"), d.text.encode("utf-8")
        h.update(f"{len(name)}:{len(data)}:".encode())
        h.update(name)
        h.update(data)
    return h.hexdigest()


def load_corpus(cfg: DataConfig) -> Corpus:
    """Read the configured source into sorted documents; InputError on a bad or empty source."""
    src = cfg.source
    meta: dict = {"source": src}
    if src == "stdlib":
        root, names = _stdlib_files(cfg.include_tests)
        meta.update(kind="stdlib", python_version=platform.python_version(),
                    python_implementation=platform.python_implementation(),
                    stdlib_path=str(root), include_tests=cfg.include_tests)
        docs = _read_files(root, names, cfg, meta)
        where = str(root)
    elif src == "synthetic":
        meta.update(kind="synthetic", synthetic=synthetic.describe(cfg))
        budget, docs = _Budget(cfg.max_bytes), []
        for name, text in synthetic.generate(cfg):
            budget.take(Document(name, text), docs)
        where = "synthetic"
    else:
        path = Path(src).expanduser()
        if _is_glob(src):
            base, names = _glob_files(str(path))
            if not names:
                raise InputError("the glob matches no files", file=src, key=SOURCE_KEY,
                                 fix="check the pattern; use '**' for subfolders")
            meta["kind"] = "glob"
        elif path.is_dir():
            base, names = path, _tree_files(path)
            meta["kind"] = "folder"
        elif path.is_file():
            base, names = path.parent, [path.name]
            meta["kind"] = "jsonl" if path.name.endswith(".jsonl") else "file"
        else:
            raise InputError("no such file or folder", file=src, key=SOURCE_KEY,
                             fix="give 'stdlib', 'synthetic', or an existing text file, folder, "
                                 "glob or .jsonl file")
        docs = _read_files(base, names, cfg, meta)
        where = src
    if not docs:
        raise InputError("the corpus is empty: no non-empty UTF-8 text documents", file=where,
                         key=SOURCE_KEY, fix="point data.source at text files (UTF-8)")
    meta["n_docs"] = len(docs)
    meta["max_bytes"] = cfg.max_bytes
    return Corpus(docs, content_hash(docs), meta)


# ---- train / validation split ----

def _unit_hash(name: str) -> float:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big") / 2.0**64


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


def split_documents(docs: list[Document], val_fraction: float
                    ) -> tuple[list[Document], list[Document]]:
    """Deterministic split by whole documents, in the order of sha256(name).

    Documents are visited in increasing hash of their name; each goes to validation unless it
    would push validation past 1.25 times its target of val_fraction of the corpus bytes; the visit
    stops once the target is reached. So validation holds about val_fraction of the bytes, never
    a lopsided share from one huge document, and the choice depends only on the names and sizes.
    Both sides get at least one document; a corpus of one document is first cut into pieces
    (chunk_document). Each side keeps the corpus order.
    """
    if len(docs) == 1:
        docs = chunk_document(docs[0])
    if len(docs) < 2:
        raise InputError("the corpus is too small to split into training and validation",
                         file=docs[0].name if docs else None, key=SOURCE_KEY,
                         fix="use a larger corpus or max_bytes")
    sizes = [len(d.text.encode("utf-8")) for d in docs]
    target = val_fraction * sum(sizes)
    order = sorted(range(len(docs)), key=lambda i: (_unit_hash(docs[i].name), i))
    is_val, got = [False] * len(docs), 0
    for i in order:
        if got >= target:
            break
        if got + sizes[i] <= 1.25 * target:
            is_val[i], got = True, got + sizes[i]
    if not any(is_val):
        is_val[min(order, key=lambda i: sizes[i])] = True
    if all(is_val):
        is_val[order[-1]] = False
    train = [d for d, v in zip(docs, is_val) if not v]
    val = [d for d, v in zip(docs, is_val) if v]
    return train, val
