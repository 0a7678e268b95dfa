"""Bad inputs to the data layer are one InputError line naming the file, never a
traceback: unreadable files, lone surrogates in JSONL, an empty token array, a WordLevel
tokenizer without its unk token, truncated .jsonl.zst / .gz; and symlinks never make a glob or
folder loop or read a file twice."""
import builtins
import gzip
import json
import os

import numpy as np
import pytest

from runstore import InputError
from scaling.data import DataConfig, load_dataset
from scaling.data.corpus import load_corpus

TEXTS = [f"doc {i}: " + "lorem ipsum dolor sit amet " * (3 + i % 7) for i in range(60)]


def jsonl_bytes(texts=TEXTS) -> bytes:
    return "".join(json.dumps({"text": t}) + "\n" for t in texts).encode()


def refused(tmp_path, match: str, **cfg) -> str:
    """The one-line message of the InputError that building this config's cache raises."""
    with pytest.raises(InputError, match=match) as e:
        load_dataset(DataConfig(cache_dir=str(tmp_path / "cache"), **cfg))
    msg = str(e.value)
    assert "\n" not in msg
    return msg


@pytest.fixture
def unreadable(monkeypatch):
    """chmod 000 on a path; as root (who reads it anyway) opening it fails as it would."""
    def make(path):
        os.chmod(path, 0)
        if os.geteuid() == 0:
            real_open = builtins.open

            def fake_open(file, *a, **kw):
                if os.fspath(file) == str(path):
                    raise PermissionError(13, "Permission denied", str(path))
                return real_open(file, *a, **kw)
            monkeypatch.setattr(builtins, "open", fake_open)
        return path
    yield make


@pytest.mark.parametrize("name", ["b.txt", "b.jsonl"])
def test_an_unreadable_file_is_one_line_naming_it(tmp_path, unreadable, name):
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "a.txt").write_text("\n".join(TEXTS))
    (d / name).write_bytes(jsonl_bytes() if name.endswith("jsonl") else b"some text\n" * 50)
    unreadable(d / name)
    msg = refused(tmp_path, "cannot read this file", source=str(d))
    assert str(d / name) in msg and "Permission denied" in msg


def test_an_unreadable_token_file_is_one_line_naming_it(tmp_path, unreadable):
    p = tmp_path / "ids.bin"
    np.arange(1, 500, dtype=np.uint16).tofile(p)
    unreadable(p)
    msg = refused(tmp_path, "cannot read this file", source=f"tokens:{p}",
                  tokens_vocab_size=1000, tokens_separator_id=-1)
    assert str(p) in msg


def test_a_lone_surrogate_in_jsonl_names_the_line(tmp_path):
    p = tmp_path / "s.jsonl"
    bad = json.dumps({"text": "half a pair: \ud800 here"})  # written as the escape \ud800
    assert "\\ud800" in bad
    p.write_bytes(jsonl_bytes(TEXTS[:5]) + bad.encode() + b"\n" + jsonl_bytes(TEXTS[5:]))
    msg = refused(tmp_path, "lone surrogate", source=str(p))
    assert f"{p}:6" in msg
    # a surrogate pair is one ordinary character
    p.write_bytes(jsonl_bytes(TEXTS) + json.dumps({"text": "a pair: \U0001F600"}).encode())
    assert load_corpus(DataConfig(source=str(p))).docs[-1].text == "a pair: \U0001F600"


@pytest.mark.parametrize("suffix", [".bin", ".npy"])
def test_an_empty_token_array_is_one_line_naming_it(tmp_path, suffix):
    p = tmp_path / f"ids{suffix}"
    if suffix == ".npy":
        np.save(p, np.zeros(0, np.uint16))
    else:
        p.write_bytes(b"")
    msg = refused(tmp_path, "empty", source=f"tokens:{p}", tokens_vocab_size=100,
                  tokens_separator_id=-1)
    assert str(p) in msg


def test_a_wordlevel_tokenizer_without_its_unk_token_is_refused(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    tok = Tokenizer(models.WordLevel({"lorem": 0, "ipsum": 1, "[UNK]": 2}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    spec = json.loads(tok.to_str())
    del spec["model"]["vocab"]["[UNK]"]
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(spec))
    src = tmp_path / "c.jsonl"
    src.write_bytes(jsonl_bytes())
    msg = refused(tmp_path, "vocabulary lacks it", source=str(src), tokenizer=f"file:{path}")
    assert str(path) in msg and "'[UNK]'" in msg


def _zst(raw: bytes) -> bytes:
    zstd = pytest.importorskip("zstandard")
    return zstd.ZstdCompressor().compress(raw)


@pytest.mark.parametrize("suffix", [".jsonl.zst", ".jsonl.gz"])
@pytest.mark.parametrize("keep", [0.5, 0.97])
def test_a_truncated_compressed_file_names_it_and_the_byte(tmp_path, suffix, keep):
    raw = jsonl_bytes(TEXTS * 20)
    data = _zst(raw) if suffix.endswith("zst") else gzip.compress(raw)
    p = tmp_path / f"c{suffix}"
    p.write_bytes(data[:int(len(data) * keep)])
    msg = refused(tmp_path, "cannot decompress", source=str(p))
    assert str(p) in msg and f"of {p.stat().st_size:,}" in msg and "compressed byte" in msg


def test_a_zst_of_several_frames_reads_whole(tmp_path):
    raw = jsonl_bytes(TEXTS * 3)
    cut = raw.index(b"\n", len(raw) // 2) + 1
    p = tmp_path / "f.jsonl.zst"
    p.write_bytes(_zst(raw[:cut]) + _zst(raw[cut:]))
    assert [d.text for d in load_corpus(DataConfig(source=str(p))).docs] == TEXTS * 3


@pytest.fixture
def linked_tree(tmp_path):
    """a/x.txt, a/sub/y.txt, with a/dup.txt -> x.txt, a/sub/up -> .. (a loop) and
    a/twice -> sub (the same folder again)."""
    a = tmp_path / "a"
    (a / "sub").mkdir(parents=True)
    (a / "x.txt").write_text("\n".join(TEXTS[:30]))
    (a / "sub" / "y.txt").write_text("\n".join(TEXTS[30:]))
    os.symlink("x.txt", a / "dup.txt")
    os.symlink("..", a / "sub" / "up")
    os.symlink("sub", a / "twice")
    return a


@pytest.mark.parametrize("pattern", ["{a}", "{a}/**/*.txt", "{a}/**"])
def test_symlinks_never_loop_or_read_a_file_twice(linked_tree, pattern):
    c = load_corpus(DataConfig(source=pattern.format(a=linked_tree)))
    names = sorted({d.name.split("#")[0] for d in c.docs})
    assert names == ["sub/y.txt", "x.txt"]
    assert c.meta["n_files"] == 2


def test_a_glob_still_follows_a_symlink_to_a_new_folder(tmp_path):
    """Like glob itself: a link to a folder outside the tree is read (once)."""
    out, a = tmp_path / "elsewhere", tmp_path / "a"
    out.mkdir()
    a.mkdir()
    (out / "z.txt").write_text("\n".join(TEXTS))
    (a / "x.txt").write_text("\n".join(TEXTS))
    os.symlink(out, a / "link")
    c = load_corpus(DataConfig(source=f"{a}/**/*.txt"))
    assert sorted({d.name.split("#")[0] for d in c.docs}) == ["link/z.txt", "x.txt"]
