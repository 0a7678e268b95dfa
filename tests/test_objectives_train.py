"""Masked LM and span corruption end to end: the loss falls, D and the streams are counted as
docs/design.md says, a SIGKILLed run resumes bit for bit, and the sample configs plan."""
import json
import math

import pytest
from conftest import ROOT, tiny_run, write_config
from test_resume import losses, train_then_kill

from runstore import InputError
from scaling.configio import from_dict
from scaling.train.config import RunConfig, load_run_config
from scaling.train.loop import train
from scaling.train.record import resolve_run


def eval_curve(run_dir):
    rows = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["eval_loss"]) for r in rows if "eval_loss" in r]


@pytest.mark.parametrize("objective", ["mlm", "span"])
def test_loss_falls_and_tokens_counted(tmp_path, objective):
    """60 steps on the 16-letter Markov text, with an lr low enough that the first eval (step 20)
    is still far from the letters' unigram entropy (~log 16), which the last one nears. Longer
    MLM runs of tiny encoders then sit on that plateau for a few hundred steps before they learn
    to attend to the neighbours (CLM gets the bigram free through the residual stream; MLM's
    input at a masked position is MASK), so a short test asks for no more."""
    cfg = from_dict(RunConfig, tiny_run(objective=objective, **{
        "train.steps": 60, "optim.lr": 2e-3, "train.eval_every": 20,
        "train.checkpoint_every": 60}))
    s = train(cfg, tmp_path / "run", progress=False)
    assert s.status == "done" and s.objective == objective
    ev = eval_curve(tmp_path / "run")
    assert [k for k, _ in ev] == [20, 40, 60]
    assert ev[0][1] > ev[1][1] > ev[2][1] and ev[2][1] < ev[0][1] - 0.5, ev
    assert ev[2][1] < math.log(s.model["vocab_size"]) - 2.0, ev
    assert s.final_eval_loss == ev[-1][1]
    assert s.final_eval_bpb is not None and math.isfinite(s.final_eval_bpb)
    ex = 60 * 8
    if objective == "mlm":  # seq_len 32: every raw token the encoder reads counts in D
        assert s.model["arch"] == "encoder"
        assert (s.tokens, s.tokens_encoder, s.tokens_decoder) == (ex * 32, ex * 32, 0)
    else:  # encoder 32 <- T = 34 raw tokens, n = 5 noise in s = 2 spans, targets 8
        assert s.model["arch"] == "encoder_decoder" and s.model["dec_seq_len"] == 8
        assert (s.tokens, s.tokens_encoder, s.tokens_decoder) == (ex * 34, ex * 32, ex * 8)
    assert s.flops_6nd == 6 * s.n_params_total * s.tokens


def test_span_refuses_too_few_sentinels(tmp_path):
    """Encoder 128 needs 7 spans and the tokenizer has 4 sentinels: a InputError naming
    data.n_sentinels, before any step is taken (at plan time once `objective_for` passes
    data.n_sentinels to SpanCorruption; at the first trace of the step otherwise)."""
    cfg = from_dict(RunConfig, tiny_run(objective="span", **{"model.seq_len": 128,
                                                             "data.n_sentinels": 4}))
    with pytest.raises(InputError, match="data.n_sentinels"):
        train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "checkpoints").exists() or \
        not any((tmp_path / "run" / "checkpoints").iterdir())


@pytest.mark.parametrize("name,objective,arch", [("sample_mlm", "mlm", "encoder"),
                                                 ("sample_span", "span", "encoder_decoder")])
def test_sample_configs_plan(name, objective, arch):
    cfg = load_run_config(str(ROOT / "configs" / f"{name}.yaml"))
    assert cfg.name == name and cfg.objective == objective
    plan = resolve_run(cfg, 4 + cfg.data.n_sentinels + 256)
    assert plan.model.arch == arch
    assert 0.7e6 < plan.n_total < 1.5e6  # about 1M parameters
    assert plan.steps * cfg.train.batch_size * plan.tokens_per_example <= cfg.train.tokens


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["mlm", pytest.param("span", marks=pytest.mark.long)])
def test_sigkill_then_resume_is_bit_identical(tmp_path, objective):
    """As tests/test_resume.py for clm: a `scaling train` process SIGKILLed after the step-20
    checkpoint, mid-interval, then resumed, ends with the curves and final loss of an
    uninterrupted run (the masks are keyed by the step). The reference and the resumed run are
    trained in-process to save two interpreter starts."""
    raw = tiny_run(objective=objective, **{"train.steps": 60, "train.checkpoint_every": 20,
                                           "train.log_every": 1})
    cfg = from_dict(RunConfig, raw)
    path = write_config(tmp_path / "run.yaml", raw)
    ref = train(cfg, tmp_path / "ref", progress=False)

    out = tmp_path / "killed"
    assert train_then_kill(path, out, 30)
    assert (out / "checkpoints").exists()
    resumed = train(cfg, out, progress=False)
    assert losses(out) == losses(tmp_path / "ref")
    assert resumed.final_eval_loss == ref.final_eval_loss and resumed.status == "done"
