"""`scaling fit --precision` / `python -m analysis.precision_cli RESULTS`: Kumar et al.'s
precision laws fitted to a results folder (analysis/precision.py), printed with intervals and
verdicts; `--plot DIR` draws loss vs bits per N and delta_PTQ vs D/N with the fitted curves.

Rows: every done run (not a trunk) gives (N, D, P_w, P_a, loss), P = 16 for an unquantised one
(summary.model.quant absent); every unquantised run's summary.ptq entry gives (N, D, bits,
delta = PTQ loss - final loss). No training stack is imported (analysis never imports scaling).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from analysis.precision import P_NONE, fit_ptq, fit_training_precision
from runstore import InputError, read_summary


def precision_rows(root: str | Path) -> tuple[dict, dict]:
    """(training rows, PTQ rows) as numpy columns from every done run under `root`."""
    train = {k: [] for k in ("n", "d", "pw", "pa", "loss")}
    ptq = {k: [] for k in ("n", "d", "bits", "delta")}
    for s_path in sorted(Path(root).rglob("summary.json")):
        s = read_summary(s_path.parent)
        if s is None or s.status != "done" or s.role == "trunk" or s.final_eval_loss is None:
            continue
        q = s.model.get("quant") or {}
        train["n"].append(s.n_params_total)
        train["d"].append(s.tokens)
        train["pw"].append(q.get("weights") or P_NONE)
        train["pa"].append(q.get("activations") or P_NONE)
        train["loss"].append(s.final_eval_loss)
        if not q:
            for e in s.ptq:
                ptq["n"].append(s.n_params_total)
                ptq["d"].append(s.tokens)
                ptq["bits"].append(e["bits"])
                ptq["delta"].append(e["eval_loss"] - s.final_eval_loss)
    return ({k: np.asarray(v, float) for k, v in train.items()},
            {k: np.asarray(v, float) for k, v in ptq.items()})


def _fmt(fit, keys) -> str:
    parts = []
    for k in keys:
        v = getattr(fit.law, k)
        if v is None:
            continue
        lo, hi = fit.intervals.get(k, [np.nan, np.nan])
        parts.append(f"{k} {v:.3g} [{lo:.3g}, {hi:.3g}]")
    return ", ".join(parts) + f"  ({fit.n_runs} rows; {fit.verdict.short()})"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", help="results/<sweep> folder")
    p.add_argument("--bootstrap", type=int, default=100)
    p.add_argument("--plot", default="", help="write figures to this folder")


def run(args: argparse.Namespace) -> int:
    train, ptq = precision_rows(args.results)
    if len(train["n"]) < 7:
        raise InputError(f"{len(train['n'])} done runs; the precision law needs at least 7",
                         file=args.results)
    pa = train["pa"] if len(set(train["pa"])) > 1 else None
    tf = fit_training_precision(train["n"], train["d"], train["loss"], train["pw"], pa,
                                bootstrap=args.bootstrap)
    print("training precision (Kumar et al. 2024; 80% intervals):")
    print("  " + _fmt(tf, ("gamma_w", "gamma_a", "alpha", "beta", "E")))
    print("  Kumar et al.: gamma_w of about 2.7 bits at 30M-220M parameters (their Table; "
          "check the paper)")
    pf = None
    if len(ptq["n"]) >= 5:
        pf = fit_ptq(ptq["n"], ptq["d"], ptq["bits"], ptq["delta"], bootstrap=args.bootstrap)
        print("post-training quantisation: delta = C_T exp(-P/gamma_post) D^gamma_D / N^gamma_N")
        print("  " + _fmt(pf, ("gamma_D", "gamma_N", "gamma_post", "C_T")))
        print("  Kumar et al.: gamma_D > 0, the degradation grows with D (and falls with N)")
    if args.plot:
        from analysis.precision_plots import draw
        for path in draw(train, ptq, tf, pf, args.plot):
            print(f"figure: {path}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m analysis.precision_cli")
    add_arguments(p)
    try:
        return run(p.parse_args(argv))
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
