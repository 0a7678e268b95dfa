"""Tokenizer kinds as objects: the one place that reads a config's tokenizer spec.

`tokenizer_kind(cfg)` maps a DataConfig to its kind; nothing else in the suite tests a spec
string ('byte', 'bpe', 'file:...', 'tokens:...'). Each kind owns what depends on it:

- `identity()`: the dict hashed into the token cache's key (cache.cache_key). These dicts are
  frozen: changing one re-keys, and so rebuilds, every cache of that kind.
- `vocab_size()`: the vocabulary known before anything is built (the sweep expands its grid
  with it); `vocab_size_from_config(cfg)` is the same for callers outside the data layer.
- `build(...)`: the tokenizer of a new cache entry (trained or loaded, stored in the entry when
  it is not the byte one) and its training-sample record.
- `load(entry, source)`: the tokenizer of a built entry.
- planning and encoding traits: `bytes_per_token` (a size estimate, docs/notes.md), whether worker
  processes pay (`encodes_in_workers`), whether the source is already ids (`pretokenized`).

Kinds, by the config key that names them:
- data.tokenizer 'byte': one id per UTF-8 byte (tokenizer.ByteTokenizer).
- data.tokenizer 'bpe': byte-level BPE trained on a seeded sample of the training split.
- data.tokenizer 'file:PATH/tokenizer.json': a pretrained HF tokenizer (pretrained.py).
- data.source 'tokens:PATH': stored ids (tokens.py); it overrides data.tokenizer, which must
  still be a valid spec (it is checked, then ignored).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from runstore import InputError
from scaling.data.pretrained import PretrainedTokenizer, file_sha256
from scaling.data.tokenizer import BPETokenizer, ByteTokenizer, Tokenizer
from scaling.data.tokens import TokensSource, TokensTokenizer

__all__ = ["TokenizerKind", "ByteKind", "BPEKind", "FileKind", "TokensKind", "KINDS",
           "kind_class", "tokenizer_kind", "vocab_size_from_config", "sample_mask"]

BPE_BYTES_PER_TOKEN = 3.4  # docs/notes.md: BPE of code, 2.6-3.6 bytes/token
#: The largest BPE vocabulary trained here: 4x the largest published ones (~256k); the
#: tokenizers library's trainer reserves memory by the requested size (2**31 - 1 asked it for
#: 141 GB and aborted the process).
MAX_BPE_VOCAB = 2**20


class TokenizerKind:
    """One kind of tokenizer, bound to the DataConfig that names it (`arg`: the part after
    the spec's prefix, '' for the plain names)."""

    spec = "?"           # the spec string ('byte', 'bpe') or its prefix ('file:', 'tokens:')
    config_key = "tokenizer"  # the DataConfig field that names this kind
    bytes_per_token = BPE_BYTES_PER_TOKEN
    encodes_in_workers = True
    pretokenized = False
    #: vocab_size() is only the requested size until the tokenizer is trained on the corpus
    #: (the built cache's tokenizer is then the truth)
    vocab_needs_training = False

    def __init__(self, cfg, arg: str = ""):
        self.cfg, self.arg = cfg, arg

    @classmethod
    def match(cls, spec: str) -> str | None:
        """The spec's argument when `spec` names this kind, else None."""
        return "" if spec == cls.spec else None

    def validate(self) -> None:
        """Config checks that only this kind needs (DataConfig.validate calls it)."""

    def identity(self) -> dict:
        raise NotImplementedError

    def vocab_size(self) -> int:
        raise NotImplementedError

    def build(self, documents: Callable[[], Iterator], sizes: np.ndarray, is_val: np.ndarray,
              tmp: Path, log) -> tuple[Tokenizer, dict]:
        """(tokenizer, sample record) for a new entry in `tmp`; `documents()` streams the
        corpus's documents again, in the order `sizes` and `is_val` follow."""
        raise NotImplementedError

    def load(self, entry: Path, source) -> Tokenizer:
        raise NotImplementedError

    def source(self):
        """The source object this kind reads (pretokenized kinds only; else None)."""
        return None

    def estimate_train_tokens(self, source, manifest: dict) -> tuple[float | None, str]:
        """Training tokens before the cache exists, from the manifest's file sizes."""
        c = self.cfg
        files = manifest.get("files")
        if not files:
            return None, "unknown until the token cache is built (scaling data prepare)"
        n_bytes = sum(f[1] for f in files) * (1 - c.val_fraction)
        if c.max_bytes:
            n_bytes = min(n_bytes, c.max_bytes * (1 - c.val_fraction))
        per = self.bytes_per_token
        n = n_bytes / per
        return n, (f"~{n:,.0f} training tokens (file sizes at {per} bytes/token; no token "
                   "cache yet: scaling data prepare builds it)")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec}{self.arg})"


