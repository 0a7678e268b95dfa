"""The data config: which corpus, which tokenizer, how it is split, where the token cache lives."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from runstore import InputError
from scaling.configio import doc

N_SPECIAL = 4  # PAD, BOS, EOS, MASK; the sentinels follow them
MAX_SYNTHETIC_STATES = 95  # printable ASCII characters incl. space (see synthetic.py)
TOKENIZER_TRAIN_BYTES = 64_000_000  # covers the stdlib (<= 31.5 MB) whole: its BPE is unchanged


@dataclass(frozen=True)
class DataConfig:
    """A corpus, its tokenizer and its train/validation split (docs/design.md, data flow)."""

    source: str = doc("'stdlib', 'synthetic', a text / .jsonl[.gz|.zst] / .parquet file, folder or "
                      "glob, 'hf:NAME' (hub or save_to_disk folder), or 'tokens:PATH' (.bin/.npy)",
                      "stdlib")
    text_field: str = doc("field (JSONL) or column (parquet, hf) holding the text", "text")
    include_tests: bool = doc("stdlib: include the top-level test/ package (31.5 MB vs 14.4 MB)",
                              False)
    max_bytes: int = doc("0 = whole corpus; else keep documents (sorted) up to this many bytes",
                         0)
    tokenizer: str = doc("'byte', 'bpe' (byte-level BPE trained on a sample of the training "
                         "split) or 'file:PATH/tokenizer.json' (pretrained, reserved ids first)",
                         "byte")
    vocab_size: int = doc("bpe: total vocabulary incl. reserved ids (ignored for byte)", 1024)
    tokenizer_train_bytes: int = doc("bpe: train on at most this many bytes of training "
                                     "documents (a seeded sample; all when the split is smaller)",
                                     TOKENIZER_TRAIN_BYTES)
    tokenizer_train_seed: int = doc("bpe: seed of the training-sample choice", 0)
    hf_config: str = doc("hf: dataset config name ('' = none)", "")
    hf_split: str = doc("hf: the split to read (a save_to_disk DatasetDict too)", "train")
    hf_streaming: bool = doc("hf hub: stream instead of downloading (no fingerprint: the cache is "
                             "keyed by name, config and split)", False)
    tokens_vocab_size: int = doc("tokens: vocabulary of the stored ids; 0 = from NAME.json beside "
                                 "the file", 0)
    tokens_separator_id: int = doc("tokens: id that ends each document (-2 = from NAME.json, "
                                   "-1 = none: the array is cut into pieces)", -2)
    n_sentinels: int = doc("reserved sentinel ids for span corruption", 64)
    val_fraction: float = doc("share of the corpus bytes held out for validation, as whole "
                              "documents chosen by hash of their name", 0.05)
    val_windows: int = doc("number of fixed validation windows", 64)
    synthetic_bytes: int = doc("synthetic source: length of the generated text, in [2, 1e10]",
                               2_000_000)
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
            raise InputError("must not be empty", key="source",
                              fix="use 'stdlib', 'synthetic' or a path")
        if not self.text_field:
            raise InputError("must not be empty", key="text_field")
        if self.max_bytes < 0:
            raise InputError(f"must be >= 0, got {self.max_bytes}", key="max_bytes",
                              fix="0 means the whole corpus")
        from scaling.data.kinds import tokenizer_kind  # kinds -> tokens -> this module
        kind = tokenizer_kind(self)  # refuses a spec that names no tokenizer
        if self.tokenizer_train_bytes < 1_000:
            raise InputError(f"must be >= 1000, got {self.tokenizer_train_bytes}",
                              key="tokenizer_train_bytes", fix="e.g. 64_000_000")
        if self.tokens_vocab_size < 0 or self.tokens_separator_id < -2:
            raise InputError("must be >= 0 (vocab) and >= -2 (separator)",
                              key="tokens_vocab_size/tokens_separator_id")
        if not 0 <= self.n_sentinels <= 4096:
            raise InputError(f"must be in [0, 4096], got {self.n_sentinels}", key="n_sentinels")
        kind.validate()
        if not 0.0 < self.val_fraction < 1.0:
            raise InputError(f"must be in (0, 1), got {self.val_fraction}", key="val_fraction",
                              fix="e.g. 0.05")
        if self.val_windows < 1:
            raise InputError(f"must be >= 1, got {self.val_windows}", key="val_windows")
        if not 2 <= self.synthetic_bytes <= 10**10:  # beyond: generating it would not end
            raise InputError(f"must be in [2, 1e10], got {self.synthetic_bytes}",
                              key="synthetic_bytes")
        if not 2 <= self.synthetic_states <= MAX_SYNTHETIC_STATES:
            raise InputError(f"must be in [2, {MAX_SYNTHETIC_STATES}], got "
                              f"{self.synthetic_states}", key="synthetic_states")
        if self.synthetic_seed < 0:
            raise InputError(f"must be >= 0, got {self.synthetic_seed}", key="synthetic_seed")

    def replace(self, **kw) -> "DataConfig":
        return dataclasses.replace(self, **kw)


def default_cache_dir() -> Path:
    """The suite's cache folder (token caches, the measured CPU peak, compiled steps):
    $SCALING_CACHE, else ~/.cache/scaling."""
    env = os.environ.get("SCALING_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "scaling"
