"""runstore: the one JSON reader's policy, units, the allocation formula, the layout, writes."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import runstore
from runstore import (
    InputError,
    RunDir,
    SweepDir,
    atomic_write_json,
    chinchilla_allocation,
    finite_float,
    finite_number,
    flops_6nd,
    read_json,
    read_metrics,
    read_summary,
    tokens_for_flops,
)


def test_read_json_policy(tmp_path):
    p = tmp_path / "x.json"
    assert read_json(p, default=None) is None
    with pytest.raises(InputError, match="x.json not found"):
        read_json(p)
    p.write_text("{bad")
    with pytest.raises(InputError, match="corrupt x.json") as e:
        read_json(p, default=None, fix="rerun")
    assert e.value.file == str(p) and "fix: rerun" in str(e.value)
    p.write_bytes(b"\xff\xfe{}")
    with pytest.raises(InputError, match="unreadable x.json"):
        read_json(p, default=None)
    atomic_write_json(p, {"b": 1, "a": [1.5]})
    assert read_json(p) == {"a": [1.5], "b": 1}
    assert p.read_text() == '{\n  "a": [\n    1.5\n  ],\n  "b": 1\n}\n'


def test_atomic_write_refuses_nan_and_leaves_nothing(tmp_path):
    p = tmp_path / "s.json"
    with pytest.raises(ValueError):
        atomic_write_json(p, {"x": float("nan")})
    assert list(tmp_path.iterdir()) == []


def test_chinchilla_allocation_matches_hoffmann_and_the_budget():
    # Hoffmann et al.'s approach-3 constants (E, A, B, alpha, beta); the allocation must be the
    # minimum of L(N, C / 6N) along the IsoFLOP line, found here by brute force
    E, A, B, al, be = 1.69, 406.4, 410.7, 0.34, 0.28
    n, d = chinchilla_allocation(E, A, B, al, be, 1e24)
    assert flops_6nd(n, d) == pytest.approx(1e24)
    grid = np.logspace(9, 13, 400_001)
    loss = E + A / grid**al + B / tokens_for_flops(1e24, grid) ** be
    assert np.log10(n) == pytest.approx(np.log10(grid[np.argmin(loss)]), abs=1e-4)
    # exponents: N_opt grows as C^(beta/(alpha+beta))
    n2, _ = chinchilla_allocation(1.69, 406.4, 410.7, 0.34, 0.28, 1e25)
    assert np.log10(n2 / n) == pytest.approx(0.28 / 0.62)
    # broadcasts over bootstrap draws
    s = np.array([[1.69, 406.4, 410.7, 0.34, 0.28]] * 3)
    ns, ds = chinchilla_allocation(*s.T, 1e24)
    assert ns.shape == (3,) and ns[0] == n and tokens_for_flops(1e24, ns[0]) == ds[0]


def test_finite_helpers():
    assert finite_number(3) == 3 and finite_number(2.5) == 2.5
    for bad in (True, float("nan"), float("inf"), "3", None, [1]):
        assert finite_number(bad) is None
    assert finite_float(np.float32(1.5)) == 1.5 and finite_float("x") is None
    assert finite_float(np.inf) is None and finite_float(False) is None


def test_layout_names(tmp_path):
    s = SweepDir(tmp_path)
    r = s.run("clm-1M-x")
    assert isinstance(r, RunDir) and r.path == tmp_path / "runs" / "clm-1M-x"
    assert (r.config.name, r.summary.name, r.metrics.name) == (
        "config.json", "summary.json", "metrics.jsonl")
    assert s.points == tmp_path / "points.json" and os.fspath(r) == str(r.path)


def test_read_metrics_skips_damage(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n{"step": "x"}\n{"step": 2, "a": 1}\n{"ha')
    with pytest.warns(UserWarning, match="half-written"):
        rows = read_metrics(tmp_path)
    assert [r["step"] for r in rows] == [1, 2]
    assert read_summary(tmp_path) is None
    (tmp_path / "summary.json").write_text(json.dumps({"status": 3}))
    with pytest.raises(InputError, match="status"):
        read_summary(tmp_path)


def test_runstore_imports_only_the_standard_library_and_yaml():
    code = ("import sys, runstore, runstore.claims, runstore.layout; "
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('scaling', 'analysis', 'numpy', 'jax', 'flax', 'optax', 'orbax', 'yaml')]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert set(runstore.__all__) <= set(dir(runstore))


def test_yaml_alias_bomb_and_deep_nesting_are_one_line(tmp_path):
    """A 700-byte "billion laughs" and 5,000-deep nesting: refused at once, never expanded."""
    import time

    from runstore import load_yaml_text
    rows = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    rows += [f"{k}: &{k} [{','.join(['*' + p] * 9)}]" for p, k in zip("abcdefgh", "bcdefghi")]
    bomb = "\n".join(rows) + "\n"
    assert len(bomb) < 800
    t0 = time.perf_counter()
    with pytest.raises(InputError, match="aliases expand to more than"):
        load_yaml_text(bomb, "bomb.yaml")
    with pytest.raises(InputError, match="nested deeper than 64 levels") as e:
        load_yaml_text("[" * 5000 + "]" * 5000, "deep.yaml")
    assert str(e.value).startswith("deep.yaml:1:")
    assert time.perf_counter() - t0 < 5
    # a shared anchor used a few times is fine
    assert load_yaml_text("a: &x {lr: 1}\nb: *x\nc: *x\n") == {"a": {"lr": 1}, "b": {"lr": 1},
                                                                "c": {"lr": 1}}


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    """SIGKILL between mkstemp and the rename leaves `.NAME.XXXX.tmp.json` beside the file: the
    next write of that file removes it once it is old enough to be nobody's."""
    import os
    import time

    from runstore import atomic_write_json
    from runstore.files import ORPHAN_AGE_S
    old = tmp_path / ".approach2-clm.abc123.tmp.json"
    young = tmp_path / ".approach2-clm.def456.tmp.json"
    other = tmp_path / ".approach3-clm.abc123.tmp.json"
    for p in (old, young, other):
        p.write_text("{")
    past = time.time() - ORPHAN_AGE_S - 5
    os.utime(old, (past, past))
    os.utime(other, (past, past))
    atomic_write_json(tmp_path / "approach2-clm.json", {"a": 1})
    assert not old.exists() and young.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "approach2-clm.json"]
