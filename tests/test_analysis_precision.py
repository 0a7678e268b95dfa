"""The precision laws (analysis/precision.py) recover known constants from synthetic runs drawn
from Kumar et al.'s form with 1% noise."""

import json

import numpy as np

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


def _results_folder(root):
    """A results folder of the synthetic grid: one run per row, PTQ losses on the P_NONE runs."""
    from runstore import RunSummary, write_summary
    s = _data()
    ptq = {(n, d): [] for n, d in zip(s["ptq_n"], s["ptq_d"])}
    base = {(n, d): l for n, d, b, l in zip(s["n"], s["d"], s["bits"], s["loss"]) if b == P_NONE}
    for n, d, b, dl in zip(s["ptq_n"], s["ptq_d"], s["ptq_bits"], s["ptq_delta"]):
        ptq[(n, d)].append({"bits": int(b), "method": "rtn", "eval_loss": base[(n, d)] + dl})
    for i, (n, d, b, l) in enumerate(zip(s["n"], s["d"], s["bits"], s["loss"])):
        quant = {} if b == P_NONE else {"quant": {"weights": int(b)}}
        run = root / "runs" / f"r{i}"
        run.mkdir(parents=True)
        (run / "config.json").write_text("{}")
        (run / "metrics.jsonl").write_text(json.dumps({
            "step": 1, "tokens": int(d), "flops": 6.0 * n * d, "lr": 1e-3,
            "train_loss": float(l), "eval_loss": float(l)}) + "\n")
        write_summary(run, RunSummary(status="done", run_id=f"r{i}", seed=0, tokenizer="byte",
                                      n_params_total=int(n), tokens=int(d),
                                      final_eval_loss=float(l), model=quant,
                                      ptq=ptq[(n, d)] if not quant else []))
    return s


def test_cli_fits_a_results_folder_and_draws(tmp_path, capsys):
    from analysis.precision_cli import main
    _results_folder(tmp_path)
    assert main([str(tmp_path), "--bootstrap", "5", "--plot", str(tmp_path / "fig")]) == 0
    out = capsys.readouterr().out
    assert "gamma_w" in out and "gamma_D" in out and "verdict" in out
    for name in ("loss_vs_bits", "ptq_vs_d_over_n", "compute_optimal"):
        assert (tmp_path / "fig" / f"precision_{name}.png").exists()
        assert (tmp_path / "fig" / f"precision_{name}.pdf").exists()


def test_scaling_fit_and_plot_on_a_precision_folder(tmp_path, capsys):
    """`scaling fit` prints the precision laws beside the approaches, which fit the
    full-precision runs only (never a law through mixed precisions); `scaling plot` draws the
    precision figures with the rest."""
    import json

    from analysis.cli import main
    s = _results_folder(tmp_path)
    n_full = int((s["bits"] == P_NONE).sum())
    assert main(["fit", str(tmp_path), "--approach", "3", "--set", "bootstrap=20"]) == 0
    cap = capsys.readouterr()
    assert f"approaches 3 fit the {n_full} full-precision runs" in cap.err
    assert f"{n_full} runs" in cap.out.split("precision (Kumar")[0]
    assert "precision (Kumar et al. 2024)" in cap.out and "gamma_w 2." in cap.out
    saved = json.loads((tmp_path / "fits" / "precision.json").read_text())
    assert abs(saved["training_precision"]["law"]["gamma_w"] - TRUE.gamma_w) < 0.15 * 2.7
    assert saved["ptq"]["law"]["gamma_D"] > 0 and saved["n_ptq_rows"] == len(s["ptq_n"])
    fit3 = json.loads(next((tmp_path / "fits").glob("approach3*.json")).read_text())
    assert fit3["n_runs"] == n_full
    assert main(["plot", str(tmp_path), "--approach", "3"]) == 0
    for name in ("loss_vs_bits", "ptq_vs_d_over_n", "compute_optimal"):
        assert (tmp_path / "figures" / f"precision_{name}.png").exists()


def test_notebook_api_fits_and_draws_a_precision_folder(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import analysis
    _results_folder(tmp_path)
    rep = analysis.fit_precision(tmp_path, bootstrap=10)
    assert isinstance(rep, analysis.PrecisionReport) and "gamma_w" in repr(rep)
    assert abs(rep.training.law.gamma_w - TRUE.gamma_w) / TRUE.gamma_w < 0.15
    ax = analysis.plot_ptq(rep.ptq, rep.post)
    assert ax.get_xscale() == "log" and len(ax.collections) == 3  # one per PTQ bit width


def test_ptq_deltas_within_the_measured_resolution_are_left_out():
    from analysis.precision import resolution_floor
    s = _data(seed=1)
    delta = s["ptq_delta"].copy()
    assert resolution_floor(delta) == 0.0
    noise = (s["ptq_bits"] == 6)  # rounding noise at 6 bits: +-1e-4, the sign flips
    delta[noise] = np.where(np.arange(noise.sum()) % 2, 1e-4, -1e-4)
    assert resolution_floor(delta) == 2e-4
    fit = fit_ptq(s["ptq_n"], s["ptq_d"], s["ptq_bits"], delta, bootstrap=0)
    assert fit.n_runs == int((~noise).sum() + (delta[noise] > 2e-4).sum())
    assert abs(fit.law.gamma_D - TRUE_PTQ.gamma_D) / 0.5 < 0.25