class ByteKind(TokenizerKind):
    spec = "byte"
    bytes_per_token = 1.0
    encodes_in_workers = False  # encoding bytes is a numpy view: workers only add pipes

    def identity(self) -> dict:
        return {"kind": "byte", "n_sentinels": self.cfg.n_sentinels}

    def vocab_size(self) -> int:
        return ByteTokenizer(self.cfg.n_sentinels).vocab_size

    def build(self, documents, sizes, is_val, tmp, log):
        return ByteTokenizer(self.cfg.n_sentinels), {}

    def load(self, entry, source):
        return ByteTokenizer(self.cfg.n_sentinels)


def sample_mask(sizes: np.ndarray, is_val: np.ndarray, budget: int, seed: int) -> np.ndarray:
    """Training documents the BPE trains on: all if they fit in `budget` bytes, else a seeded
    random prefix of them (in a permutation from `seed`) that does."""
    train = np.flatnonzero(~is_val)
    take = np.zeros(len(sizes), dtype=bool)
    if sizes[train].sum() <= budget:
        take[train] = True
        return take
    perm = np.random.default_rng([seed, 7]).permutation(train)
    fits = np.cumsum(sizes[perm]) <= budget
    take[perm[fits]] = True
    return take


class BPEKind(TokenizerKind):
    spec = "bpe"
    vocab_needs_training = True

    def validate(self) -> None:
        c = self.cfg
        lo = c.n_reserved + 256
        if not lo <= c.vocab_size:
            raise InputError(f"bpe needs vocab_size >= {lo} (reserved ids + 256 bytes), "
                             f"got {c.vocab_size}", key="vocab_size",
                             fix=f"use at least {lo}, e.g. 1024")
        if c.vocab_size > MAX_BPE_VOCAB:  # the tokenizers library aborts (a Rust OOM) beyond
            raise InputError(f"bpe vocab_size must be <= {MAX_BPE_VOCAB:,}, got "
                             f"{c.vocab_size:,}", key="vocab_size",
                             fix="published BPE vocabularies are 32k-256k, e.g. 32768")

    def identity(self) -> dict:
        c = self.cfg
        return {"kind": "bpe", "vocab_size": c.vocab_size, "n_sentinels": c.n_sentinels,
                "pre_tokenizer": "bytelevel-gpt2-regex", "train_bytes": c.tokenizer_train_bytes,
                "train_seed": c.tokenizer_train_seed}

    def vocab_size(self) -> int:
        return self.cfg.vocab_size  # the requested size: training may stop short of it

    def build(self, documents, sizes, is_val, tmp, log):
        c = self.cfg
        take = sample_mask(sizes, is_val, c.tokenizer_train_bytes, c.tokenizer_train_seed)

        def texts() -> Iterable[str]:
            for i, doc in enumerate(documents()):
                if take[i]:
                    yield doc.text
        log(f"training BPE (vocab {c.vocab_size}) on {int(take.sum())} documents")
        tok = BPETokenizer.train(texts(), c.vocab_size, c.n_sentinels)
        tok.save(tmp / "tokenizer.json")
        return tok, {"budget_bytes": c.tokenizer_train_bytes, "seed": c.tokenizer_train_seed,
                     "docs": int(take.sum()), "bytes": int(sizes[take].sum()),
                     "whole_split": bool(take.sum() == (~is_val).sum())}

    def load(self, entry, source):
        return BPETokenizer.load(Path(entry) / "tokenizer.json", self.cfg.n_sentinels,
                                 self.cfg.vocab_size)


