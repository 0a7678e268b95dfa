"""Deterministic batches, epochs, fixed validation windows, bytes per token position."""
import numpy as np
import pytest

from runstore import InputError
from scaling.data import DataConfig, load_dataset

W, B = 64, 8


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def ds(cache_dir):
    return load_dataset(DataConfig(max_bytes=300_000, cache_dir=cache_dir, val_windows=16))


@pytest.fixture(scope="module")
def bpe_ds(cache_dir):
    return load_dataset(DataConfig(max_bytes=300_000, cache_dir=cache_dir, tokenizer="bpe",
                                   vocab_size=512, val_windows=16))


def test_streams(ds, bpe_ds):
    for d in (ds, bpe_ds):
        assert d.train.ndim == 1 and d.train[-1] == d.tokenizer.eos_id
        assert d.val[-1] == d.tokenizer.eos_id
        assert int((np.asarray(d.train) == d.tokenizer.eos_id).sum()) == d.meta["n_docs"]["train"]
        assert int((np.asarray(d.val) == d.tokenizer.eos_id).sum()) == d.meta["n_docs"]["val"]
        assert int(np.asarray(d.train).max()) < d.tokenizer.vocab_size
    assert bpe_ds.bytes_per_token > 2 * ds.bytes_per_token


def test_batch_is_pure(ds, cache_dir):
    a = ds.batch(seed=0, step=5, batch_size=B, window=W)
    assert a.shape == (B, W) and a.dtype == np.int32 and type(a) is np.ndarray
    assert np.array_equal(a, ds.batch(0, 5, B, W))
    assert not np.array_equal(a, ds.batch(0, 6, B, W))
    assert not np.array_equal(a, ds.batch(1, 5, B, W))
    fresh = load_dataset(DataConfig(max_bytes=300_000, cache_dir=cache_dir, val_windows=16))
    assert np.array_equal(a, fresh.batch(0, 5, B, W))  # no hidden state: another object agrees
    # each row is a window of the training stream at a multiple of W
    train = np.asarray(ds.train)
    for row in a:
        starts = [s for s in range(0, len(train) - W + 1, W) if np.array_equal(train[s:s + W], row)]
        assert starts


def test_resume_equals_uninterrupted(ds, cache_dir):
    n = ds.n_windows(W)
    steps = n // B + 3  # crosses an epoch boundary
    full = [ds.batch(7, s, B, W) for s in range(steps)]
    resumed = load_dataset(DataConfig(max_bytes=300_000, cache_dir=cache_dir, val_windows=16))
    for s in range(steps - 5, steps):  # the resumed run starts at step steps-5
        assert np.array_equal(full[s], resumed.batch(7, s, B, W))
    # a reversed order of requests gives the same batches (nothing depends on call order)
    for s in reversed(range(steps)):
        assert np.array_equal(full[s], ds.batch(7, s, B, W))


def test_one_epoch_visits_every_window_once(ds):
    n = ds.n_windows(W)
    rows = np.concatenate([ds.batch(3, s, B, W) for s in range(n // B + 1)])
    train = np.asarray(ds.train)
    windows = train[: n * W].reshape(n, W)
    from collections import Counter
    everything = Counter(w.tobytes() for w in windows.astype(np.int32))
    assert Counter(r.tobytes() for r in rows[:n]) == everything  # each window exactly once
    # the next epoch starts with a different permutation
    assert not np.array_equal(rows[n: n + B], rows[:B])


def test_epochs(ds):
    n = ds.n_windows(W)
    assert n == len(ds.train) // W
    assert ds.epochs(n * W, W) == 1.0
    assert ds.epochs(0, W) == 0.0
    steps = 10
    assert ds.epochs(steps * B * W, W) == pytest.approx(steps * B / n)
    assert ds.epochs(3 * n * W, W) == pytest.approx(3.0)


def test_val_windows_fixed(ds, cache_dir):
    batches = ds.val_batches(W, 5)
    sizes = [len(b) for b in batches]
    assert sizes == [5, 5, 5, 1] and all(b.shape[1] == W and b.dtype == np.int32
                                          for b in batches)
    again = load_dataset(DataConfig(max_bytes=300_000, cache_dir=cache_dir, val_windows=16))
    ds.batch(123, 4, B, W)  # training draws do not move them
    assert all(np.array_equal(x, y) for x, y in zip(batches, again.val_batches(W, 5)))
    w = np.concatenate(batches)
    val = np.asarray(ds.val)
    starts = []
    for row in w:
        hits = [s for s in range(len(val) - W + 1) if np.array_equal(val[s:s + W], row)]
        starts.append(hits[0])
    assert starts[0] == 0 and starts[-1] == len(val) - W
    assert all(b - a >= W for a, b in zip(starts, starts[1:]))  # non-overlapping
    assert max(np.diff(starts)) - min(np.diff(starts)) <= 1  # evenly spaced


def test_val_windows_when_short(ds, cache_dir):
    big = len(ds.val) // 3
    assert len(ds.validation_windows(big)) == 3  # fewer than val_windows fit
    with pytest.raises(InputError) as e:
        ds.val_batches(len(ds.val) + 1, 4)
    assert e.value.file == "stdlib" and e.value.fix
    with pytest.raises(InputError):
        ds.batch(0, 0, 1, len(ds.train) + 1)


def test_window_bytes(ds, bpe_ds):
    for d in (ds, bpe_ds):
        wb = d.window_bytes(d.batch(0, 0, B, W))
        assert wb.shape == (B, W)
        assert d.window_bytes(np.asarray(d.val)).sum() == d.meta["n_bytes"]["val"]
        assert d.window_bytes(np.asarray(d.train)).sum() == d.meta["n_bytes"]["train"]
        assert d.window_bytes(np.array([d.tokenizer.eos_id, d.tokenizer.sentinel_ids[0]])
                              ).sum() == 0
    x = bpe_ds.val_batches(W, 4)[0]
    for row, lens in zip(x, bpe_ds.window_bytes(x)):
        text = bpe_ds.tokenizer.decode(row)
        if "\ufffd" not in text:  # windows may cut a UTF-8 character at either end
            assert lens.sum() == len(text.encode("utf-8"))
