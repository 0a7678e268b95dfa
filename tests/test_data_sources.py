"""Sources: JSONL[.gz|.zst], parquet, HF save_to_disk, tokens: arrays, pretrained
tokenizers, and one clear error for every unsupported or malformed source."""
import gzip
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from runstore import InputError
from scaling.data import DataConfig, load_dataset
from scaling.data.corpus import load_corpus

TEXTS = [f"doc {i}: " + "lorem ipsum dolor sit amet " * (3 + i % 7) for i in range(60)]


def write_jsonl(path, texts=TEXTS, opener=open):
    with opener(path, "wt", encoding="utf-8") as fh:
        for t in texts:
            fh.write(json.dumps({"text": t, "id": 1}) + "\n")
    return path


def write_zst(path, texts=TEXTS):
    zstd = pytest.importorskip("zstandard")
    raw = "".join(json.dumps({"text": t}) + "\n" for t in texts).encode()
    path.write_bytes(zstd.ZstdCompressor().compress(raw))
    return path


def write_parquet(path, texts=TEXTS, column="text"):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    pq.write_table(pa.table({column: texts, "n": list(range(len(texts)))}), path,
                   row_group_size=16)
    return path


def write_hf(path, texts=TEXTS, dict_split=None):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"text": texts})
    if dict_split:
        ds = datasets.DatasetDict({dict_split: ds})
    ds.save_to_disk(str(path))
    return path


def texts_of(source, **kw):
    return [d.text for d in load_corpus(DataConfig(source=str(source), **kw)).docs]


def test_jsonl_compressed_and_parquet_read_the_same_documents(tmp_path):
    plain = texts_of(write_jsonl(tmp_path / "a.jsonl"))
    assert plain == TEXTS
    assert texts_of(write_jsonl(tmp_path / "a.jsonl.gz", opener=gzip.open)) == TEXTS
    assert texts_of(write_zst(tmp_path / "a.jsonl.zst")) == TEXTS
    assert texts_of(write_parquet(tmp_path / "a.parquet")) == TEXTS
    names = [d.name for d in load_corpus(DataConfig(source=str(tmp_path / "a.parquet"))).docs]
    assert names[:2] == ["a.parquet:0", "a.parquet:1"]
    # a glob mixes formats; each file is read by its own
    (tmp_path / "g").mkdir()
    write_jsonl(tmp_path / "g" / "x.jsonl.gz", TEXTS[:5], opener=gzip.open)
    write_parquet(tmp_path / "g" / "y.parquet", TEXTS[5:9])
    assert texts_of(tmp_path / "g" / "*") == TEXTS[:9]


def test_hf_local_dataset_and_dict_split(tmp_path):
    assert texts_of(f"hf:{write_hf(tmp_path / 'ds')}") == TEXTS
    src = f"hf:{write_hf(tmp_path / 'dd', TEXTS[:10], dict_split='validation')}"
    assert texts_of(src, hf_split="validation") == TEXTS[:10]
    with pytest.raises(InputError, match="no split 'train'") as e:
        texts_of(src)
    assert e.value.key == "data.hf_split"
    with pytest.raises(InputError, match="Hugging Face dataset") as e:  # forgot 'hf:'
        texts_of(tmp_path / "ds")
    assert "hf:" in e.value.fix


def test_tokens_bin_and_npy(tmp_path):
    ids = np.array([5, 6, 7, 9, 1, 2, 9, 9, 3, 4, 4, 9, 8], np.uint16)
    ids.tofile(tmp_path / "t.bin")
    (tmp_path / "t.bin.json").write_text(json.dumps({"vocab_size": 10, "separator_id": 9}))
    ds = load_dataset(DataConfig(source=f"tokens:{tmp_path / 't.bin'}", n_sentinels=2,
                                 val_fraction=0.3, cache_dir=str(tmp_path / "c")))
    r = ds.tokenizer.n_reserved
    assert ds.tokenizer.vocab_size == r + 10 and ds.tokenizer.name == "tokens10"
    got = sorted(np.concatenate([np.asarray(ds.train), np.asarray(ds.val)]).tolist())
    docs = [[5, 6, 7], [1, 2], [3, 4, 4], [8]]  # the separator ends a document: EOS after each
    assert got == sorted([t + r for d in docs for t in d] + [2] * len(docs))
    assert ds.bytes_per_token is None and ds.meta["n_docs"]["train"] + \
        ds.meta["n_docs"]["val"] == 4
    np.save(tmp_path / "u.npy", ids.astype(np.uint32))
    ds2 = load_dataset(DataConfig(source=f"tokens:{tmp_path / 'u.npy'}", n_sentinels=2,
                                  tokens_vocab_size=10, tokens_separator_id=9,
                                  val_fraction=0.3, cache_dir=str(tmp_path / "c")))
    assert np.array_equal(ds2.train, ds.train) and np.array_equal(ds2.val, ds.val)


