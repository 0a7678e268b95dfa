"""The data config: which corpus, which tokenizer, how it is split, where the token cache lives."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from scaling.configio import doc
from scaling.errors import ConfigError

N_SPECIAL = 4  # PAD, BOS, EOS, MASK; the sentinels follow them
MAX_SYNTHETIC_STATES = 95  # printable ASCII characters incl. space (see synthetic.py)


@dataclass(frozen=True)
class DataConfig:
    """A corpus, its tokenizer and its train/validation split (DESIGN.md, data flow)."""

    source: str = doc("'stdlib', 'synthetic', a text file, folder or glob, or a .jsonl file",
                      "stdlib")
    text_field: str = doc("field holding the text in JSONL sources", "text")
    include_tests: bool = doc("stdlib: include the top-level test/ package (31.5 MB vs 14.4 MB)",
                              False)
    max_bytes: int = doc("0 = whole corpus; else keep documents (sorted) up to this many bytes",
                         0)
    tokenizer: Literal["byte", "bpe"] = doc("byte-level ids or byte-level BPE trained on the "
                                            "training split", "byte")
    vocab_size: int = doc("bpe: total vocabulary incl. reserved ids (ignored for byte)", 1024)
    n_sentinels: int = doc("reserved sentinel ids for span corruption", 64)
    val_fraction: float = doc("share of the corpus bytes held out for validation, as whole "
                              "documents chosen by hash of their name", 0.05)
    val_windows: int = doc("number of fixed validation windows", 64)
    synthetic_bytes: int = doc("synthetic source: length of the generated text", 2_000_000)
    synthetic_states: int = doc("synthetic source: alphabet size of the Markov chain", 16)
    synthetic_seed: int = doc("synthetic source: seed of the transition matrix and the text", 0)
    cache_dir: str = doc("token cache folder; '' = $SCALING_CACHE or ~/.cache/scaling", "")

    @property
    def n_reserved(self) -> int:
        return N_SPECIAL + self.n_sentinels

    def resolved_cache_dir(self) -> Path:
        return Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_dir()

    def validate(self) -> None:
        if not self.source:
            raise ConfigError("must not be empty", key="source",
                              fix="use 'stdlib', 'synthetic' or a path")
        if not self.text_field:
            raise ConfigError("must not be empty", key="text_field")
        if self.max_bytes < 0:
            raise ConfigError(f"must be >= 0, got {self.max_bytes}", key="max_bytes",
                              fix="0 means the whole corpus")
        if self.tokenizer not in ("byte", "bpe"):
            raise ConfigError(f"{self.tokenizer!r} is not 'byte' or 'bpe'", key="tokenizer")
        if not 0 <= self.n_sentinels <= 4096:
            raise ConfigError(f"must be in [0, 4096], got {self.n_sentinels}", key="n_sentinels")
        if self.tokenizer == "bpe":
            lo = self.n_reserved + 256
            if not lo <= self.vocab_size <= 2**31 - 1:
                raise ConfigError(f"bpe needs vocab_size >= {lo} (reserved ids + 256 bytes), "
                                  f"got {self.vocab_size}", key="vocab_size",
                                  fix=f"use at least {lo}, e.g. 1024")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"must be in (0, 1), got {self.val_fraction}", key="val_fraction",
                              fix="e.g. 0.05")
        if self.val_windows < 1:
            raise ConfigError(f"must be >= 1, got {self.val_windows}", key="val_windows")
        if self.synthetic_bytes < 2:
            raise ConfigError(f"must be >= 2, got {self.synthetic_bytes}", key="synthetic_bytes")
        if not 2 <= self.synthetic_states <= MAX_SYNTHETIC_STATES:
            raise ConfigError(f"must be in [2, {MAX_SYNTHETIC_STATES}], got "
                              f"{self.synthetic_states}", key="synthetic_states")
        if self.synthetic_seed < 0:
            raise ConfigError(f"must be >= 0, got {self.synthetic_seed}", key="synthetic_seed")

    def replace(self, **kw) -> "DataConfig":
        return dataclasses.replace(self, **kw)


def default_cache_dir() -> Path:
    """The suite's cache folder (token caches, the measured CPU peak, compiled steps):
    $SCALING_CACHE, else ~/.cache/scaling."""
    env = os.environ.get("SCALING_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "scaling"
