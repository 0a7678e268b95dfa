"""The memory calculator against XLA's compiled memory analysis, on the peers' configs A/B/C
(docs/performance.md), with and without remat and gradient accumulation: within 25% of the
compiled train step's peak. And `--check-memory` prints both columns in the dry run."""
import pytest
from conftest import run_cli

from scaling.budget.memory import training_memory
from scaling.model.config import ModelConfig
from scaling.objectives import Specials, get_objective
from scaling.train import sharding
from scaling.train.config import OptimConfig
from scaling.train.state import build_train_state, compiled_memory

PEERS = {"A": (128, 4, 4, 256, 16), "B": (256, 6, 8, 256, 16), "C": (512, 8, 8, 512, 8)}
VARIANTS = [("none", 1), ("block", 1), ("none", 4), ("dots", 4)]


def xla_and_calculator(name: str, remat: str, k: int) -> tuple[int, int]:
    from scaling.sweep.planner import local_device
    d, L, H, T, B = PEERS[name]
    obj = get_objective("clm")
    model = obj.model_config(ModelConfig(d_model=d, n_layers=L, n_heads=H, seq_len=T,
                                         vocab_size=256, remat=remat))
    sp = Specials(256, 0, 1, 2, 3, 4, 0, 0)
    ts = build_train_state(model, obj, OptimConfig(), 100, sp, 0, microbatches=k)
    mesh = sharding.data_mesh()
    ts.put(mesh)
    xla = compiled_memory(ts, mesh, B, T + 1)["peak"]
    modelled = remat if local_device("float32").remat_saves else "none"  # the planner's rule
    return xla, training_memory(model, B, "float32", microbatches=k, remat=modelled).total


@pytest.mark.slow
# peer C (the largest: over 2 minutes on 2 cores) runs with `pytest -m long` (CI runs it)
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.long) if n == "C" else n
                                  for n in sorted(PEERS)])
def test_calculator_within_25_percent_of_xla(name):
    for remat, k in VARIANTS:
        xla, est = xla_and_calculator(name, remat, k)
        assert abs(est / xla - 1) <= 0.25, (name, remat, k, est, xla)


@pytest.mark.slow
def test_dry_run_prints_both_memory_columns(tmp_path):
    proc = run_cli("sweep", "sweeps/quickstart.yaml", "--dry-run", "--check-memory",
                   "--set", "grid.params=[1.0e4]", check=True)
    out = proc.stdout
    assert "XLA peak" in out and "calculator" in out and "calc/XLA" in out
    rows = [l for l in out.splitlines() if " remat none" in l]
    assert rows and all(0.75 <= float(l.split()[-1]) <= 1.25 for l in rows)
