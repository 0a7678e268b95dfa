"""Corpus sources, dispatched in one place (`open_source`): what to read, and its cheap manifest.

Kinds (DataConfig.source):
- 'stdlib': the running interpreter's standard library .py files, sorted by relative path,
  without site-packages and (unless include_tests) the top-level test/ package.
- 'synthetic': Markov-chain text with a known entropy rate (synthetic.py).
- a file, a folder (recursive; hidden files and folders skipped) or a glob ('data/**/*.txt'):
  every file is read by its format (formats.py: text, .jsonl[.gz|.zst], .parquet).
- 'hf:NAME': a Hugging Face dataset, `load_from_disk` when NAME is a local folder (what
  save_to_disk wrote), else `load_dataset(NAME, hf_config, split=hf_split, streaming=...)`.
- 'tokens:PATH': a pre-tokenized array (tokens.py), not documents of text; its spec is a
  tokenizer kind's (kinds.TokensKind), which opens it.

A source's `manifest()` identifies its content without reading it (relative paths, sizes and
mtimes of the files; the hub name, config and split), so that opening a built cache costs a few
stats. Its `documents()` streams Document(name, text) in a fixed order. Document names are
relative, so the split and the cache key do not depend on where the corpus lies on disk.
"""
from __future__ import annotations

import glob as globlib
import os
import platform
import sysconfig
from pathlib import Path
from typing import Iterator

from scaling.data import synthetic
from scaling.data.config import DataConfig
from scaling.data.formats import (SOURCE_KEY, SUPPORTED, Document, file_docs, missing_extra,
                                  refusal)
from scaling.data.kinds import tokenizer_kind
from runstore import InputError


def _is_glob(s: str) -> bool:
    return any(c in s for c in "*?[")


def _stat_list(base: Path, names: list[str]) -> list[list]:
    out = []
    for n in names:
        st = os.stat(base / n)
        out.append([n, st.st_size, st.st_mtime_ns])
    return out


class Source:
    kind = "?"
    where = "?"
    pretokenized = False  # documents of text (tokens.TokensSource: of ids)

    def manifest(self) -> dict:
        raise NotImplementedError

    def meta(self) -> dict:
        return {"source": self.where, "kind": self.kind}

    def documents(self, skipped: list[str]) -> Iterator[Document]:
        raise NotImplementedError


class FileSource(Source):
    """Files under `base` (relative `names`, sorted), each read by its format."""

    def __init__(self, kind: str, where: str, base: Path, names: list[str], cfg: DataConfig,
                 extra_meta: dict | None = None):
        self.kind, self.where, self.base, self.names = kind, where, base, names
        self.text_field, self.extra = cfg.text_field, extra_meta or {}

    def manifest(self) -> dict:
        return {"kind": self.kind, "files": _stat_list(self.base, self.names), **self.extra}

    def meta(self) -> dict:
        return {**super().meta(), **self.extra, "n_files": len(self.names)}

    def documents(self, skipped: list[str]) -> Iterator[Document]:
        for name in self.names:
            yield from file_docs(self.base / name, name, self.text_field, skipped)


class SyntheticSource(Source):
    kind, where = "synthetic", "synthetic"

    def __init__(self, cfg: DataConfig):
        self.cfg = cfg

    def manifest(self) -> dict:
        return {"kind": "synthetic", **synthetic.describe(self.cfg)}

    def meta(self) -> dict:
        return {**super().meta(), "synthetic": synthetic.describe(self.cfg)}

    def documents(self, skipped: list[str]) -> Iterator[Document]:
        for name, text in synthetic.generate(self.cfg):
            yield Document(name, text)


