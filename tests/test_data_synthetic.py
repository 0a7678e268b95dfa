"""The synthetic Markov-chain corpus: its entropy rate is known in closed form."""
import math

import numpy as np
import pytest

from scaling.data import DataConfig, load_dataset, synthetic


def empirical_conditional_entropy(docs, alphabet):
    """-sum c_ij/N log(c_ij/c_i) over transitions inside documents (nats per character)."""
    s = len(alphabet)
    lut = np.full(256, -1, dtype=np.int64)
    lut[np.frombuffer(alphabet.encode(), np.uint8)] = np.arange(s)
    counts = np.zeros((s, s))
    for _, text in docs:
        x = lut[np.frombuffer(text.encode("ascii"), np.uint8)]
        assert (x >= 0).all()
        np.add.at(counts, (x[:-1], x[1:]), 1)
    row = counts.sum(1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(counts > 0, counts * np.log(counts / row), 0.0)
    return -terms.sum() / counts.sum()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_entropy_well_below_uniform(seed):
    cfg = DataConfig(source="synthetic", synthetic_seed=seed)
    h = synthetic.entropy_rate_nats(cfg)
    assert 0.3 * math.log(16) < h < 0.8 * math.log(16)


def test_transition_matrix_and_stationary():
    cfg = DataConfig(source="synthetic", synthetic_states=10, synthetic_seed=3)
    p = synthetic.transition_matrix(cfg)
    assert p.shape == (10, 10) and np.allclose(p.sum(1), 1) and (p > 0).all()
    pi = synthetic.stationary(p)
    assert np.allclose(pi @ p, pi, atol=1e-12) and np.isclose(pi.sum(), 1)
    h = synthetic.entropy_rate_nats(cfg)
    assert np.isclose(h, pi @ (-(p * np.log(p)).sum(1)))


@pytest.mark.parametrize("states,seed", [(16, 0), (5, 7)])
def test_empirical_entropy_matches_closed_form(states, seed):
    cfg = DataConfig(source="synthetic", synthetic_states=states, synthetic_seed=seed,
                     synthetic_bytes=600_000)
    docs = synthetic.generate(cfg)
    h_emp = empirical_conditional_entropy(docs, synthetic.alphabet(cfg))
    h = synthetic.entropy_rate_nats(cfg)
    assert abs(h_emp - h) / h < 0.01, (h_emp, h)


def test_generation_is_deterministic_and_sized():
    cfg = DataConfig(source="synthetic", synthetic_bytes=100_000, synthetic_seed=4)
    a, b = synthetic.generate(cfg), synthetic.generate(cfg)
    assert a == b
    assert len(a) == 64 and sum(len(t) for _, t in a) == 100_000
    assert len({n for n, _ in a}) == 64
    other = synthetic.generate(cfg.replace(synthetic_seed=5))
    assert other != a
    assert set("".join(t for _, t in a)) <= set(synthetic.alphabet(cfg))
    tiny = synthetic.generate(cfg.replace(synthetic_bytes=10))
    assert len(tiny) == 2 and sum(len(t) for _, t in tiny) == 10


def test_synthetic_dataset_loads(tmp_path):
    cfg = DataConfig(source="synthetic", synthetic_bytes=200_000, cache_dir=str(tmp_path),
                     val_windows=8)
    ds = load_dataset(cfg)
    assert ds.meta["kind"] == "synthetic"
    assert ds.meta["synthetic"]["entropy_rate_nats"] == pytest.approx(
        synthetic.entropy_rate_nats(cfg))
    assert ds.meta["n_docs"]["val"] >= 1 and ds.meta["n_docs"]["train"] >= 1
    assert ds.meta["n_bytes"]["train"] + ds.meta["n_bytes"]["val"] == 200_000
    assert 0.99 < ds.bytes_per_token < 1.0  # one byte per token, plus one EOS per document
    assert len(ds.val_batches(128, 4)) == 2
