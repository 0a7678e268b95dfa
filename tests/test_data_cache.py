"""The token cache: built once, reused across loads and processes, never left half-written."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from scaling.data import DataConfig, cache, load_dataset
from scaling.data.tokenizer import BPETokenizer

SMALL = dict(max_bytes=300_000)
ROOT = Path(__file__).resolve().parents[1]


def entries(root):
    return sorted(p.name for p in Path(root).iterdir() if p.is_dir())


def test_build_then_reuse_bpe(tmp_path, monkeypatch):
    cfg = DataConfig(tokenizer="bpe", vocab_size=512, cache_dir=str(tmp_path), **SMALL)
    a = load_dataset(cfg)
    assert a.meta["cache_hit"] is False
    entry = Path(a.meta["cache_dir"])
    assert entry.parent == tmp_path and entry.name == a.meta["cache_key"]
    assert sorted(os.listdir(entry)) == ["build.json", "meta.json", "tokenizer.json",
                                         "train-00000.bin", "val-00000.bin"]
    assert isinstance(a.train, np.memmap) and a.train.dtype == np.uint16
    assert not a.train.flags.writeable

    def boom(*a, **k):
        raise AssertionError("re-tokenized")
    monkeypatch.setattr(BPETokenizer, "train", boom)
    monkeypatch.setattr(BPETokenizer, "encode_batch", boom)
    t0 = time.perf_counter()
    b = load_dataset(cfg)
    assert time.perf_counter() - t0 < 2.0
    assert b.meta["cache_hit"] is True and b.meta["cache_key"] == a.meta["cache_key"]
    assert np.array_equal(a.train, b.train) and np.array_equal(a.val, b.val)
    assert b.tokenizer.spec() == a.tokenizer.spec()
    assert entries(tmp_path) == [a.meta["cache_key"]]  # no leftover temporary folders


def test_meta_contents(tmp_path):
    ds = load_dataset(DataConfig(cache_dir=str(tmp_path), **SMALL))
    m = ds.meta
    for k in ("source", "python_version", "content_hash", "n_docs", "n_tokens", "n_bytes",
              "tokenizer", "cache_key", "dataset_version", "skipped_files"):
        assert k in m, k
    assert m["n_tokens"]["train"] == ds.train.size and m["n_tokens"]["val"] == ds.val.size
    assert m["n_bytes"]["train"] + m["n_bytes"]["val"] == 300_000
    # byte tokens: every byte one token plus one EOS per document
    assert m["n_tokens"]["train"] == m["n_bytes"]["train"] + m["n_docs"]["train"]
    assert ds.bytes_per_token == m["n_bytes"]["train"] / m["n_tokens"]["train"]
    on_disk = json.loads((Path(m["cache_dir"]) / "meta.json").read_text())
    assert on_disk["content_hash"] == m["content_hash"]
    json.dumps(m)


def test_key_depends_on_what_matters(tmp_path):
    base = DataConfig(cache_dir=str(tmp_path), **SMALL)
    keys = {load_dataset(c).meta["cache_key"] for c in [
        base, base.replace(max_bytes=200_000), base.replace(val_fraction=0.1),
        base.replace(n_sentinels=8), base.replace(tokenizer="bpe", vocab_size=400)]}
    assert len(keys) == 5
    # things that do not change the arrays do not change the key
    same = load_dataset(base.replace(val_windows=3)).meta
    assert same["cache_key"] == load_dataset(base).meta["cache_key"] and same["cache_hit"]
    assert cache.token_dtype(65535) == np.uint16 and cache.token_dtype(70000) == np.int32


def test_failed_build_leaves_nothing(tmp_path):
    def bad(tmp):
        (tmp / "train.npy").write_bytes(b"partial")
        raise RuntimeError("killed")
    with pytest.raises(RuntimeError):
        cache.open_or_build(tmp_path, "k" * 16, bad)
    assert entries(tmp_path) == []
    with pytest.raises(RuntimeError, match="meta.json"):
        cache.open_or_build(tmp_path, "k" * 16, lambda tmp: None)
    assert entries(tmp_path) == []


def test_entry_that_appears_meanwhile_wins(tmp_path):
    key = "a" * 16

    def build(tmp):  # another (lock-less) builder finishes first, during our build
        other = tmp_path / key
        other.mkdir()
        cache.write_json(other / cache.META, {"who": "other"})
        cache.write_json(tmp / cache.META, {"who": "me"})
    entry, built = cache.open_or_build(tmp_path, key, build)
    assert not built and cache.read_meta(entry) == {"who": "other"}
    assert entries(tmp_path) == [key]


def test_damaged_entry_is_reported(tmp_path):
    cfg = DataConfig(cache_dir=str(tmp_path), **SMALL)
    ds = load_dataset(cfg)
    (Path(ds.meta["cache_dir"]) / "val-00000.bin").write_bytes(b"garbage")
    from runstore import InputError
    with pytest.raises(InputError, match="damaged") as e:
        load_dataset(cfg)
    assert "delete this folder" in e.value.fix


SCRIPT = r"""
import json, sys, time, hashlib
from pathlib import Path
from scaling.data import DataConfig, load_dataset
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
ds = load_dataset(DataConfig(tokenizer="bpe", vocab_size=700, max_bytes=300_000,
                             cache_dir=sys.argv[1]))
print(json.dumps({"hit": ds.meta["cache_hit"], "key": ds.meta["cache_key"],
                  "train": hashlib.sha256(ds.train.tobytes()).hexdigest(),
                  "val": hashlib.sha256(ds.val.tobytes()).hexdigest()}))
"""


def test_concurrent_processes_build_one_cache(tmp_path):
    cache_dir, go = tmp_path / "cache", tmp_path / "go"
    env = dict(os.environ, PYTHONPATH=str(ROOT), TOKENIZERS_PARALLELISM="false")
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, str(cache_dir), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                              cwd=str(ROOT)) for _ in range(2)]
    time.sleep(1.5)  # let both import and wait at the barrier
    go.touch()
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(o["hit"] for o in outs) == [False, True]  # exactly one process built it
    assert len({(o["key"], o["train"], o["val"]) for o in outs}) == 1
    key = outs[0]["key"]
    assert entries(cache_dir) == [key]
    assert sorted(os.listdir(cache_dir)) == [key, f"{key}.lock"]
    ds = load_dataset(DataConfig(tokenizer="bpe", vocab_size=700, max_bytes=300_000,
                                 cache_dir=str(cache_dir)))
    assert ds.meta["cache_hit"]
