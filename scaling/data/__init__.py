"""The data pipeline: corpus -> tokenizer -> token cache -> split -> deterministic batches.

    from scaling.data import DataConfig, load_dataset
    ds = load_dataset(DataConfig(source="stdlib", tokenizer="bpe", vocab_size=1024))
    x_BxT = ds.batch(seed=0, step=123, batch_size=8, window=128)
"""
from scaling.data.config import DataConfig
from scaling.data.dataset import Dataset, load_dataset
from scaling.data.kinds import tokenizer_kind, vocab_size_from_config
from scaling.data.tokenizer import BPETokenizer, ByteTokenizer, Tokenizer

__all__ = ["DataConfig", "Dataset", "load_dataset", "Tokenizer", "ByteTokenizer", "BPETokenizer",
           "tokenizer_kind", "vocab_size_from_config"]
