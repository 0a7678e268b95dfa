"""Tokenizers with one reserved-id layout: byte-level ids and byte-level BPE (HF `tokenizers`).

Reserved ids, for every tokenizer: 0 PAD, 1 BOS, 2 EOS, 3 MASK, 4 .. 4+n_sentinels-1 sentinels
(sentinel_ids[0] = 4 marks the first span). Ordinary tokens are [n_reserved, vocab_size).
- byte: byte b -> n_reserved + b, vocab_size = n_reserved + 256.
- bpe: HF byte-level BPE trained on (a bounded sample of) the training split, with the reserved
  tokens registered as special tokens at those ids. Text that happens to spell a special token
  ('<pad>') is encoded as ordinary text, never as the special id. Saved as the tokenizer's JSON
  file (no pickle).
- file:PATH/tokenizer.json (pretrained.py): any HF tokenizer, its ids shifted by n_reserved.
Which one a config names, and what depends on that (cache identity, vocabulary, build, load),
is kinds.py's.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

import numpy as np

SPECIAL_NAMES = ("<pad>", "<bos>", "<eos>", "<mask>")
PAD_ID, BOS_ID, EOS_ID, MASK_ID = 0, 1, 2, 3


def reserved_names(n_sentinels: int) -> list[str]:
    return list(SPECIAL_NAMES) + [f"<extra_id_{i}>" for i in range(n_sentinels)]


class Tokenizer:
    """The interface every tokenizer implements (see module docstring for the id layout)."""

    vocab_size: int
    n_reserved: int
    name: str
    pad_id, bos_id, eos_id, mask_id = PAD_ID, BOS_ID, EOS_ID, MASK_ID

    def __init__(self, n_sentinels: int):
        self.n_sentinels = n_sentinels
        self.n_reserved = len(SPECIAL_NAMES) + n_sentinels
        self.sentinel_ids = tuple(range(len(SPECIAL_NAMES), self.n_reserved))
        self._lengths: np.ndarray | None = None

    def encode(self, text: str) -> np.ndarray:
        """int32 ids of `text`, no special tokens added."""
        raise NotImplementedError

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        return [self.encode(t) for t in texts]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`, special ids skipped."""
        raise NotImplementedError

    def token_byte_lengths(self) -> np.ndarray:
        """[vocab_size] int32: UTF-8 bytes each id stands for; 0 for the reserved ids."""
        if self._lengths is None:
            self._lengths = self._compute_lengths()
            self._lengths.setflags(write=False)
        return self._lengths

    def _compute_lengths(self) -> np.ndarray:
        raise NotImplementedError

    def spec(self) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, vocab_size={self.vocab_size})"


class ByteTokenizer(Tokenizer):
    """One id per UTF-8 byte."""

    def __init__(self, n_sentinels: int = 64):
        super().__init__(n_sentinels)
        self.vocab_size = self.n_reserved + 256
        self.name = "byte"

    def encode(self, text: str) -> np.ndarray:
        data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        return data.astype(np.int32) + self.n_reserved

    def decode(self, ids: Iterable[int]) -> str:
        a = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids).astype(np.int64)
        a = a[(a >= self.n_reserved) & (a < self.vocab_size)] - self.n_reserved
        return a.astype(np.uint8).tobytes().decode("utf-8", errors="replace")

    def _compute_lengths(self) -> np.ndarray:
        lengths = np.ones(self.vocab_size, dtype=np.int32)
        lengths[: self.n_reserved] = 0
        return lengths

    def spec(self) -> dict:
        return {"kind": "byte", "name": self.name, "vocab_size": self.vocab_size,
                "n_reserved": self.n_reserved, "n_sentinels": self.n_sentinels}


class BPETokenizer(Tokenizer):
    """HF `tokenizers` byte-level BPE with the reserved tokens at ids [0, n_reserved)."""

    def __init__(self, hf_tokenizer, n_sentinels: int, requested_vocab_size: int):
        super().__init__(n_sentinels)
        self._tok = hf_tokenizer
        self._tok.encode_special_tokens = True  # text spelling '<pad>' stays text (not stored)
        for i, s in enumerate(reserved_names(n_sentinels)):
            got = self._tok.token_to_id(s)
            if got != i:
                raise ValueError(f"BPE tokenizer has {s!r} at id {got}, expected {i}")
        self.vocab_size = self._tok.get_vocab_size()
        self.requested_vocab_size = requested_vocab_size
        self.name = f"bpe{requested_vocab_size}"
        self._json = self._tok.to_str()

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, n_sentinels: int) -> "BPETokenizer":
        """Train on `texts` (the training split only). The vocabulary can come out smaller than
        vocab_size when the text has too few distinct pairs to merge."""
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers
        tok = HFTokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size,
                                      special_tokens=reserved_names(n_sentinels),
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
        tok.train_from_iterator(texts, trainer)
        return cls(tok, n_sentinels, vocab_size)

    @classmethod
    def load(cls, path: str | Path, n_sentinels: int, requested_vocab_size: int
             ) -> "BPETokenizer":
        from tokenizers import Tokenizer as HFTokenizer
        return cls(HFTokenizer.from_file(str(path)), n_sentinels, requested_vocab_size)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self._json, encoding="utf-8")

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self._tok.encode(text, add_special_tokens=False).ids, dtype=np.int32)

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        # encode_batch_fast skips the character offsets (same ids); both run on all cores
        fast = getattr(self._tok, "encode_batch_fast", self._tok.encode_batch)
        encs = fast(texts, add_special_tokens=False)
        return [np.asarray(e.ids, dtype=np.int32) for e in encs]

    def decode(self, ids: Iterable[int]) -> str:
        a = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids).astype(np.int64)
        a = a[(a >= self.n_reserved) & (a < self.vocab_size)]
        return self._tok.decode(a.tolist(), skip_special_tokens=True)

    def _compute_lengths(self) -> np.ndarray:
        # byte-level BPE: every character of a token's string stands for exactly one byte
        lengths = np.zeros(self.vocab_size, dtype=np.int32)
        for token, i in self._tok.get_vocab().items():
            if i >= self.n_reserved:
                lengths[i] = len(token)
        return lengths

    def spec(self) -> dict:
        return {"kind": "bpe", "name": self.name, "vocab_size": self.vocab_size,
                "requested_vocab_size": self.requested_vocab_size,
                "n_reserved": self.n_reserved, "n_sentinels": self.n_sentinels,
                "sha256": hashlib.sha256(self._json.encode("utf-8")).hexdigest()}
