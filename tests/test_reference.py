"""The committed CPU reference experiment: sweep files, results and fits agree.

Every shipped sweep file loads and expands; every point of sweeps/cpu_reference/*.yaml has a
finished run in results/cpu_reference with exactly the config the file gives it (same run id),
no run there is left over from another config, and a refit (approach 2, no bootstrap: fast and
deterministic) reproduces the committed fit files.
"""

import json
import warnings
from pathlib import Path

import pytest

from scaling.sweep.config import load_sweep
from scaling.sweep.grid import expand
from scaling.sweep.runner import vocab_from_config

ROOT = Path(__file__).parents[1]
REF = ROOT / "results" / "cpu_reference"
# lr_check: results/cpu_reference_lr; clm_byte_wsd (cooldown branches): results/cpu_reference_wsd
FILES = sorted(p for p in (ROOT / "sweeps" / "cpu_reference").glob("*.yaml")
               if p.name not in ("lr_check.yaml", "clm_byte_wsd.yaml"))


@pytest.mark.parametrize("path", sorted((ROOT / "sweeps").rglob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_sweep_file_expands(path):
    sweep = load_sweep(path)
    assert expand(sweep, vocab_from_config(sweep), file=str(path))


def test_reference_results_are_the_sweep_files_points():
    expected = {}
    for path in FILES:
        sweep = load_sweep(path)
        points = expand(sweep, vocab_from_config(sweep), file=str(path))
        assert sweep.out_dir.parent == Path("results/cpu_reference")
        for p in points:
            # the recipe of README "Results": one small batch of 4 x 128 tokens (span: 128 encoder
            # tokens from 141 raw ones), >= 1000 steps (a BPE and a span run: 982, 984)
            assert p.run.batch_size == 4 and p.run.model.seq_len == 128
            assert p.run.tokens_per_example == (141 if p.cfg.objective == "span" else 128)
            assert p.run.steps >= 982, (path.name, p.run_id)
            expected[p.run_id] = (sweep.out_dir.name, p)
    found = {d.name: d for d in REF.glob("*/runs/*") if d.is_dir()}
    assert set(found) == set(expected), "results/cpu_reference differs from its sweep files"
    for run_id, (folder, p) in expected.items():
        d = found[run_id]
        assert d.parent.parent.name == folder
        s = json.loads((d / "summary.json").read_text())
        assert s["status"] == "done" and s["tokens"] == p.run.tokens
        assert s["n_params_total"] == p.run.n_total and s["epochs"] < 1.0  # no data repeated


def test_committed_isoflop_fits_reproduce():
    from analysis import approach2, load

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = load(REF)
    groups = runs.groups()
    assert set(groups) == {"clm/byte", "clm/bpe1024", "mlm/byte", "span/byte"}
    for key, group in groups.items():
        obj, tok = key.split("/")
        stored = json.loads((REF / "fits" / f"approach2-{obj}-{tok}.json").read_text())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = approach2.isoflop(group)
        assert fit.a == pytest.approx(stored["a"], rel=1e-9)
        assert [m["n_opt"] for m in stored["minima"]] == pytest.approx(list(fit.n_opt), rel=1e-9)


def test_committed_approach3_intervals_are_bc_intervals_of_their_draws():
    """The fit files' approach-3 intervals are what fit_parametric's default (pairs, BC) gives
    for their stored draws and point estimates (scripts/reinterval_approach3.py wrote them)."""
    import numpy as np

    from analysis.laws import ParametricLaw
    from analysis.parametric import law_with_intervals

    files = sorted(ROOT.glob("results/cpu_reference*/fits/approach3-*.json"))
    assert len(files) == 10
    for path in files:
        d = json.loads(path.read_text())
        draws = np.array([[np.nan if v is None else v for v in r] for r in d["law"]["samples"]])
        law = ParametricLaw.from_dict({**d["law"], "samples": None})
        _, iv = law_with_intervals(law, draws, d["level"], "runs", "bc")
        assert iv["interval_method"] == "bc" and iv["n_resamples_failed"] == 0
        assert {k: iv[k] for k in ("a", "alpha", "beta", "E")} == {
            k: d["intervals"][k] for k in ("a", "alpha", "beta", "E")}, path.name
