"""The vocabulary a data config gives, without building its token cache (a sweep's dry run and
its grid stage: the model's embedding, so N and the run ids, depend on it).

Exact for the byte tokenizer, a `tokens:` source (its stored vocabulary plus the reserved ids), a
pretrained `file:` tokenizer and any tokenizer whose cache entry is built (the stored tokenizer is
the truth: a BPE trained on a small corpus may stop short of data.vocab_size). Only a BPE not yet
trained is unknown: `None`, and the caller decides (a dry run assumes the requested size; a run
builds the cache first). Reads no corpus text.
"""
from __future__ import annotations

from scaling.data import cache
from scaling.data.config import DataConfig
from scaling.data.dataset import find_entry
from scaling.data.kinds import tokenizer_kind


def known_vocab_size(cfg: DataConfig) -> tuple[int | None, str]:
    """(vocabulary size or None, how it is known)."""
    source, _, root, key = find_entry(cfg)  # validates cfg; lists the source, reads no text
    kind = tokenizer_kind(cfg)
    entry = root / key
    if kind.vocab_needs_training:
        if cache.is_complete(entry):
            return kind.load(entry, source).vocab_size, "the token cache's tokenizer"
        return None, f"{kind.spec} not trained yet (no token cache)"
    return kind.vocab_size(), f"the {kind.spec} {kind.config_key}'s own vocabulary"
