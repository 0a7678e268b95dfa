"""Resource limits are checked before anything is written: vocabularies int32 ids cannot index
or a tokenizer cannot train, models whose states alone exceed the device, and batches the step
cannot split, in `scaling train` and in a sweep's dry run (no training: every case is refused
before the first step)."""
from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import tiny_run, write_config
from test_fuzz_inputs import cli, refused, tree

from scaling.budget.memory import check_states_fit
from scaling.data.kinds import MAX_BPE_VOCAB
from scaling.model.config import MAX_VOCAB, ModelConfig


@pytest.fixture()
def tokens_file(tmp_path):
    path = tmp_path / "ids.bin"
    np.random.default_rng(0).integers(0, 1000, 50_000).astype(np.uint16).tofile(path)
    return path


def _tokens_run(tmp_path, tokens_file, vocab: int):
    return write_config(tmp_path / "run.yaml", tiny_run(**{
        "data.source": f"tokens:{tokens_file}", "data.tokens_vocab_size": vocab,
        "data.tokens_separator_id": -1, "data.cache_dir": str(tmp_path / "cache"),
        "train.steps": 2}))


def test_a_vocabulary_past_int32_ids_is_refused_before_writing(tmp_path, capsys, tokens_file):
    out = tmp_path / "out"
    rc, err = cli(capsys, "train", _tokens_run(tmp_path, tokens_file, 2**31), "--out", out,
                  "--quiet")
    line = refused(rc, err, "data.tokens_vocab_size", "int32", str(tokens_file))
    assert f"{MAX_VOCAB - 8 - 4:,}" in line  # the largest that fits after the reserved ids
    assert not out.exists()


def test_a_model_whose_states_exceed_the_device_is_refused_before_writing(
        tmp_path, capsys, tokens_file):
    """Vocabulary 2**31 - 1000 at d 32: 68.7B parameters, 1.1 TB of states. It used to write
    config.json and die in XLA (RESOURCE_EXHAUSTED); the corrected rerun was then refused as
    another run's folder. Now nothing is written, so the corrected rerun is a new run."""
    out = tmp_path / "out"
    rc, err = cli(capsys, "train", _tokens_run(tmp_path, tokens_file, 2**31 - 1000), "--out",
                  out, "--quiet")
    line = refused(rc, err, "key 'model'", "68,719,", "TB", "Adam moments")
    assert "vocabulary of 2,147,482,660" in line
    assert not out.exists()


def test_a_bpe_vocabulary_the_trainer_would_abort_on_is_refused(tmp_path, capsys):
    cache = tmp_path / "cache"
    path = write_config(tmp_path / "run.yaml", tiny_run(**{
        "data.tokenizer": "bpe", "data.vocab_size": 2**31 - 1, "data.cache_dir": str(cache)}))
    rc, err = cli(capsys, "train", path, "--out", tmp_path / "out", "--quiet")
    refused(rc, err, "data.vocab_size", f"{MAX_BPE_VOCAB:,}")
    assert not cache.exists() and not (tmp_path / "out").exists()


def test_model_vocab_size_past_int32_is_refused():
    with pytest.raises(Exception, match="int32"):
        ModelConfig(vocab_size=MAX_VOCAB + 1).validate()


def test_states_check_passes_what_fits_and_names_sharding():
    cfg = ModelConfig(d_model=64, n_layers=2, n_heads=2, vocab_size=1000)
    check_states_fit(cfg, "float32", 1e9, "test")  # ~0.1M parameters: fits
    with pytest.raises(Exception, match="sharded over 4 devices"):
        check_states_fit(cfg.replace(vocab_size=10**8), "float32", 1e9, "test", shards=4)


def test_the_dry_run_refuses_a_batch_its_microbatches_cannot_split(tmp_path, capsys):
    """A per-size batch of 5 with pinned microbatches 2 was planned, then training died in a
    reshape: the dry run now refuses it, as training would."""
    from test_sweep_config import tiny_sweep
    sw = tiny_sweep(**{"base.train.microbatches": 2, "recipe.batch_size": 5,
                       "out": str(tmp_path / "out")})
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(sw))
    before = tree(tmp_path)
    rc, err = cli(capsys, "sweep", path, "--dry-run")
    assert rc == 2, err
    assert "batch 5 does not split into 2 equal microbatches" in err
    assert tree(tmp_path) == before


def test_a_fifo_as_config_is_one_line_not_a_hang(tmp_path, capsys):
    import os
    fifo = tmp_path / "run.yaml"
    os.mkfifo(fifo)
    refused(*cli(capsys, "train", fifo), str(fifo), "not a regular file")


def test_negative_token_ids_are_named_as_such(tmp_path, capsys):
    ids = tmp_path / "neg.npy"
    np.save(ids, np.arange(3000, dtype=np.int32) - 5)
    path = write_config(tmp_path / "run.yaml", tiny_run(**{
        "data.source": f"tokens:{ids}", "data.tokens_vocab_size": 4000,
        "data.tokens_separator_id": -1, "data.cache_dir": str(tmp_path / "cache")}))
    line = refused(*cli(capsys, "train", path, "--out", tmp_path / "out"), "an id of -5",
                   "store them without negative values")
    assert "vocabulary size the array" not in line
    assert not (tmp_path / "out").exists()


def test_bootstrap_has_an_upper_bound(capsys):
    from conftest import ROOT
    rc, err = cli(capsys, "fit", ROOT / "results" / "cpu_reference" / "clm_byte", "--approach",
                  "2", "--bootstrap", "100000000")
    refused(rc, err, "--bootstrap", "100,000")


def test_the_dry_run_refuses_every_point_of_a_vocabulary_no_device_holds(tmp_path, capsys,
                                                                         tokens_file):
    """With a vocabulary of ~2**31 every point showed 711.6 kB and none was refused."""
    from test_sweep_config import tiny_sweep
    sw = tiny_sweep(**{"base.data.source": f"tokens:{tokens_file}",
                       "base.data.tokens_vocab_size": 2**31 - 1000,
                       "base.data.tokens_separator_id": -1,
                       "base.data.cache_dir": str(tmp_path / "cache"),
                       "grid.params": [8000], "out": str(tmp_path / "out")})
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(sw))
    rc, err = cli(capsys, "sweep", path, "--dry-run")
    assert rc == 2 and "2 of 2 points refused" in err, err[-2000:]
    assert "TB needed" in err and not (tmp_path / "out").exists()
