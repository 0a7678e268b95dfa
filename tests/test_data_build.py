"""The streaming cache build: manifest keys (an existing cache reads no corpus),
shards, the bounded BPE sample, SIGKILL then rerun gives the same bytes, no stale leftovers."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from scaling.data import DataConfig, build, formats, load_dataset, shards
from scaling.data.dataset import corpus_tokens

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()


def corpus(path: Path, n_docs=400, seed=0) -> Path:
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n_docs):
            words = rng.choice(WORDS, size=int(rng.integers(20, 400)))
            fh.write(json.dumps({"text": f"{i} " + " ".join(words)}) + "\n")
    return path


def files_of(entry: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(Path(entry).iterdir())
            if p.name != "build.json"}  # build.json: wall time and memory of that build


def test_existing_cache_reads_no_corpus(tmp_path, monkeypatch):
    cfg = DataConfig(source=str(corpus(tmp_path / "c.jsonl")), cache_dir=str(tmp_path / "k"))
    a = load_dataset(cfg)
    n = a.meta["n_tokens"]["train"]

    def boom(*a, **k):
        raise AssertionError("the corpus was read")
    monkeypatch.setattr(formats, "jsonl_docs", boom)
    monkeypatch.setattr(build, "scan", boom)
    t0 = time.perf_counter()
    b = load_dataset(cfg)
    assert time.perf_counter() - t0 < 1.0 and b.meta["cache_hit"]
    assert np.array_equal(a.train, b.train)
    assert corpus_tokens(cfg)[0] == n  # what sweep --dry-run asks: from the cache, no reading
    os.utime(tmp_path / "c.jsonl", ns=(1, 1))  # the manifest changed: a new entry is built
    with pytest.raises(AssertionError, match="corpus was read"):
        load_dataset(cfg)


def test_shards_give_the_same_batches(tmp_path, monkeypatch):
    src = str(corpus(tmp_path / "c.jsonl"))
    one = load_dataset(DataConfig(source=src, cache_dir=str(tmp_path / "one")))
    monkeypatch.setattr(shards, "SHARD_TOKENS", 5000)
    many = load_dataset(DataConfig(source=src, cache_dir=str(tmp_path / "many")))
    assert len(many.meta["shards"]["train"]) > 3 and isinstance(many.train, shards.ShardedArray)
    assert many.train.size == one.train.size
    for step in (0, 7, 123):  # windows cross shard ends; batches stay a function of (seed, step)
        assert np.array_equal(many.batch(3, step, 8, 64), one.batch(3, step, 8, 64))
    assert np.array_equal(many.validation_windows(64), one.validation_windows(64))
    assert np.array_equal(np.asarray(many.train), np.asarray(one.train))


def test_bpe_trains_on_a_bounded_seeded_sample(tmp_path):
    src = str(corpus(tmp_path / "c.jsonl"))
    base = DataConfig(source=src, tokenizer="bpe", vocab_size=400, cache_dir=str(tmp_path),
                      tokenizer_train_bytes=40_000)
    a, b = load_dataset(base), load_dataset(base.replace(cache_dir=str(tmp_path / "b")))
    s = a.meta["tokenizer_sample"]
    assert 30_000 < s["bytes"] <= 40_000 and not s["whole_split"]
    assert a.meta["tokenizer"]["sha256"] == b.meta["tokenizer"]["sha256"]  # seeded: repeatable
    c = load_dataset(base.replace(tokenizer_train_seed=1))
    assert c.meta["cache_key"] != a.meta["cache_key"]
    assert c.meta["tokenizer_sample"]["bytes"] != s["bytes"]
    whole = load_dataset(base.replace(tokenizer_train_bytes=10**9)).meta["tokenizer_sample"]
    assert whole["whole_split"] and whole["bytes"] == a.meta["n_bytes"]["train"]


KILLED_BUILD = r"""
import sys, time
from pathlib import Path
from scaling.data import build, shards
build.BATCH_BYTES = 16_000  # many small batches, each slowed, so that the kill lands mid-build
append = shards.ShardWriter.append
def slow(self, ids):
    Path(sys.argv[1]).touch()
    time.sleep(0.1)
    append(self, ids)
