"""Hostile inputs and faults: every bad input is exit 2, one `error:` line naming the
file and the key, no traceback, and nothing written (a hash of every file before and after).

Most cases need no training: validation comes first. Commands run in-process (scaling.cli.main)
so the suite stays fast; the few that train use tiny synthetic runs.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import warnings
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, tiny_run, write_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runstore import InputError, load_yaml_text
from scaling.cli import main
from scaling.train.config import load_run_config

REF = ROOT / "results" / "cpu_reference" / "clm_byte"


def tree(root: Path) -> dict[str, str]:
    """sha256 of every file under `root` (and every folder, as ''): the state to compare."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for d in dirs:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = ""
        for f in files:
            p = Path(dirpath, f)
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def cli(capsys, *argv) -> tuple[int, str]:
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def refused(rc: int, err: str, *names: str) -> str:
    """Exit 2, no traceback, exactly one `error:` line, which names each of `names`."""
    assert rc == 2, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    for n in names:
        assert n in lines[0], (n, lines[0])
    return lines[0]


# ---- run configs: the YAML loader, types, ranges (no training) --------------------------------

BASE = yaml.safe_dump(tiny_run())


@pytest.mark.parametrize("text,key,where", [
    (BASE + "seed: 1\n", "", f":{BASE.count(chr(10)) + 1}:1"),      # duplicate key: FILE:LINE:COL
    (BASE.replace("lr: 0.01", "lr: .inf"), "", ":"),                 # non-finite number
    (BASE.replace("lr: 0.01", "lr: .nan"), "", ":"),
    (BASE.replace("name: tiny", "name: 2024-01-01"), "", ":"),       # a date
    (BASE.replace("name: tiny", "name: !!binary aGVsbG8="), "", ":"),
    (BASE.replace("name: tiny", "name: !!set {a, b}"), "", ":"),
    (BASE.replace("name: tiny", "name: !!python/object/apply:os.system ['echo pwned']"), "", ":"),
    ("model: {d_model: 64\n", "", ":"),                              # broken YAML
    ("", "", ""),                                                    # empty file
    ("- a\n- b\n", "", ""),                                          # not a mapping
    (BASE.replace("steps: 60", "tokens: 1.0e+30"), "train.tokens", ""),
    (BASE.replace("steps: 60", "steps: 1000000000000000000000000000000"), "train.steps", ""),
    (BASE.replace("lr: 0.01", "lr: 1.0e+400"), "", ":"),
    (BASE.replace("lr: 0.01", "lr: 0.01\n  b1: 1.5"), "optim.b1", ""),
    (BASE.replace("lr: 0.01", "lr: 0.01\n  b2: 1.0"), "optim.b2", ""),
    (BASE.replace("lr: 0.01", "lr: 0.01\n  eps: -1.0e-8"), "optim.eps", ""),
    (BASE.replace("lr: 0.01", "lr: 0.01\n  eps: 0"), "optim.eps", ""),
    (BASE.replace("seed: 0", "seed: -1"), "seed", ""),
    (BASE.replace("seed: 0", "seed: 4294967296"), "seed", ""),
    (BASE.replace("batch_size: 8\n", "batch_size: 1.0e+12\n", 1), "train.batch_size", ""),
    (BASE.replace("d_model: 32", "d_model: 32\n  init_std: 0"), "model.init_std", ""),
    (BASE.replace("lr: 0.01", "lrr: 0.01"), "optim.lrr", ""),
])
def test_bad_run_config_is_one_line_and_writes_nothing(tmp_path, capsys, text, key, where):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    rc, err = cli(capsys, "train", path, "--out", tmp_path / "out", "--quiet")
    line = refused(rc, err, str(path) + where, *([f"key '{key}'"] if key else []))
    assert not (tmp_path / "out").exists(), line


@pytest.mark.parametrize("override,key", [
    ("optim.lr=[1", "optim.lr"), ("seed=-1", "seed"), ("optim.lr=.inf", ""),
    ("name=2024-01-01", ""), ("optim.b1=1", "optim.b1"), ("train.tokens=4.5", "train.tokens"),
])
def test_bad_set_is_one_line(tmp_path, capsys, override, key):
    path = write_config(tmp_path / "run.yaml", tiny_run())
    rc, err = cli(capsys, "train", path, "--set", override, "--out", tmp_path / "out")
    refused(rc, err, *([key] if key else ["--set"]))
    assert not (tmp_path / "out").exists()


def test_scientific_integers_are_accepted(tmp_path):
    path = write_config(tmp_path / "run.yaml", tiny_run(**{"train.steps": 0}))
    cfg = load_run_config(str(path), ["train.tokens=4e6", "train.batch_size=1.6e1"])
    assert (cfg.train.tokens, cfg.train.batch_size) == (4_000_000, 16)


def test_a_folder_or_a_non_utf8_file_as_config(tmp_path, capsys):
    rc, err = cli(capsys, "train", tmp_path, "--out", tmp_path / "out")
    assert "is a folder" in refused(rc, err, str(tmp_path))
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: caf\xe9\n".encode("latin-1"))
    rc, err = cli(capsys, "train", bad, "--out", tmp_path / "out")
    assert "UTF-8" in refused(rc, err, str(bad))
    assert not (tmp_path / "out").exists()


