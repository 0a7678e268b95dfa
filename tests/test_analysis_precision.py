"""The precision laws (analysis/precision.py) recover known constants from synthetic runs drawn
from Kumar et al.'s form with 1% noise."""

from analysis.precision import (
    P_NONE,
    PrecisionLaw,
    PTQLaw,
    fit_ptq,
    fit_training_precision,
    synthetic_precision,
)

#: Chinchilla's constants (Hoffmann et al. 2022) with Kumar-like gamma_w and PTQ exponents
TRUE = PrecisionLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28, gamma_w=2.7)
TRUE_PTQ = PTQLaw(C_T=0.03, gamma_D=0.5, gamma_N=0.4, gamma_post=0.6)


def _data(seed=0):
    return synthetic_precision(TRUE, TRUE_PTQ, sizes=[2e7, 6e7, 2e8, 6e8],
                               tokens=[4e8, 1.6e9, 6.4e9], bits=[2, 3, 4, 6, 8, P_NONE],
                               post_bits=[3, 4, 6], noise=0.01, seed=seed)


def test_training_precision_recovers_gamma_w_within_15_percent():
    s = _data()
    fit = fit_training_precision(s["n"], s["d"], s["loss"], s["bits"], bootstrap=20)
    assert abs(fit.law.gamma_w - TRUE.gamma_w) / TRUE.gamma_w < 0.15, fit.law
    lo, hi = fit.intervals["gamma_w"]
    assert lo <= fit.law.gamma_w <= hi
    assert fit.verdict.status in ("identified", "weak"), fit.verdict.short()


def test_ptq_law_recovers_the_sign_and_size_of_gamma_d():
    s = _data(seed=1)
    fit = fit_ptq(s["ptq_n"], s["ptq_d"], s["ptq_bits"], s["ptq_delta"], bootstrap=20)
    assert fit.law.gamma_D > 0 and abs(fit.law.gamma_D - TRUE_PTQ.gamma_D) / 0.5 < 0.25
    assert abs(fit.law.gamma_N - TRUE_PTQ.gamma_N) / 0.4 < 0.25
    assert fit.verdict.status == "identified", fit.verdict.short()


def test_precision_that_never_bites_is_not_identified():
    s = _data()
    keep = s["bits"] >= 8  # 8 bits and none only: N_eff barely moves
    fit = fit_training_precision(s["n"][keep], s["d"][keep], s["loss"][keep], s["bits"][keep],
                                 bootstrap=10)
    assert fit.verdict.status == "not identified"


def test_compute_optimal_precision_beats_sixteen_bits():
    """Weights only, C = 6 N D P / 16: the optimum is a low precision on a larger model (Kumar's
    7-8 bits is for weights, activations and KV quantised together)."""
    row = TRUE.optimal_precision(1e21)
    full = TRUE.optimal_precision(1e21, bits=[16])
    assert row["bits"] < 16 and row["loss"] < full["loss"] and row["n"] > full["n"]


def test_cli_fits_a_results_folder_and_draws(tmp_path, capsys):
    from analysis.precision_cli import main
    from runstore import RunSummary, write_summary
    s = _data()
    ptq = {(n, d): [] for n, d in zip(s["ptq_n"], s["ptq_d"])}
    base = {(n, d): l for n, d, b, l in zip(s["n"], s["d"], s["bits"], s["loss"]) if b == P_NONE}
    for n, d, b, dl in zip(s["ptq_n"], s["ptq_d"], s["ptq_bits"], s["ptq_delta"]):
        ptq[(n, d)].append({"bits": int(b), "method": "rtn", "eval_loss": base[(n, d)] + dl})
    for i, (n, d, b, l) in enumerate(zip(s["n"], s["d"], s["bits"], s["loss"])):
        quant = {} if b == P_NONE else {"quant": {"weights": int(b)}}
        run = tmp_path / "runs" / f"r{i}"
        run.mkdir(parents=True)
        write_summary(run, RunSummary(status="done", n_params_total=int(n), tokens=int(d),
                                      final_eval_loss=float(l), model=quant,
                                      ptq=ptq[(n, d)] if not quant else []))
    assert main([str(tmp_path), "--bootstrap", "5", "--plot", str(tmp_path / "fig")]) == 0
    out = capsys.readouterr().out
    assert "gamma_w" in out and "gamma_D" in out
    for name in ("loss_vs_bits", "ptq_vs_d_over_n", "compute_optimal"):
        assert (tmp_path / "fig" / f"precision_{name}.png").exists()
