"""Encoding over worker processes (encode_pool.py): the wire format round-trips, the workers'
ids are the in-process tokenizer's, a cache built over workers equals an in-process build byte
for byte, and a worker that dies is an error, not a hang."""
import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from test_data_build import corpus, files_of

from scaling.data import DataConfig, build, encode_pool, load_dataset
from scaling.data import encode_worker as wire
from scaling.data.kinds import tokenizer_kind
from scaling.data.tokenizer import BPETokenizer

TEXTS = ["", "plain", "naïve café ☕ — ünïcode", "x" * 5000, "line\nbreaks\tand tabs"]


def test_wire_round_trips_texts_and_ids():
    f = io.BytesIO()
    wire.write_texts(f, TEXTS)
    f.seek(0)
    assert wire.read_texts(f) == TEXTS and wire.read_texts(f) is None
    encoded = [np.arange(n, dtype=np.int32) * 7 for n in (0, 3, 1, 40)]
    f = io.BytesIO()
    wire.write_ids(f, encoded)
    f.seek(0)
    ids, counts = wire.read_ids(f)
    assert counts.tolist() == [0, 3, 1, 40]
    assert np.array_equal(ids, np.concatenate(encoded))


def test_a_torn_message_is_an_error():
    f = io.BytesIO()
    wire.write_texts(f, TEXTS)
    with pytest.raises(EOFError, match="torn"):
        wire.read_texts(io.BytesIO(f.getvalue()[:-3]))


@pytest.fixture(scope="module")
def bpe_entry(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bpe")
    texts = [json.loads(l)["text"] for l in corpus(d / "c.jsonl").read_text().splitlines()]
    BPETokenizer.train(texts, 400, 8).save(d / "tokenizer.json")
    return d


def test_workers_give_the_in_process_ids(bpe_entry, monkeypatch):
    monkeypatch.setattr(encode_pool, "CHUNK_BYTES", 2000)  # many chunks over both workers
    cfg = SimpleNamespace(tokenizer="bpe", n_sentinels=8, vocab_size=400)
    texts = [json.loads(l)["text"] for l in (bpe_entry / "c.jsonl").read_text().splitlines()]
    docs = [SimpleNamespace(text=t) for t in texts + TEXTS]
    batches = [(i, docs[i:i + 37]) for i in range(0, len(docs), 37)]
    with encode_pool.EncodePool(cfg, bpe_entry, workers=2) as pool:
        got = list(pool.encode(batches))
    tok = BPETokenizer.load(bpe_entry / "tokenizer.json", 8, 400)
    assert [s for s, _, _ in got] == [s for s, _ in batches]
    flat = [ids for _, _, enc in got for ids in enc]
    want = tok.encode_batch(texts + TEXTS)
    assert len(flat) == len(want) and all(np.array_equal(a, b) for a, b in zip(flat, want))


def test_a_cache_built_over_workers_equals_an_in_process_build(tmp_path, monkeypatch):
    src = str(corpus(tmp_path / "c.jsonl", n_docs=600))
    here = load_dataset(DataConfig(source=src, tokenizer="bpe", vocab_size=400,
                                   cache_dir=str(tmp_path / "here")))
    monkeypatch.setattr(encode_pool, "MIN_POOL_BYTES", 0)
    monkeypatch.setattr(encode_pool, "CHUNK_BYTES", 20_000)
    monkeypatch.setenv("SCALING_DATA_WORKERS", "2")
    pooled = load_dataset(DataConfig(source=src, tokenizer="bpe", vocab_size=400,
                                     cache_dir=str(tmp_path / "pooled")))
    b = json.loads((Path(pooled.meta["cache_dir"]) / "build.json").read_text())
    assert b["encode_workers"] == 2 and b["worker_peak_rss_mb"] > 0
    assert files_of(here.meta["cache_dir"]) == files_of(pooled.meta["cache_dir"])


def test_a_dead_worker_is_an_error(bpe_entry):
    cfg = SimpleNamespace(tokenizer="bpe", n_sentinels=8, vocab_size=400)
    docs = [SimpleNamespace(text="some text " * 50) for _ in range(8)]
    pool = encode_pool.EncodePool(cfg, bpe_entry, workers=2)
    try:
        pool._w[1].proc.kill()
        with pytest.raises(RuntimeError, match="encode worker failed"):
            list(pool.encode([(0, docs[:4]), (4, docs[4:])]))
    finally:
        pool.close(kill=True)


def test_byte_and_small_corpora_stay_in_process(monkeypatch):
    monkeypatch.setenv("SCALING_DATA_WORKERS", "2")
    byte, bpe = (tokenizer_kind(DataConfig(tokenizer=t)) for t in ("byte", "bpe"))
    tokens = tokenizer_kind(DataConfig(source="tokens:x.bin", tokenizer="bpe"))
    assert not encode_pool.use_pool(byte, 1 << 40)
    assert not encode_pool.use_pool(tokens, 1 << 40)
    assert not encode_pool.use_pool(bpe, encode_pool.MIN_POOL_BYTES - 1)
    assert encode_pool.use_pool(bpe, encode_pool.MIN_POOL_BYTES)
    monkeypatch.setenv("SCALING_DATA_WORKERS", "0")
    assert not encode_pool.use_pool(bpe, 1 << 40)
    assert build.encode_pool is encode_pool