def test_sweep_file_duplicate_key_and_device(tmp_path, capsys):
    text = (ROOT / "sweeps" / "quickstart.yaml").read_text()
    dup = tmp_path / "dup.yaml"
    dup.write_text(text + "\nseeds: [1]\n")
    rc, err = cli(capsys, "sweep", dup, "--dry-run")
    assert "duplicate key 'seeds'" in refused(rc, err, f"{dup}:")
    rc, err = cli(capsys, "sweep", ROOT / "sweeps" / "quickstart.yaml", "--device", "potato")
    line = refused(rc, err, "--device", "potato")
    assert "--gpu" not in line


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=60))
def test_yaml_loader_raises_only_input_errors(text):
    try:
        load_yaml_text(text, "f.yaml")
    except InputError as e:
        assert str(e).startswith("f.yaml")


_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.text(max_size=3), st.integers()))
_KEYS = ["seed", "optim.lr", "optim.b1", "optim.b2", "optim.eps", "train.tokens",
         "train.batch_size", "model.d_model", "model.init_std", "data.val_fraction", "name",
         "mlm.select_rate", "data.synthetic_bytes"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(st.sampled_from(_KEYS), _VALUES)
def test_any_value_is_valid_or_a_config_error(tmp_path, key, value):
    """Whatever value a key gets, the config loads or refuses with an error naming the key:
    never another exception (the tracebacks once reported: inf, huge ints, wrong types)."""
    cfg = tiny_run(**({"train.steps": 0} if key == "train.tokens" else {}), **{key: value})
    p = tmp_path / "h.yaml"
    p.write_text(json.dumps(cfg, allow_nan=True).replace("NaN", ".nan")
                 .replace("-Infinity", "-.inf").replace("Infinity", ".inf"))
    try:
        load_run_config(str(p))
    except InputError as e:
        assert str(p) in str(e)


# ---- run folders: never adopt, validate first, lock (tiny training) --------------------------

@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, Path]:
    """A finished tiny run (config file, run folder)."""
    root = tmp_path_factory.mktemp("finished")
    path = write_config(root / "run.yaml", tiny_run(**{"train.steps": 10, "train.log_every": 5,
                                                       "train.checkpoint_every": 5}))
    assert main(["train", str(path), "--out", str(root / "run"), "--quiet"]) == 0
    return path, root / "run"


@pytest.mark.parametrize("damage", ["missing", "corrupt", "list", "binary"])
def test_finished_run_without_readable_config_is_never_adopted(tmp_path, capsys, finished_run,
                                                               damage):
    _, src = finished_run
    run = tmp_path / "run"
    shutil.copytree(src, run)
    p = run / "config.json"
    if damage == "missing":
        p.unlink()
    else:
        p.write_bytes({"corrupt": b'{"name": ', "list": b"[1, 2]",
                       "binary": os.urandom(64)}[damage])
    before = tree(run)
    other = write_config(tmp_path / "other.yaml", tiny_run(**{"model.d_model": 64,
                                                              "train.steps": 10}))
    rc, err = cli(capsys, "train", other, "--out", run, "--quiet")
    refused(rc, err, str(p))
    assert tree(run) == before


def test_finished_run_with_damaged_summary_is_refused(tmp_path, capsys, finished_run):
    path, src = finished_run
    run = tmp_path / "run"
    shutil.copytree(src, run)
    (run / "summary.json").write_text("[1, 2]")
    before = tree(run)
    rc, err = cli(capsys, "train", path, "--out", run, "--quiet")
    refused(rc, err, str(run / "summary.json"))
    assert tree(run) == before


def test_late_errors_are_found_before_writing(tmp_path, capsys):
    out = tmp_path / "out"
    short = write_config(tmp_path / "short.yaml", tiny_run(**{"data.synthetic_bytes": 300,
                                                              "model.seq_len": 512}))
    refused(*cli(capsys, "train", short, "--out", out, "--quiet"), "data.source")
    missing = write_config(tmp_path / "init.yaml", tiny_run(**{
        "train.init_from": str(tmp_path / "nope")}))
    refused(*cli(capsys, "train", missing, "--out", out, "--quiet"), "train.init_from")
    assert not (tmp_path / "nope").exists() and not out.exists()
    (tmp_path / "empty").mkdir()
    empty = write_config(tmp_path / "init2.yaml", tiny_run(**{
        "train.init_from": str(tmp_path / "empty")}))
    refused(*cli(capsys, "train", empty, "--out", out, "--quiet"), "train.init_from")
    assert not out.exists() and not os.listdir(tmp_path / "empty")


def test_impossible_out(tmp_path, capsys):
    cfg = write_config(tmp_path / "run.yaml", tiny_run())
    (tmp_path / "file").write_text("x")
    refused(*cli(capsys, "train", cfg, "--out", tmp_path / "file", "--quiet"), "is a file")
    refused(*cli(capsys, "train", cfg, "--out", tmp_path / "file" / "sub", "--quiet"),
            str(tmp_path / "file"))
    assert (tmp_path / "file").read_text() == "x"
    if os.geteuid() != 0:  # root may write anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        refused(*cli(capsys, "train", cfg, "--out", ro / "run", "--quiet"), "permission")


