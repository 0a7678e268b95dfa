"""The committed branched sweep (results/cpu_reference_wsd, recipe.schedule: wsd_branch): its
folder holds exactly the trunks and branches of its sweep file, each branch's history is its
trunk's up to the branch step, and a refit reproduces the committed approach-2 fit."""
import json
import warnings
from pathlib import Path

import pytest

from scaling.sweep.config import load_sweep
from scaling.sweep.grid import expand
from scaling.sweep.runner import vocab_from_config

ROOT = Path(__file__).parents[1]
FILE = ROOT / "sweeps" / "cpu_reference" / "clm_byte_wsd.yaml"
OUT = ROOT / "results" / "cpu_reference_wsd"


def rows(run_dir):
    return [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_results_are_the_files_trunks_and_branches():
    sweep = load_sweep(FILE)
    points = expand(sweep, vocab_from_config(sweep), file=str(FILE))
    runs = OUT / "clm_byte" / "runs"
    assert {p.run_id for p in points} == {d.name for d in runs.iterdir()}
    for p in points:
        s = json.loads((runs / p.run_id / "summary.json").read_text())
        assert s["status"] == "done" and s["role"] == p.role
        assert s["steps"] == p.run.end_step and s["n_params_total"] == p.run.n_total
        if p.role == "branch":
            at = p.cfg.train.branch_step
            mine = [(r["step"], r["train_loss"]) for r in rows(runs / p.run_id)
                    if r["step"] <= at]
            trunk = [(r["step"], r["train_loss"]) for r in rows(runs / p.trunk_id)
                     if r["step"] <= at]
            assert mine == trunk and s["trunk_run_id"] == p.trunk_id
    from scaling.sweep.branching import flops_summary
    assert flops_summary(points)["ratio"] == pytest.approx(0.525, abs=5e-4)


def test_committed_fit_reproduces():
    from analysis import approach2, load
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = load(OUT)
        fit = approach2.isoflop(runs)
    stored = json.loads((OUT / "fits" / "approach2-clm-byte.json").read_text())
    assert len(runs) == 42  # branches only: the 10 trunks are not points
    assert fit.a == pytest.approx(stored["a"], rel=1e-9)
    assert [m["n_opt"] for m in stored["minima"]] == pytest.approx(list(fit.n_opt), rel=1e-9)
