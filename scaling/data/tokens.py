"""Pre-tokenized sources: `tokens:PATH`, a nanoGPT-style .bin (raw uint16 / uint32) or a .npy.

The stored ids are mapped onto the reserved-id layout (tokenizer.py) by an offset: stored id t
becomes n_reserved + t, so PAD, BOS, EOS, MASK and the sentinels keep their ids and the
vocabulary is n_reserved + tokens_vocab_size. The separator id (the token that ends each
document, e.g. GPT-2's 50256) becomes EOS; documents are the runs of ids between separators,
named #INDEX, and the train/validation split shares their tokens. Without a separator
(tokens_separator_id -1) the array is cut into MAX_CHUNKS equal pieces.

Vocabulary size, separator and (.bin) dtype come from the config or from a JSON file beside the
array (PATH.json, else PATH with .json for its suffix): {"vocab_size": 50257,
"separator_id": 50256, "dtype": "uint16"}.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from scaling.data.formats import SOURCE_KEY, unreadable
from scaling.data.tokenizer import Tokenizer
from scaling.model.config import MAX_VOCAB

if TYPE_CHECKING:
    from scaling.data.config import DataConfig
from runstore import InputError

MAX_CHUNKS = 64
READ_TOKENS = 1 << 24  # ids read per step: bounds memory whatever the array's size
DTYPES = ("uint16", "uint32", "int32", "int64", "uint8")


class TokenDoc:
    __slots__ = ("name", "ids")

    def __init__(self, name: str, ids: np.ndarray):
        self.name, self.ids = name, ids


def _sidecar(path: Path) -> tuple[dict, Path | None]:
    for p in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if p.is_file():
            try:
                d = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as e:
                raise InputError(f"unreadable JSON ({e})", file=str(p), key=SOURCE_KEY,
                                 fix='write {"vocab_size": V, "separator_id": S}') from None
            if not isinstance(d, dict):
                raise InputError("not a JSON object", file=str(p), key=SOURCE_KEY,
                                 fix='write {"vocab_size": V, "separator_id": S}')
            return d, p
    return {}, None


class TokensSource:
    """The array of a `tokens:PATH` source (kinds.TokensKind parses the spec into `path`)."""

    kind = "tokens"
    pretokenized = True  # documents of ids (TokenDoc), not text

    def __init__(self, cfg: DataConfig, path: Path):
        self.where = cfg.source
        self.path = path
        p = self.path
        if not p.is_file():
            raise InputError("no such token file", file=str(p), key=SOURCE_KEY,
                             fix="give tokens:PATH.bin (nanoGPT, raw uint16) or tokens:PATH.npy")
        if p.suffix not in (".bin", ".npy"):
            raise InputError(f"a token array must be .bin or .npy, not '{p.suffix}'",
                             file=str(p), key=SOURCE_KEY,
                             fix="save it with numpy (np.save) or as raw ids (arr.tofile)")
        side, self.sidecar = _sidecar(p)
        fix = ("set data.tokens_vocab_size / data.tokens_separator_id (-1 = none), or write "
               f'{p.name}.json: {{"vocab_size": V, "separator_id": S}}')
        self.vocab = int(cfg.tokens_vocab_size or side.get("vocab_size", 0))
        sep = cfg.tokens_separator_id
        if sep == -2:
            sep = side.get("separator_id", side.get("eos_id", -2))
        if self.vocab < 1 or sep is None or int(sep) < -1 or int(sep) >= self.vocab:
            raise InputError(f"vocab size {self.vocab} / separator id {sep} unknown or out of "
                             "range", file=str(p), key="data.tokens_vocab_size", fix=fix)
        top = MAX_VOCAB - cfg.n_reserved  # the suite's own ids come first
        if self.vocab > top:
            raise InputError(f"vocab size {self.vocab:,} is more than int32 token ids can index "
                             f"after the {cfg.n_reserved} reserved ids (at most {top:,})",
                             file=str(p), key="data.tokens_vocab_size", fix=fix)
        self.sep = int(sep)
        self.dtype = self._dtype(side.get("dtype", "uint16"))

    def _dtype(self, name: str) -> np.dtype:
        if self.path.suffix == ".npy":
            try:
                a = np.load(self.path, mmap_mode="r", allow_pickle=False)
            except (ValueError, OSError) as e:
                raise InputError(f"not a readable .npy file ({e})", file=str(self.path),
                                 key=SOURCE_KEY, fix="save it with np.save(path, ids)") from None
            if a.ndim != 1 or a.dtype.kind not in "iu":
                raise InputError(f"need a 1-D integer array, got {a.ndim}-D {a.dtype}",
                                 file=str(self.path), key=SOURCE_KEY,
                                 fix="np.save(path, ids.ravel().astype(np.uint32))")
            if a.size == 0:
                raise InputError("the token array is empty (0 ids)", file=str(self.path),
                                 key=SOURCE_KEY, fix="point data.source at a non-empty array")
            return a.dtype
        if name not in DTYPES:
            raise InputError(f"dtype {name!r} is not one of {', '.join(DTYPES)}",
                             file=str(self.sidecar), key=SOURCE_KEY, fix='"dtype": "uint16"')
        dt = np.dtype(name)
        size = os.path.getsize(self.path)
        if size == 0:
            raise InputError("the token file is empty (0 ids)", file=str(self.path),
                             key=SOURCE_KEY, fix="point data.source at a non-empty token array")
        if size % dt.itemsize:
            raise InputError(f"file size is not a multiple of {dt.itemsize} ({name})",
                             file=str(self.path), key=SOURCE_KEY,
                             fix="give the right dtype in the JSON beside it")
        return dt

    def array(self) -> np.ndarray:
        try:
            if self.path.suffix == ".npy":
                return np.load(self.path, mmap_mode="r", allow_pickle=False)
            return np.memmap(self.path, dtype=self.dtype, mode="r")
        except OSError as e:
            raise unreadable(self.path, e) from None

    def manifest(self) -> dict:
        st = os.stat(self.path)
        return {"kind": "tokens", "file": [self.path.name, st.st_size, st.st_mtime_ns],
                "vocab": self.vocab, "separator": self.sep, "dtype": self.dtype.name}

    def meta(self) -> dict:
        return {"source": self.where, "kind": "tokens", "tokens_vocab_size": self.vocab,
                "tokens_separator_id": self.sep}

    def documents(self, skipped: list[str]) -> Iterator[TokenDoc]:
        a = self.array()  # names: #INDEX (one file: its name would only move the split)
        if self.sep < 0:
            bounds = np.linspace(0, a.size, min(MAX_CHUNKS, max(a.size, 1)) + 1).astype(np.int64)
            for i in range(len(bounds) - 1):
                yield TokenDoc(f"#{i}", np.asarray(a[bounds[i]:bounds[i + 1]]))
            return
        carry, k = np.zeros(0, a.dtype), 0
        for lo in range(0, a.size, READ_TOKENS):
            chunk = np.concatenate([carry, np.asarray(a[lo:lo + READ_TOKENS])])
            ends = np.flatnonzero(chunk == self.sep)
            start = 0
            for e in ends:
                if e > start:
                    yield TokenDoc(f"#{k}", chunk[start:e])
                    k += 1
                start = e + 1
            carry = chunk[start:]
        if carry.size:
            yield TokenDoc(f"#{k}", carry)


class TokensTokenizer(Tokenizer):
    """The identity on stored ids, shifted past the reserved ids (see the module docstring)."""

    def __init__(self, vocab: int, n_sentinels: int):
        super().__init__(n_sentinels)
        self.stored_vocab = vocab
        self.vocab_size = self.n_reserved + vocab
        self.name = f"tokens{vocab}"

    def encode_batch(self, docs: list) -> list[np.ndarray]:
        out = []
        for d in docs:
            ids = np.asarray(d, dtype=np.int64)
            if ids.size and (ids.min() < 0 or ids.max() >= self.stored_vocab):
                neg = ids.min() < 0
                bad = int(ids.min()) if neg else int(ids.max())
                raise InputError(f"an id of {bad} is outside the vocabulary "
                                 f"[0, {self.stored_vocab})", key="data.tokens_vocab_size",
                                 fix="token ids are >= 0: store them without negative values"
                                 if neg else "set the vocabulary size the array was made with")
            out.append(ids + self.n_reserved)
        return out

    def encode(self, text) -> np.ndarray:
        raise TypeError("a tokens: source is already tokenized; it has no text encoder")

    def decode(self, ids) -> str:
        a = np.asarray(ids, dtype=np.int64)
        return " ".join(str(int(t) - self.n_reserved) for t in a if t >= self.n_reserved)

    def _compute_lengths(self) -> np.ndarray:
        return np.zeros(self.vocab_size, np.int32)  # bytes unknown: bits per byte is left out

    def spec(self) -> dict:
        return {"kind": "tokens", "name": self.name, "vocab_size": self.vocab_size,
                "stored_vocab_size": self.stored_vocab, "n_reserved": self.n_reserved,
                "n_sentinels": self.n_sentinels}
