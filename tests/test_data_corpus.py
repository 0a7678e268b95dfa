"""Corpus sources, their errors, the content hash and the split by document."""
import json
import platform
import sysconfig

import pytest

from runstore import InputError
from scaling.configio import from_dict
from scaling.data import DataConfig, load_dataset
from scaling.data.corpus import Document, chunk_document, load_corpus, split_documents


def test_stdlib_listing_and_meta():
    c = load_corpus(DataConfig(max_bytes=200_000))
    names = [d.name for d in c.docs]
    assert names == sorted(names) and names[0] == "__future__.py"
    assert sum(len(d.text.encode()) for d in c.docs) == 200_000  # the last document is cut
    assert c.meta["python_version"] == platform.python_version()
    assert c.meta["stdlib_path"] == sysconfig.get_paths()["stdlib"]
    assert len(c.content_hash) == 64
    assert load_corpus(DataConfig(max_bytes=200_000)).content_hash == c.content_hash
    assert load_corpus(DataConfig(max_bytes=100_000)).content_hash != c.content_hash


def test_stdlib_excludes_tests_and_site_packages(monkeypatch):
    from scaling.data import sources
    _, names = sources.stdlib_files(include_tests=False)
    assert names == sorted(names) and all(n.endswith(".py") for n in names)
    assert not any(n.startswith("test/") for n in names)
    assert not any("site-packages" in n for n in names)
    assert any(n.startswith("json/") for n in names)
    assert any("/test/" in n or "_test/" in n for n in names)  # only the top-level test/ goes
    _, with_tests = sources.stdlib_files(include_tests=True)
    assert any(n.startswith("test/") for n in with_tests)
    assert set(names) < set(with_tests)


def test_text_file_folder_and_glob(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.txt").write_text("hello\n")
    (tmp_path / "a" / "sub").mkdir()
    (tmp_path / "a" / "sub" / "two.md").write_text("wörld\n")
    (tmp_path / "a" / "bin.dat").write_bytes(b"\x00\x01\xff")
    (tmp_path / "a" / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "a" / ".hidden").write_text("secret")
    (tmp_path / "a" / "empty.txt").write_text("")

    c = load_corpus(DataConfig(source=str(tmp_path / "a")))
    assert [d.name for d in c.docs] == ["one.txt", "sub/two.md"]
    assert c.meta["skipped_files"] == 2 and c.meta["kind"] == "folder"
    assert sorted(c.meta["skipped_names"]) == ["bin.dat", "latin1.txt"]

    f = load_corpus(DataConfig(source=str(tmp_path / "a" / "one.txt")))
    assert [(d.name, d.text) for d in f.docs] == [("one.txt", "hello\n")]

    g = load_corpus(DataConfig(source=str(tmp_path / "a" / "**" / "*.md")))
    assert [d.name for d in g.docs] == ["sub/two.md"] and g.meta["kind"] == "glob"

    # names are relative, so the same text elsewhere hashes the same
    import shutil
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert load_corpus(DataConfig(source=str(tmp_path / "b"))).content_hash == c.content_hash


def test_jsonl(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text(json.dumps({"text": "first doc"}) + "\n\n" +
                 json.dumps({"body": "x", "text": "second ünï"}) + "\n")
    c = load_corpus(DataConfig(source=str(p)))
    assert [(d.name, d.text) for d in c.docs] == [("d.jsonl:1", "first doc"),
                                                   ("d.jsonl:3", "second ünï")]
    with pytest.raises(InputError, match="line 1 has no field 'body'"):
        load_corpus(DataConfig(source=str(p), text_field="body"))


def test_jsonl_errors(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"text": "ok"}\n{"body": "no text"}\n')
    with pytest.raises(InputError) as e:
        load_corpus(DataConfig(source=str(p)))
    assert e.value.file == f"{p}:2" and e.value.key == "data.text_field" and e.value.fix
    assert "line 2" in str(e.value)

    p.write_text('{"text": "ok"}\n{"text": "ok"}\nnot json\n')
    with pytest.raises(InputError) as e:
        load_corpus(DataConfig(source=str(p)))
    assert e.value.file == f"{p}:3" and "line 3" in str(e.value) and e.value.fix

    p.write_text('{"text": 5}\n')
    with pytest.raises(InputError, match="not a string"):
        load_corpus(DataConfig(source=str(p)))


def test_bad_sources(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(InputError) as e:
        load_corpus(DataConfig(source=str(missing)))
    assert e.value.file == str(missing) and e.value.exit_code == 2 and e.value.fix
    with pytest.raises(InputError, match="matches no files"):
        load_corpus(DataConfig(source=str(tmp_path / "*.txt")))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "e.txt").write_text("")
    with pytest.raises(InputError, match="empty") as e:
        load_dataset(DataConfig(source=str(tmp_path / "empty"), cache_dir=str(tmp_path / "c")))
    assert e.value.file == str(tmp_path / "empty")


def test_config_validation():
    for bad in [dict(tokenizer="bpe", vocab_size=300), dict(val_fraction=0.0),
                dict(val_fraction=1.0), dict(max_bytes=-1), dict(synthetic_states=1),
                dict(synthetic_states=200), dict(val_windows=0), dict(n_sentinels=-1)]:
        with pytest.raises(InputError) as e:
            from_dict(DataConfig, bad, file="run.yaml", prefix="data")
        assert e.value.file == "run.yaml" and e.value.key.startswith("data.")
    with pytest.raises(InputError, match="did you mean"):
        from_dict(DataConfig, {"vocab_sise": 5})
    cfg = from_dict(DataConfig, {"tokenizer": "bpe", "vocab_size": 4096})
    assert cfg.vocab_size == 4096 and cfg.n_reserved == 68


def test_cache_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("SCALING_CACHE", str(tmp_path / "env"))
    assert DataConfig().resolved_cache_dir() == tmp_path / "env"
    assert DataConfig(cache_dir=str(tmp_path / "x")).resolved_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("SCALING_CACHE")
    assert str(DataConfig().resolved_cache_dir()).endswith(".cache/scaling")


def test_split_is_deterministic_and_disjoint():
    docs = load_corpus(DataConfig(max_bytes=1_000_000)).docs
    train, val = split_documents(docs, 0.05)
    train2, val2 = split_documents(list(docs), 0.05)
    assert train == train2 and val == val2
    assert train and val and {d.name for d in train}.isdisjoint(d.name for d in val)
    assert len(train) + len(val) == len(docs)
    assert [d.name for d in train] == sorted(d.name for d in train)
    total = sum(len(d.text.encode()) for d in docs)
    val_bytes = sum(len(d.text.encode()) for d in val)
    assert 0.03 * total < val_bytes <= 0.0625 * total
    # a document's side depends on its name and size, not on its position
    t3, v3 = split_documents(list(reversed(docs)), 0.05)
    assert {d.name for d in v3} == {d.name for d in val}


def test_split_edge_cases():
    one = [Document("big.txt", "line\n" * 10_000)]
    train, val = split_documents(one, 0.1)
    assert train and val
    assert "".join(d.text for d in sorted(train + val, key=lambda d: d.name)) == one[0].text
    assert all(d.name.startswith("big.txt#") for d in train + val)
    two = [Document("a", "x" * 100), Document("b", "y" * 100)]
    train, val = split_documents(two, 0.01)
    assert len(train) == 1 and len(val) == 1
    pieces = chunk_document(Document("s", "abc"), n=64)
    assert "".join(p.text for p in pieces) == "abc"
