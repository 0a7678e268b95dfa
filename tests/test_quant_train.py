"""Training with model.quant: a quantised run (learned scales included) resumes after SIGKILL
bit for bit, as every run does. That fewer bits cost loss in order is pinned on the committed
CPU precision experiment (tests/test_reference_precision.py): a tiny model trained for a few
steps cannot tell 4 bits from none."""
import json

import pytest
from conftest import run_cli, tiny_run, write_config
from test_resume import losses, train_then_kill


def _final(run_dir):
    return json.loads((run_dir / "summary.json").read_text())["final_eval_loss"]


@pytest.mark.slow
def test_quantised_run_resumes_bit_identically_after_sigkill(tmp_path):
    cfg = tiny_run(**{"train.steps": 80, "train.checkpoint_every": 20, "train.log_every": 1})
    cfg["model"]["quant"] = {"weights": 4, "activations": 8, "learned_scales": True}
    path = write_config(tmp_path / "run.yaml", cfg)
    run_cli("train", path, "--out", tmp_path / "ref", "--quiet", check=True)
    out = tmp_path / "killed"
    assert train_then_kill(path, out, 50)  # after the 40-step checkpoint
    run_cli("train", path, "--out", out, "--quiet", check=True)
    assert losses(out) == losses(tmp_path / "ref")
    assert _final(out) == _final(tmp_path / "ref")