shards.ShardWriter.append = slow
from scaling.cli import main
sys.exit(main(["data", "prepare", "--source", sys.argv[2], "--tokenizer", "bpe", "--vocab-size", "400",
               "--cache-dir", sys.argv[3], "--quiet"]))
"""


def prepare(src, cache_dir, *extra):
    return subprocess.run([sys.executable, "-m", "scaling", "data", "prepare", "--source", src,
                           "--tokenizer", "bpe", "--vocab-size", "400", "--cache-dir", cache_dir,
                           "--json", *extra], capture_output=True, text=True, cwd=ROOT)


def test_sigkill_mid_build_then_rerun_is_byte_identical(tmp_path):
    src, killed, clean = str(corpus(tmp_path / "c.jsonl")), tmp_path / "k", tmp_path / "ok"
    started = tmp_path / "started"
    p = subprocess.Popen([sys.executable, "-c", KILLED_BUILD, str(started), src, str(killed)],
                         cwd=ROOT, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not started.exists():
        assert p.poll() is None, p.stderr.read()
        assert time.time() - t0 < 120
        time.sleep(0.02)
    time.sleep(0.3)
    p.send_signal(signal.SIGKILL)
    p.wait()
    left = [x.name for x in killed.iterdir()]
    assert any(n.endswith(".tmp") for n in left), left  # killed mid-build: a temporary folder
    assert not any(not n.startswith(".") and (killed / n).is_dir() for n in left)
    r = prepare(src, str(killed))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["cache_hit"] is False
    assert sorted(x.name for x in killed.iterdir()) == sorted(
        [Path(out["cache"]).name, Path(out["cache"]).name + ".lock"])  # leftovers removed
    ref = prepare(src, str(clean))
    assert ref.returncode == 0, ref.stderr
    assert files_of(Path(out["cache"])) == files_of(Path(json.loads(ref.stdout)["cache"]))
    again = prepare(src, str(killed))
    assert json.loads(again.stdout)["cache_hit"] is True


def test_data_info_lists_caches(tmp_path):
    src = str(corpus(tmp_path / "c.jsonl", n_docs=50))
    load_dataset(DataConfig(source=src, cache_dir=str(tmp_path / "k")))
    (tmp_path / "k" / ".deadbeef.x.tmp").mkdir()
    r = subprocess.run([sys.executable, "-m", "scaling", "data", "info", "--cache-dir",
                        str(tmp_path / "k"), "--json"], capture_output=True, text=True, cwd=ROOT)
    rows = json.loads(r.stdout)
    assert [x["complete"] for x in rows] == [False, True]
    assert rows[1]["meta"]["source"] == src and rows[1]["build"]["wall_s"] > 0


def test_non_utf8_file_is_skipped_with_a_word(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "good.txt").write_text("def f():\n    return 1\n" * 2000)
    (folder / "bad.txt").write_bytes(b"\xff\xfe latin-1 \xe9\xe8" * 100)
    cfg = DataConfig(source=str(folder), cache_dir=str(tmp_path / "k"), val_fraction=0.5)
    with pytest.warns(UserWarning, match=r"1 file\(s\) skipped, not valid UTF-8.*bad.txt"):
        ds = load_dataset(cfg, progress=False)
    assert ds.meta["skipped_names"] == ["bad.txt"]


def test_progress_draws_a_bar_on_a_terminal_and_lines_elsewhere(monkeypatch):
    import io

    class Tty(io.StringIO):
        def isatty(self):
            return True
    lines = []

    def speak(msg):
        lines.append(msg)
    speak.enabled = True
    monkeypatch.setattr(sys, "stderr", Tty())
    p = build._Progress(100, speak)
    p.add(40, 8)
    p.add(60, 12)  # the end is always drawn
    out = sys.stderr.getvalue()
    assert "\r  encoding [" in out and "100.0%" in out and "MB/s" in out and "tokens/s" in out
    assert out.endswith("\n") and not lines
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal: log lines
    p = build._Progress(100, speak, every_s=0.0)
    p.add(100, 20)
    assert lines and "MB/s" in lines[0] and sys.stderr.getvalue() == ""