class _Prefixed(TokenizerKind):
    empty_arg_ok = False

    @classmethod
    def match(cls, spec: str) -> str | None:
        if not spec.startswith(cls.spec):
            return None
        arg = spec[len(cls.spec):]
        return arg if arg or cls.empty_arg_ok else None


class FileKind(_Prefixed):
    spec = "file:"

    @property
    def path(self) -> Path:
        return Path(self.arg).expanduser()

    def identity(self) -> dict:
        return {"kind": "file", "sha256": file_sha256(self.path),
                "n_sentinels": self.cfg.n_sentinels}

    def vocab_size(self) -> int:
        return PretrainedTokenizer.load(self.path, self.cfg.n_sentinels).vocab_size

    def build(self, documents, sizes, is_val, tmp, log):
        tok = PretrainedTokenizer.load(self.path, self.cfg.n_sentinels)
        tok.save(tmp / "tokenizer.json")
        return tok, {}

    def load(self, entry, source):
        return PretrainedTokenizer.load(Path(entry) / "tokenizer.json", self.cfg.n_sentinels)


class TokensKind(_Prefixed):
    spec = "tokens:"
    config_key = "source"
    empty_arg_ok = True  # 'tokens:' alone: TokensSource says there is no such file
    encodes_in_workers = False  # the ids are only shifted
    pretokenized = True

    def source(self) -> TokensSource:
        return TokensSource(self.cfg, Path(self.arg).expanduser())

    def identity(self) -> dict:
        return {"kind": "tokens", "n_sentinels": self.cfg.n_sentinels}

    def estimate_train_tokens(self, source, manifest):
        n = manifest["file"][1] / source.dtype.itemsize * (1 - self.cfg.val_fraction)
        return n, f"~{n:,.0f} training tokens (array size; no token cache yet)"

    def vocab_size(self) -> int:
        return self.cfg.n_reserved + self.source().vocab

    def build(self, documents, sizes, is_val, tmp, log):
        return self.load(tmp, None), {}

    def load(self, entry, source):
        return TokensTokenizer((source or self.source()).vocab, self.cfg.n_sentinels)


KINDS: tuple[type[TokenizerKind], ...] = (ByteKind, BPEKind, FileKind, TokensKind)


def kind_class(spec: str, config_key: str = "tokenizer"
               ) -> tuple[type[TokenizerKind], str] | None:
    """(kind class, argument) of the spec named by `config_key`, or None when it names none."""
    for cls in KINDS:
        if cls.config_key == config_key:
            arg = cls.match(spec)
            if arg is not None:
                return cls, arg
    return None


def tokenizer_kind(cfg) -> TokenizerKind:
    """The kind a DataConfig names: a 'tokens:' source, else its data.tokenizer (checked even
    then). The one dispatch on the spec strings."""
    named = kind_class(cfg.tokenizer)
    if named is None:
        raise InputError(f"{cfg.tokenizer!r} is not 'byte', 'bpe' or 'file:PATH'",
                         key="tokenizer", fix="e.g. file:models/gpt2/tokenizer.json")
    cls, arg = kind_class(getattr(cfg, "source", ""), "source") or named
    return cls(cfg, arg)


def vocab_size_from_config(cfg) -> int:
    """The vocabulary of a data config without building its token cache: byte from the
    reserved ids, bpe the requested size (training may stop short of it: a built cache's
    tokenizer is the truth), file: from the tokenizer.json, a tokens: source its own (config
    or the JSON beside the array) plus the reserved ids. Reads no corpus text."""
    cfg.validate()
    return tokenizer_kind(cfg).vocab_size()
