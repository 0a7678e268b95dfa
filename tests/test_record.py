"""The run record: one place for N, D, FLOPs and run ids; summary.json written and read once."""
import json
import subprocess
import sys

import pytest
from conftest import ROOT, tiny_run

from runstore import InputError, RunSummary, read_summary, write_summary
from scaling.configio import from_dict
from scaling.train.config import RunConfig
from scaling.train.record import resolve_run

VOCAB = 4 + 8 + 256


def record(**over):
    return resolve_run(from_dict(RunConfig, tiny_run(**over)), VOCAB)


def test_counts_follow_from_steps_batch_and_streams():
    r = record(**{"train.steps": 0, "train.tokens": 10_000})
    assert r.steps == 10_000 // (8 * 32) == 39
    assert r.tokens == r.tokens_at(39) == 39 * 8 * 32
    assert r.flops == 39 * 8 * r.model.flops_per_token() * 32
    assert r.flops_6nd == 6.0 * r.n_total * r.tokens
    assert r.n_total > r.n_nonembedding > 0


def test_span_counts_raw_tokens_in_d_and_the_model_flops_per_token():
    r = record(objective="span")
    assert r.tokens_per_example > r.encoder_per_example  # raw tokens before corruption
    s = r.summary(r.steps, status="done")
    assert s.flops_per_token == r.model.flops_per_token()  # the one FLOPs function's number
    assert s.flops_per_d_token == pytest.approx(s.flops / s.tokens)
    assert s.tokens_encoder == r.steps * 8 * r.encoder_per_example


def test_run_id_is_readable_and_ignores_trackers():
    a = record()
    b = record(**{"train.trackers": ["jsonl", "tensorboard"]})
    assert a.run_id == b.run_id
    assert a.run_id.startswith(f"clm_n{a.n_total / 1e3:.3g}k_d15.4k_s0_")
    assert record(seed=1).run_id != a.run_id


def test_summary_round_trip_and_schema(tmp_path):
    r = record()
    s = r.summary(r.steps, status="done", final_eval_loss=2.5, tokenizer="byte")
    write_summary(tmp_path, s)
    back = read_summary(tmp_path)
    assert back == s and back.schema == 3
    assert json.loads((tmp_path / "summary.json").read_text())["tokens"] == r.tokens


def test_schema_1_files_still_read(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps(
        {"status": "done", "n_params_total": 10, "tokens": 200, "final_eval_loss": 3.0,
         "some_old_key": 1}))
    s = read_summary(tmp_path)
    assert s.schema == 1 and s.n_params_total == 10 and s.final_eval_loss == 3.0


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"status": "done", "tokens": "many"}',
                                  '{"tokens": 5}'])
def test_damaged_summary_is_one_input_error(tmp_path, text):
    (tmp_path / "summary.json").write_text(text)
    with pytest.raises(InputError) as e:
        read_summary(tmp_path)
    assert str(tmp_path / "summary.json") in str(e.value) and "(fix:" in str(e.value)


def test_missing_summary_is_none(tmp_path):
    assert read_summary(tmp_path) is None
    assert RunSummary(status="done").schema == 3


def test_planning_a_sweep_loads_no_trainer():
    code = ("import sys; from scaling import cli; "
            "rc = cli.main(['sweep', 'sweeps/gpu_chinchilla.yaml', '--dry-run', '--device', "
            "'h100']); print(rc, sorted(m for m in ('orbax', 'optax', 'flax', "
            "'scaling.train.loop', 'scaling.train.checkpoint') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "0 []", out.stderr[-2000:]
