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

import fnmatch
import os
import platform
import stat
import sysconfig
from pathlib import Path
from typing import Iterator

from runstore import InputError
from scaling.data import synthetic
from scaling.data.config import DataConfig
from scaling.data.formats import SOURCE_KEY, SUPPORTED, Document, file_docs, missing_extra, refusal
from scaling.data.kinds import tokenizer_kind


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


def _walk_error(e: OSError):
    raise InputError(f"cannot list this folder ({e.strerror or e})", file=e.filename,
                     key=SOURCE_KEY, fix="make it readable (chmod +rx) or move it out of the "
                                         "source")


def _file_keys(dirpath: str, real_dir: str, filenames: list[str]) -> list[tuple[str, str]]:
    """(file name, the real path it reaches) for the regular files among `filenames` (a
    symlink to one included, a broken or folder link left out)."""
    out = []
    for f in filenames:
        full = os.path.join(dirpath, f)
        try:
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                real = os.path.realpath(full)
                st = os.stat(real)
            else:
                real = os.path.join(real_dir, f)
        except OSError:  # a broken link
            continue
        if stat.S_ISREG(st.st_mode):
            out.append((f, real))
    return out


def _once(found: list[tuple[str, str]], base: Path) -> list[str]:
    """The names of (name, real path) pairs, sorted, each real file once (a symlink beside its
    target, a tree linked twice): under its own name when one reaches it without a link, else
    under the first."""
    real_base, names = os.path.realpath(base), {}
    for name, real in sorted(found):
        if real not in names or os.path.join(real_base, name) == real:
            names[real] = name
    return sorted(names.values())


def tree_files(root: Path) -> list[str]:
    """Every non-hidden file under `root`, each once; symlinked folders are not entered."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=_walk_error):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"]
        rel_dir = Path(dirpath).relative_to(root)
        found += [((rel_dir / f).as_posix(), real) for f, real in
                  _file_keys(dirpath, os.path.realpath(dirpath),
                             [f for f in filenames if not f.startswith(".")])]
    return _once(found, root)


def _could_match(parts: tuple, pat: tuple) -> bool:
    """Whether a folder at relative `parts` can hold a match of the pattern parts `pat`."""
    if not parts:
        return True
    if not pat:
        return False
    if pat[0] == "**":
        return True
    return fnmatch.fnmatchcase(parts[0], pat[0]) and _could_match(parts[1:], pat[1:])


def _matches(parts: tuple, pat: tuple) -> bool:
    """glob's rule: '**' is any number of folders (none included), other parts fnmatch one."""
    if not pat:
        return not parts
    if pat[0] == "**":
        return any(_matches(parts[k:], pat[1:]) for k in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pat[0]) and _matches(parts[1:], pat[1:])


def glob_files(pattern: str) -> tuple[Path, list[str]]:
    """(base, the non-hidden files under it that match), each file once. Symlinked folders are
    followed as glob follows them, but never into a folder already visited (no loops, no
    second copy of a tree)."""
    parts = Path(pattern).parts
    k = next((i for i, p in enumerate(parts) if _is_glob(p)), len(parts))
    base = Path(*parts[:k]) if k else Path(".")
    pat = parts[k:]
    found, seen = [], set()
    for dirpath, dirnames, filenames in os.walk(base, followlinks=True):
        real_dir = os.path.realpath(dirpath)
        if real_dir in seen:  # reached again through a symlink: a loop or a second copy
            dirnames[:] = []
            continue
        seen.add(real_dir)
        rel = Path(dirpath).relative_to(base).parts
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and _could_match(rel + (d,), pat))
        hits = [f for f in filenames if not f.startswith(".") and _matches(rel + (f,), pat)]
        found += [(Path(*rel, f).as_posix(), real)
                  for f, real in _file_keys(dirpath, real_dir, hits)]
    return base, _once(found, base)


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