def stdlib_files(include_tests: bool) -> tuple[Path, list[str]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    names = []
    for dirpath, dirnames, filenames in os.walk(root):
        parts = Path(dirpath).relative_to(root).parts
        dirnames[:] = [d for d in dirnames if d not in ("site-packages", "dist-packages",
                                                        "__pycache__")
                       and not (not parts and d == "test" and not include_tests)]
        rel_dir = Path(dirpath).relative_to(root)
        names += [(rel_dir / f).as_posix() for f in filenames if f.endswith(".py")]
    return root, sorted(names)


def tree_files(root: Path) -> list[str]:
    names = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
        rel_dir = Path(dirpath).relative_to(root)
        names += [(rel_dir / f).as_posix() for f in filenames if not f.startswith(".")]
    return sorted(n for n in names if (root / n).is_file())


def glob_files(pattern: str) -> tuple[Path, list[str]]:
    base_parts = []
    for p in Path(pattern).parts:
        if _is_glob(p):
            break
        base_parts.append(p)
    base = Path(*base_parts) if base_parts else Path(".")
    hits = [Path(h) for h in globlib.glob(pattern, recursive=True)]
    names = sorted(h.relative_to(base).as_posix() for h in hits if h.is_file()
                   and not any(q.startswith(".") for q in h.relative_to(base).parts))
    return base, names


def _stdlib(cfg: DataConfig) -> FileSource:
    root, names = stdlib_files(cfg.include_tests)
    extra = {"python_version": platform.python_version(),
             "python_implementation": platform.python_implementation(),
             "stdlib_path": str(root), "include_tests": cfg.include_tests}
    return FileSource("stdlib", str(root), root, names, cfg, extra)


def _path_source(cfg: DataConfig) -> FileSource:
    src = cfg.source
    path = Path(src).expanduser()
    if _is_glob(src):
        base, names = glob_files(str(path))
        if not names:
            raise InputError("the glob matches no files", file=src, key=SOURCE_KEY,
                             fix="check the pattern; use '**' for subfolders")
        return FileSource("glob", src, base, names, cfg)
    if path.is_dir():
        if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file():
            raise InputError("this folder is a Hugging Face dataset (save_to_disk)", file=src,
                             key=SOURCE_KEY, fix=f"use source 'hf:{src}'")
        return FileSource("folder", src, path, tree_files(path), cfg)
    if path.is_file():
        why = refusal(path.name)
        if why:
            raise InputError(f"unsupported source format: {why}", file=src, key=SOURCE_KEY,
                             fix=f"supported: {SUPPORTED}")
        return FileSource("file", src, path.parent, [path.name], cfg)
    raise InputError("no such file or folder", file=src, key=SOURCE_KEY,
                     fix=f"give 'stdlib', 'synthetic' or an existing path; supported: "
                         f"{SUPPORTED}")


class HFSource(Source):
    """A Hugging Face dataset: a local save_to_disk folder, or a hub name (`load_dataset`)."""

    kind = "hf"

    def __init__(self, cfg: DataConfig):
        self.name = cfg.source[3:]
        self.where, self.cfg = cfg.source, cfg
        self.local = Path(self.name).expanduser().is_dir()
        if not self.name:
            raise InputError("hf: needs a dataset name or folder", file=cfg.source,
                             key=SOURCE_KEY, fix="e.g. hf:roneneldan/TinyStories or hf:data/ds")

    def manifest(self) -> dict:
        c = self.cfg
        m = {"kind": "hf", "config": c.hf_config, "split": c.hf_split, "field": c.text_field}
        if self.local:  # the Arrow files and state.json (which holds the fingerprint)
            root = Path(self.name).expanduser()
            return {**m, "local": True, "files": _stat_list(root, tree_files(root))}
        return {**m, "name": self.name, "streaming": c.hf_streaming}

    def meta(self) -> dict:
        return {**super().meta(), "hf_split": self.cfg.hf_split, "hf_config": self.cfg.hf_config}

    def _open(self):
        try:
            import datasets
        except ImportError:
            raise missing_extra("datasets", self.where) from None
        c = self.cfg
        if self.local:
            try:
                ds = datasets.load_from_disk(str(Path(self.name).expanduser()))
            except Exception as e:  # not a save_to_disk folder, damaged files
                raise InputError(f"not a readable save_to_disk dataset ({e})", file=self.name,
                                 key=SOURCE_KEY, fix="write it with Dataset.save_to_disk") from None
            if isinstance(ds, datasets.DatasetDict):
                if c.hf_split not in ds:
                    raise InputError(f"no split '{c.hf_split}' (splits: {', '.join(ds)})",
                                     file=self.name, key="data.hf_split",
                                     fix="set data.hf_split to one of them")
                ds = ds[c.hf_split]
            return ds
        return datasets.load_dataset(self.name, c.hf_config or None, split=c.hf_split,
                                     streaming=c.hf_streaming)

    def documents(self, skipped: list[str]) -> Iterator[Document]:
        ds = self._open()
        cols = list(ds.column_names or [])
        if self.cfg.text_field not in cols:
            raise InputError(f"no column '{self.cfg.text_field}' (columns: {', '.join(cols)})",
                             file=self.where, key="data.text_field",
                             fix="set data.text_field to the column that holds the text")
        row = 0
        for batch in ds.iter(batch_size=1000):
            for text in batch[self.cfg.text_field]:
                if not (text is None or isinstance(text, str)):
                    raise InputError(f"row {row}: '{self.cfg.text_field}' is not a string",
                                     file=self.where, key="data.text_field",
                                     fix="point data.text_field at a string column")
                if text:
                    yield Document(f"{self.cfg.hf_split}:{row}", text)
                row += 1


def open_source(cfg: DataConfig) -> Source:
    """The source object for cfg.source: cheap (lists and stats files, reads no text)."""
    kind = tokenizer_kind(cfg)
    if kind.pretokenized:  # 'tokens:PATH': the kind parses its own spec
        return kind.source()
    src = cfg.source
    if src == "stdlib":
        return _stdlib(cfg)
    if src == "synthetic":
        return SyntheticSource(cfg)
    if src.startswith("hf:"):
        return HFSource(cfg)
    return _path_source(cfg)
