"""Byte and BPE tokenizers: round trips, the reserved-id layout, byte lengths."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling.data.tokenizer import BPETokenizer, ByteTokenizer, reserved_names

SAMPLE = ("def f(x):\n    return x + 1  # ünïcödé, 日本語, emoji 😀\n\n"
          "class A:\n    '''<pad> <eos> <extra_id_0> are just text here'''\n    pass\n")
utf8_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=200)


@pytest.fixture(scope="module")
def bpe():
    import sysconfig
    from pathlib import Path
    root = Path(sysconfig.get_paths()["stdlib"])
    texts = [(root / n).read_text("utf-8") for n in ("json/decoder.py", "json/encoder.py",
                                                     "textwrap.py", "string.py")]
    return BPETokenizer.train(texts + [SAMPLE] * 3, vocab_size=600, n_sentinels=16)


def check_layout(tok, n_sentinels):
    assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.mask_id) == (0, 1, 2, 3)
    assert tok.sentinel_ids == tuple(range(4, 4 + n_sentinels))
    assert tok.n_reserved == 4 + n_sentinels
    assert len(set(tok.sentinel_ids) | {0, 1, 2, 3}) == tok.n_reserved


def test_byte_layout_and_round_trip():
    tok = ByteTokenizer(n_sentinels=64)
    check_layout(tok, 64)
    assert tok.vocab_size == 68 + 256 and tok.name == "byte"
    ids = tok.encode(SAMPLE)
    assert ids.dtype == np.int32 and ids.min() >= tok.n_reserved and ids.max() < tok.vocab_size
    assert len(ids) == len(SAMPLE.encode("utf-8"))
    assert tok.encode("A")[0] == tok.n_reserved + 65
    assert tok.decode(ids) == SAMPLE
    with_specials = np.concatenate([[tok.bos_id], ids, [tok.sentinel_ids[0], tok.eos_id]])
    assert tok.decode(with_specials) == SAMPLE
    lengths = tok.token_byte_lengths()
    assert lengths.shape == (tok.vocab_size,) and (lengths[:68] == 0).all()
    assert (lengths[68:] == 1).all()
    json.dumps(tok.spec())


@given(utf8_text)
@settings(max_examples=100, deadline=None)
def test_byte_round_trip_property(text):
    tok = ByteTokenizer(n_sentinels=8)
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert (ids >= tok.n_reserved).all()
    assert tok.token_byte_lengths()[ids].sum() == len(text.encode("utf-8"))


def test_bpe_layout(bpe):
    check_layout(bpe, 16)
    vocab = bpe._tok.get_vocab()
    for i, name in enumerate(reserved_names(16)):
        assert vocab[name] == i
    assert bpe.vocab_size == 600 and bpe.name == "bpe600"
    spec = bpe.spec()
    assert spec["kind"] == "bpe" and spec["vocab_size"] == 600 and len(spec["sha256"]) == 64
    json.dumps(spec)


def test_bpe_round_trip_and_no_reserved_collisions(bpe):
    ids = bpe.encode(SAMPLE)
    assert ids.dtype == np.int32
    assert ids.min() >= bpe.n_reserved, "text spelling '<pad>' must not become a reserved id"
    assert bpe.decode(ids) == SAMPLE
    assert len(ids) < len(SAMPLE.encode("utf-8"))  # merges happened
    specials = np.array([bpe.bos_id, bpe.mask_id, bpe.sentinel_ids[3], bpe.eos_id])
    assert bpe.decode(np.concatenate([specials[:2], ids, specials[2:]])) == SAMPLE
    assert bpe.decode([bpe.pad_id, bpe.eos_id]) == ""


@given(utf8_text)
@settings(max_examples=100, deadline=None)
def test_bpe_round_trip_property(bpe, text):
    ids = bpe.encode(text)
    assert bpe.decode(ids) == text
    assert (ids >= bpe.n_reserved).all() and (ids < bpe.vocab_size).all()
    assert bpe.token_byte_lengths()[ids].sum() == len(text.encode("utf-8"))


def test_bpe_token_byte_lengths(bpe):
    lengths = bpe.token_byte_lengths()
    assert lengths.shape == (bpe.vocab_size,) and (lengths[: bpe.n_reserved] == 0).all()
    assert (lengths[bpe.n_reserved:] >= 1).all()
    ids = bpe.encode(SAMPLE * 3)
    assert lengths[ids].sum() == len(bpe.decode(ids).encode("utf-8")) == len(
        (SAMPLE * 3).encode("utf-8"))
    # each id alone decodes to exactly its byte count (when it is whole UTF-8)
    for i in ids[:50]:
        s = bpe.decode([int(i)])
        if "\ufffd" not in s:
            assert len(s.encode("utf-8")) == lengths[i]


def test_bpe_save_load_identical(bpe, tmp_path):
    bpe.save(tmp_path / "tok.json")
    json.loads((tmp_path / "tok.json").read_text())  # plain JSON, no pickle
    again = BPETokenizer.load(tmp_path / "tok.json", 16, 600)
    assert again.spec() == bpe.spec()
    assert np.array_equal(again.encode(SAMPLE), bpe.encode(SAMPLE))
    assert again.encode("<pad>").min() >= again.n_reserved  # the flag is restored on load
    assert [a.tolist() for a in again.encode_batch([SAMPLE, "x"])] == [
        bpe.encode(SAMPLE).tolist(), bpe.encode("x").tolist()]


def test_bpe_small_corpus_gives_smaller_vocab():
    tok = BPETokenizer.train(["aaaa bbbb"] * 10, vocab_size=2000, n_sentinels=4)
    assert 8 + 256 <= tok.vocab_size < 2000 and tok.name == "bpe2000"
    assert tok.token_byte_lengths().shape == (tok.vocab_size,)