def test_a_run_folder_being_trained_is_locked(tmp_path, capsys, finished_run):
    """A live claim (here the parent process's, which is alive on this host) refuses a second
    `scaling train`; a claim whose process is gone is taken over (a rerun after SIGKILL)."""
    path, _ = finished_run
    run = tmp_path / "run"
    run.mkdir()
    held = {"pid": os.getppid(), "host": socket.gethostname(), "worker": "other"}
    (run / "claim.0").write_text(json.dumps(held))
    before = tree(run)
    line = refused(*cli(capsys, "train", path, "--out", run, "--quiet"), str(run))
    assert "another process" in line and tree(run) == before

    from runstore.claims import hold_run_dir
    dead = dict(held, pid=2**22 + 12345)  # above pid_max's default: no such process
    (run / "claim.0").write_text(json.dumps(dead))
    with hold_run_dir(run):
        assert json.loads((run / "claim.1").read_text())["pid"] == os.getpid()
    assert not any(n.startswith("claim.") for n in os.listdir(run))


def test_corrupt_latest_checkpoint_falls_back_to_the_previous(tmp_path, capsys):
    path = write_config(tmp_path / "run.yaml", tiny_run(**{"train.log_every": 5}))
    assert main(["train", str(path), "--out", str(tmp_path / "ref"), "--quiet"]) == 0
    from scaling.configio import from_dict
    from scaling.train.config import RunConfig
    from scaling.train.loop import train
    cut = tmp_path / "cut"
    train(from_dict(RunConfig, tiny_run(**{"train.log_every": 5})), cut, progress=False,
          stop_after_step=40)
    assert sorted(os.listdir(cut / "checkpoints")) == ["20", "40"]
    for p in (cut / "checkpoints" / "40").rglob("*"):
        if p.is_file() and p.parent.name == "d":  # the array data
            p.write_bytes(b"\0damaged" * 8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["train", str(path), "--out", str(cut), "--quiet"]) == 0
    said = [str(w.message) for w in caught if "checkpoint unreadable" in str(w.message)]
    assert said and "checkpoints/40" in said[0] and (cut / "checkpoints-unreadable/40").is_dir()

    def curve(d):
        return [(r["step"], r["train_loss"], r.get("eval_loss"))
                for r in map(json.loads, (d / "metrics.jsonl").read_text().splitlines())]
    assert curve(cut) == curve(tmp_path / "ref")


# ---- damaged results: status reports, sweep refuses -------------------------------------------

def _damaged_copy(tmp_path: Path, what: str) -> Path:
    root = tmp_path / "res"
    shutil.copytree(REF, root)
    run = sorted((root / "runs").iterdir())[0]
    target, data = {"summary_list": (run / "summary.json", b"[1, 2]"),
                    "summary_binary": (run / "summary.json", os.urandom(300)),
                    "points": (root / "points.json", b'{"a": '),
                    "points_type": (root / "points.json", b'[1, 2]'),
                    "sweep": (root / "sweep.yaml", b"claims: [1\n"),
                    "metrics": (run / "metrics.jsonl", os.urandom(3000) + b'\n{"step": "x"}\n'),
                    }[what]
    target.write_bytes(data)
    return root


@pytest.mark.parametrize("what", ["summary_list", "summary_binary", "points", "points_type",
                                  "sweep", "metrics"])
def test_status_on_damaged_results_reports_and_goes_on(tmp_path, capsys, what):
    root = _damaged_copy(tmp_path, what)
    before = tree(root)
    rc = main(["status", str(root)])
    out, err = capsys.readouterr()
    assert rc == 0 and "Traceback" not in err, err
    assert f"{len(list((root / 'runs').iterdir()))} points" in out
    if what != "metrics":  # a damaged metrics line is skipped (read_jsonl's rule)
        assert err.count("warning:") >= 1 and str(root) in err
    assert tree(root) == before


def test_sweep_over_a_done_run_with_corrupt_summary_is_refused(tmp_path, capsys):
    root = _damaged_copy(tmp_path, "summary_binary")
    before = tree(root)
    rc, err = cli(capsys, "sweep", ROOT / "sweeps" / "cpu_reference" / "clm_byte.yaml",
                  "--out", root, "--quiet")
    refused(rc, err, "summary.json", str(root))
    assert tree(root) == before


def test_unexpected_error_keeps_traceback_and_asks_for_a_report(tmp_path, capsys, monkeypatch):
    import scaling.train.config as tc

    def boom(*a, **k):
        raise RuntimeError("internal")
    monkeypatch.setattr(tc, "load_run_config", boom)
    rc, err = cli(capsys, "train", tmp_path / "x.yaml")
    assert rc == 1 and "Traceback" in err and "RuntimeError: internal" in err
    assert "please report" in err.splitlines()[-1]