def test_pretrained_tokenizer_maps_reserved_ids(tmp_path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())  # GPT-2 style: byte-level, its own <|endoftext|>
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(TEXTS, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.save(str(tmp_path / "tokenizer.json"))
    cfg = DataConfig(source=str(write_jsonl(tmp_path / "a.jsonl")), n_sentinels=4,
                     tokenizer=f"file:{tmp_path / 'tokenizer.json'}", cache_dir=str(tmp_path))
    ds = load_dataset(cfg)
    t = ds.tokenizer
    assert t.vocab_size == 8 + tok.get_vocab_size() and t.n_reserved == 8
    raw = tok.encode("lorem <|endoftext|>", add_special_tokens=False).ids
    ours = t.encode("lorem <|endoftext|>")
    assert ours.min() >= 8  # text spelling a special token stays text, past the reserved ids
    assert t.decode(ours) == "lorem <|endoftext|>" and len(ours) > len(raw)
    assert t.token_byte_lengths()[ours].sum() == len("lorem <|endoftext|>")
    assert ds.train.max() < t.vocab_size and ds.meta["tokenizer"]["kind"] == "file"


def bad(source, match, **kw):
    with pytest.raises(InputError, match=match) as e:
        load_dataset(DataConfig(source=str(source), **kw))
    assert e.value.fix
    return e.value


def test_unsupported_and_malformed_sources_name_file_and_fix(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(10))
    assert "tokens:" in bad(tmp_path / "a.npy", "unsupported source format").fix + \
        str(bad(tmp_path / "a.npy", "token array"))
    (tmp_path / "a.json").write_text('[{"text": "x"}]')
    assert "jsonl" in str(bad(tmp_path / "a.json", "JSON document"))
    (tmp_path / "a.arrow").write_bytes(b"ARROW1")
    bad(tmp_path / "a.arrow", "save_to_disk")
    (tmp_path / "bad.jsonl.gz").write_bytes(b"not gzip at all")
    assert str(tmp_path / "bad.jsonl.gz") in str(bad(tmp_path / "bad.jsonl.gz", "decompress"))
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 nope")
    bad(tmp_path / "bad.parquet", "parquet")
    write_parquet(tmp_path / "c.parquet", column="body")
    assert bad(tmp_path / "c.parquet", "no column 'text'").key == "data.text_field"
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "x.bin").write_bytes(b"\x00\x01\x02")
    e = bad(tmp_path / "bin", "no text documents")
    assert "supported" in e.fix and "bin" in str(e)
    assert "not a JSON object" in str(bad(f"tokens:{tmp_path / 'a.npy'}", "a.json"))  # sidecar
    np.save(tmp_path / "z.npy", np.arange(10))
    bad(f"tokens:{tmp_path / 'z.npy'}", "vocab size")  # no sidecar, no config
    (tmp_path / "odd.bin").write_bytes(b"\x01\x02\x03")
    bad(f"tokens:{tmp_path / 'odd.bin'}", "multiple of 2", tokens_vocab_size=9,
        tokens_separator_id=-1)
    bad(f"tokens:{tmp_path / 'a.txt'}", "no such token file")
    bad("hf:", "needs a dataset name")
    with pytest.raises(InputError, match="not a tokenizers JSON"):
        (tmp_path / "t.json").write_text("{}")
        load_dataset(DataConfig(source=str(write_jsonl(tmp_path / "ok.jsonl")),
                                tokenizer=f"file:{tmp_path / 't.json'}", cache_dir=str(tmp_path)))


def test_cli_prints_one_error_line_exit_2(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(10))
    p = subprocess.run([sys.executable, "-m", "scaling", "data", "prepare", "--source",
                        str(tmp_path / "a.npy"), "--cache-dir", str(tmp_path / "c")],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {tmp_path / 'a.npy'}")
    assert "(fix:" in lines[0] and not (tmp_path / "c").exists()
