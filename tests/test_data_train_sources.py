"""`scaling train` from every new source kind, and the run record's unique tokens."""
import gzip
import json

import numpy as np
import pytest
from conftest import tiny_run
from test_data_sources import TEXTS, write_hf, write_jsonl, write_parquet

MORE = TEXTS * 4  # ~ 40 kB: enough windows of 32 for training and validation


def _tokens(tmp_path):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 300, size=30_000).astype(np.uint16)
    ids[rng.integers(0, ids.size, size=80)] = 300  # document separators
    ids.tofile(tmp_path / "t.bin")
    (tmp_path / "t.bin.json").write_text(json.dumps({"vocab_size": 301, "separator_id": 300}))
    return {"data.source": f"tokens:{tmp_path / 't.bin'}"}


def _tokenizer_json(tmp_path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(MORE, trainers.BpeTrainer(
        vocab_size=320, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.save(str(tmp_path / "tokenizer.json"))
    return {"data.source": str(write_jsonl(tmp_path / "a.jsonl", MORE)),
            "data.tokenizer": f"file:{tmp_path / 'tokenizer.json'}"}


KINDS = {
    "parquet": lambda p: {"data.source": str(write_parquet(p / "a.parquet", MORE))},
    "hf_local": lambda p: {"data.source": f"hf:{write_hf(p / 'ds', MORE)}"},
    "tokens_bin": _tokens,
    "jsonl_gz": lambda p: {"data.source": str(write_jsonl(p / "a.jsonl.gz", MORE,
                                                          opener=gzip.open))},
    "tokenizer_json": _tokenizer_json,
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_scaling_train_from_each_source_kind(tmp_path, kind):
    from scaling.configio import from_dict
    from scaling.train.config import RunConfig
    from scaling.train.loop import train  # what `scaling train` runs (the CLI: test_train.py)
    over = {"train.steps": 3, "train.eval_every": 3, "train.checkpoint_every": 3,
            "train.log_every": 3, **KINDS[kind](tmp_path)}
    assert train(from_dict(RunConfig, tiny_run(**over)), tmp_path / "run",
                 progress=False).status == "done"
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["status"] == "done" and np.isfinite(s["final_eval_loss"])
    meta = json.loads((tmp_path / "run" / "summary.json").read_text())["data"]
    assert s["unique_tokens"] == meta["n_tokens"]["train"] > 0
    assert s["repeats"] == pytest.approx(max(s["epochs"] - 1, 0.0))
    if kind == "tokens_bin":
        assert s["final_eval_bpb"] is None and s["tokenizer"] == "tokens301"
