"""A pretrained HF tokenizer (`tokenizer: file:PATH/tokenizer.json`) on the reserved-id layout.

Its id t becomes n_reserved + t, so PAD, BOS, EOS, MASK and the sentinels (tokenizer.py) keep
their ids and the vocabulary is n_reserved + the file's (added tokens included). The file's own
special tokens ('<|endoftext|>', '[CLS]') become ordinary ids: text is encoded without them and
text that spells them stays text. Byte lengths (for bits per byte) are exact for byte-level
vocabularies (GPT-2 style) and the UTF-8 length of the token's text otherwise ('##' and the
SentencePiece '\u2581' counted as the byte they stand for, or none).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

import numpy as np

from runstore import InputError
from scaling.data.tokenizer import Tokenizer

KEY = "data.tokenizer"


def _byte_alphabet() -> set[str]:
    from tokenizers import pre_tokenizers
    return set(pre_tokenizers.ByteLevel.alphabet())


def file_sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as e:
        raise InputError(f"cannot read the tokenizer file ({e.strerror})", file=str(path),
                         key=KEY, fix="point file: at a tokenizer.json (HF tokenizers)") from None


def _check_unk(tok, path: Path) -> None:
    """A model that names an unknown-word token it lacks (a WordLevel or WordPiece vocabulary
    without its '[UNK]') fails on the first unknown word, deep inside the encode pass: refuse
    the file up front instead."""
    unk = getattr(tok.model, "unk_token", None)
    if unk and tok.model.token_to_id(unk) is None:
        raise InputError(f"the {type(tok.model).__name__} model names the unknown-word token "
                         f"{unk!r} but its vocabulary lacks it", file=str(path), key=KEY,
                         fix=f"add {unk!r} to model.vocab, or use a tokenizer that has it")


class PretrainedTokenizer(Tokenizer):
    def __init__(self, hf_tokenizer, n_sentinels: int, json_text: str):
        super().__init__(n_sentinels)
        self._tok = hf_tokenizer
        self._tok.encode_special_tokens = True
        self._json = json_text
        self.offset = self.n_reserved
        self.file_vocab = self._tok.get_vocab_size(with_added_tokens=True)
        self.vocab_size = self.n_reserved + self.file_vocab
        self.sha256 = hashlib.sha256(json_text.encode("utf-8")).hexdigest()
        self.name = f"file-{self.sha256[:8]}"

    @classmethod
    def load(cls, path: str | Path, n_sentinels: int) -> "PretrainedTokenizer":
        try:
            from tokenizers import Tokenizer as HFTokenizer
        except ImportError:  # a core dependency; kept lazy like the rest
            raise InputError("the 'tokenizers' package is missing", key=KEY,
                             fix="pip install tokenizers") from None
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
            tok = HFTokenizer.from_str(text)
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"cannot read the tokenizer file ({e})", file=str(path), key=KEY,
                             fix="point file: at a tokenizer.json (HF tokenizers)") from None
        except Exception as e:  # tokenizers raises its own Exception for a bad JSON
            raise InputError(f"not a tokenizers JSON file ({e})", file=str(path), key=KEY,
                             fix="save one with Tokenizer.save('tokenizer.json') or use the "
                                 "tokenizer.json of a HF model folder") from None
        _check_unk(tok, path)
        return cls(tok, n_sentinels, text)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self._json, encoding="utf-8")

    def encode(self, text: str) -> np.ndarray:
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        fast = getattr(self._tok, "encode_batch_fast", self._tok.encode_batch)
        return [np.asarray(e.ids, dtype=np.int32) + self.offset
                for e in fast(texts, add_special_tokens=False)]

    def decode(self, ids: Iterable[int]) -> str:
        a = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids).astype(np.int64)
        a = a[(a >= self.n_reserved) & (a < self.vocab_size)] - self.offset
        return self._tok.decode(a.tolist(), skip_special_tokens=False)

    def _compute_lengths(self) -> np.ndarray:
        alphabet = _byte_alphabet()
        added = {t.content for t in self._tok.get_added_tokens_decoder().values()
                 if t.special}
        lengths = np.zeros(self.vocab_size, dtype=np.int32)
        for token, i in self._tok.get_vocab(with_added_tokens=True).items():
            if token in added:
                continue
            if all(c in alphabet for c in token):
                n = len(token)  # byte-level: one character per byte
            else:
                t = token[2:] if token.startswith("##") else token.replace("\u2581", " ")
                n = len(t.encode("utf-8"))
            lengths[i + self.offset] = n
        return lengths

    def spec(self) -> dict:
        return {"kind": "file", "name": self.name, "vocab_size": self.vocab_size,
                "file_vocab_size": self.file_vocab, "n_reserved": self.n_reserved,
                "n_sentinels": self.n_sentinels, "sha256": self.sha256}
