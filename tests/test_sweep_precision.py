"""grid.precision: precision crossed with N and D as one more grid axis (run ids, trunks, the
dry run and the status), and the sweep's `ptq:` pass over its finished full-precision points."""
import json

import pytest
from conftest import run_cli
from test_sweep_config import err, tiny_sweep
from test_sweep_runner import summaries, write

from scaling.model.quant_config import QuantConfig
from scaling.sweep import grid
from scaling.sweep.config import sweep_from_dict

VOCAB = 4 + 8 + 256
PRECISION = {"grid.precision": ["none", "w4", "w3-lsq"]}


def test_precision_multiplies_the_grid_and_keeps_the_full_precision_ids():
    plain = grid.expand(sweep_from_dict(tiny_sweep()), VOCAB)
    pts = grid.expand(sweep_from_dict(tiny_sweep(**PRECISION)), VOCAB)
    assert len(pts) == 3 * len(plain) == 12
    assert [p.precision for p in pts] == ["none"] * 4 + ["w4"] * 4 + ["w3-lsq"] * 4
    # the 'none' points are the plain sweep's points, ids and records byte for byte
    assert [p.run_id for p in pts[:4]] == [p.run_id for p in plain]
    assert [p.to_dict() for p in plain] == [dict(p.to_dict(), index=p.index) for p in pts[:4]]
    assert "precision" not in plain[0].to_dict() and "precision" not in pts[0].to_dict()
    assert pts[4].run.model.quant == QuantConfig(weights=4)
    assert pts[8].run.model.quant == QuantConfig(weights=3, learned_scales=True)
    assert pts[8].to_dict()["precision"] == "w3-lsq"
    assert len({p.run_id for p in pts}) == 12
    # the N of a quantised point is its full-precision twin's (the scales are not parameters N)
    assert [p.run.n_total for p in pts[4:8]] == [p.run.n_total for p in plain]


def test_each_precision_gets_its_own_trunks():
    pts = grid.expand(sweep_from_dict(tiny_sweep(**PRECISION, **{
        "recipe.schedule": "wsd_branch", "recipe.cooldown_frac": 0.25,
        "grid.tokens": [5120, 10240]})), VOCAB)
    trunks = [p for p in pts if p.role == "trunk"]
    assert len(trunks) == 2 * 3  # (size, precision)
    for b in (p for p in pts if p.role == "branch"):
        trunk = next(t for t in trunks if t.run_id == b.trunk_id)
        assert trunk.run.model.quant == b.run.model.quant and trunk.run.n_total == b.run.n_total


def test_bad_precision_entries_are_refused_with_their_key():
    assert "grid.precision[1]" in str(err(tiny_sweep(**{"grid.precision": ["none", "w9"]})))
    assert "grid.precision[0]" in str(err(tiny_sweep(**{"grid.precision": ["int4"]})))
    e = err(tiny_sweep(**{"grid.precision": ["w4", "w4a0"]}))
    assert "grid.precision" in str(e)
    e = err(tiny_sweep(**{"grid.precision": ["none", "w4"], "base.model.quant": {"weights": 8}}))
    assert "base.model.quant" in str(e) and "grid.precision" in str(e) and "w8" in str(e)
    assert "ptq[1]" in str(err(tiny_sweep(ptq=[8, 1])))
    assert "ptq" in str(err(tiny_sweep(ptq=[4, 4])))


def test_a_sweep_without_the_new_keys_writes_the_sweep_yaml_it_always_did():
    resolved = sweep_from_dict(tiny_sweep()).resolved()
    assert "precision" not in resolved["grid"] and "ptq" not in resolved
    with_p = sweep_from_dict(tiny_sweep(ptq=[8], **PRECISION)).resolved()
    assert with_p["grid"]["precision"] == ["none", "w4", "w3-lsq"] and with_p["ptq"] == [8]


def test_stored_weights_count_quantised_layers_at_their_bits():
    from scaling.budget.memory import stored_weight_bytes
    from scaling.model.config import ModelConfig

    m = ModelConfig(d_model=64, n_layers=2, n_heads=4, seq_len=32, vocab_size=268)
    n, n_emb = m.n_params_total(), m.n_params_total() - m.n_params_nonembedding()
    assert stored_weight_bytes(m) == 4 * n
    assert stored_weight_bytes(m.replace(dtype="bfloat16")) == 2 * n
    assert stored_weight_bytes(m.replace(quant=QuantConfig(weights=4))) == (n - n_emb) * 0.5 \
        + n_emb * 4
    assert stored_weight_bytes(m.replace(quant=QuantConfig(weights=3, embeddings=True))) == \
        round(n * 3 / 8)
    assert stored_weight_bytes(m.replace(quant=QuantConfig(activations=8))) == 4 * n


def test_dry_run_shows_precision_and_stored_weights(tmp_path):
    path = write(tmp_path / "s.yaml", tmp_path / "out", **PRECISION)
    out = run_cli("sweep", path, "--dry-run", check=True).stdout
    rows = [line.split() for line in out.splitlines() if line[:3].strip().isdigit()]
    assert [r[2] for r in rows] == ["none"] * 4 + ["w4"] * 4 + ["w3-lsq"] * 4
    (full, unit), (w4, unit4) = rows[2][3:5], rows[6][3:5]
    assert unit == unit4 and float(w4) < float(full)
    assert "full-precision one" in out
    plain = run_cli("sweep", write(tmp_path / "p.yaml", tmp_path / "o2"), "--dry-run",
                    check=True).stdout
    assert " prec " not in plain and "fake-quant" not in plain


@pytest.mark.slow
def test_sweep_ptq_pass_adds_losses_once_and_status_shows_precision(tmp_path):
    out = tmp_path / "out"
    over = {"grid.params": [8000], "grid.tokens": [5120], "grid.precision": ["none", "w4"],
            "ptq": [8, 4]}
    path = write(tmp_path / "s.yaml", out, **over)
    run_cli("sweep", path, "--quiet", timeout=600, check=True)
    runs = summaries(out)
    assert len(runs) == 2
    by_q = {bool(s["model"].get("quant")): s for s in runs.values()}
    assert [e["bits"] for e in by_q[False]["ptq"]] == [8, 4]
    assert by_q[True]["ptq"] == []  # a QAT run is not post-training quantised again
    assert by_q[False]["ptq"][1]["eval_loss"] > by_q[False]["final_eval_loss"] - 1e-3
    before = {k: json.dumps(v, sort_keys=True) for k, v in summaries(out).items()}
    run_cli("sweep", path, "--quiet", timeout=600, check=True)  # a rerun changes nothing
    assert {k: json.dumps(v, sort_keys=True) for k, v in summaries(out).items()} == before
    status = run_cli("sweep", "status", out, check=True).stdout
    assert " prec " in status and " w4 " in status and " none " in status
