"""The precision laws of a results folder: rows, fits, the printed report, the fit file.

`scaling fit RESULTS` and `scaling plot RESULTS` call this when the folder holds a precision
axis (runs trained with `model.quant`, or PTQ losses in summaries): Kumar et al.'s laws
(analysis/precision.py) are fitted and printed with intervals and verdicts, written to
fits/precision.json, and drawn (analysis/precision_plots.py); the Chinchilla approaches then
fit the full-precision runs only, so that no law mixes precisions.
`python -m analysis.precision_cli RESULTS [--plot DIR]` prints the same report alone.

Rows: every done run (not a trunk) gives (N, D, P_w, P_a, loss), P = 16 for an unquantised one
(summary.model.quant absent); every unquantised run's summary.ptq entry gives (N, D, bits,
delta = PTQ loss - final loss). No training stack is imported (analysis never imports scaling).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.precision import (
    P_NONE,
    PrecisionFit,
    fit_ptq,
    fit_training_precision,
    resolution_floor,
)
from runstore import InputError, read_summary

#: What Kumar et al. 2024 report, for the printed comparison. Quoted from the paper as read by
#: the suite's authors, not re-derived here (this suite's machines cannot reach arXiv).
KUMAR = ("Kumar et al. 2024 (arXiv:2411.04330; 30M-220M parameters, up to 26B tokens): "
         "training-precision gamma_w about 2.7 bits; PTQ degradation grows with D (gamma_D > 0) "
         "and falls with N, so past a critical D more pre-training makes the quantised model "
         "worse")
#: The fewest done runs the training-precision law is fitted to (7 parameters).
MIN_RUNS = 7


@dataclass(frozen=True)
class PrecisionReport:
    """A results folder's precision rows and fitted laws (ptq None: too few PTQ rows)."""

    train: dict
    ptq: dict
    training: PrecisionFit
    post: PrecisionFit | None
    quantised: frozenset  # run ids trained with model.quant

    def __repr__(self) -> str:
        return format_report(self)

    def to_dict(self) -> dict[str, Any]:
        return {"training_precision": self.training.to_dict(),
                "ptq": None if self.post is None else self.post.to_dict(),
                "n_quantised_runs": len(self.quantised), "n_ptq_rows": len(self.ptq["n"])}


def _summaries(root: Path) -> list:
    """Done non-trunk summaries with a final eval loss, in the run folders `load` reads."""
    from analysis.load import _run_dirs_under

    out = []
    for run_dir in _run_dirs_under(Path(root)):
        s = read_summary(run_dir)
        if s is not None and s.status == "done" and s.role != "trunk" and \
                s.final_eval_loss is not None:
            out.append((run_dir, s))
    return out


def precision_rows(root: str | Path) -> tuple[dict, dict, frozenset]:
    """(training rows, PTQ rows, ids of quantised runs) from every done run under `root`."""
    train = {k: [] for k in ("n", "d", "pw", "pa", "loss")}
    ptq = {k: [] for k in ("n", "d", "bits", "delta")}
    quantised = set()
    for run_dir, s in _summaries(Path(root)):
        q = s.model.get("quant") or {}
        if q:
            quantised.add(s.run_id or run_dir.name)
        for k, v in (("n", s.n_params_total), ("d", s.tokens), ("loss", s.final_eval_loss),
                     ("pw", q.get("weights") or P_NONE), ("pa", q.get("activations") or P_NONE)):
            train[k].append(v)
        for e in ([] if q else s.ptq):
            for k, v in (("n", s.n_params_total), ("d", s.tokens), ("bits", e["bits"]),
                         ("delta", e["eval_loss"] - s.final_eval_loss)):
                ptq[k].append(v)
    return ({k: np.asarray(v, float) for k, v in train.items()},
            {k: np.asarray(v, float) for k, v in ptq.items()}, frozenset(quantised))


def has_precision_axis(rows: tuple[dict, dict, frozenset]) -> bool:
    """precision_rows' rows hold quantised runs or PTQ losses."""
    _, ptq, quantised = rows
    return bool(quantised) or len(ptq["n"]) > 0


def fit_folder(root: str | Path, bootstrap: int = 100, level: float = 0.8,
               seed: int = 0, rows: tuple[dict, dict, frozenset] | None = None
               ) -> PrecisionReport:
    """Both laws fitted to the folder's rows (`rows`: precision_rows(root), when already read;
    InputError when too few runs)."""
    train, ptq, quantised = precision_rows(root) if rows is None else rows
    if len(train["n"]) < MIN_RUNS:
        raise InputError(f"{len(train['n'])} done runs; the precision law needs at least "
                         f"{MIN_RUNS}", file=str(root), fix="wait for the sweep to finish")
    pa = train["pa"] if len(set(train["pa"])) > 1 else None
    tf = fit_training_precision(train["n"], train["d"], train["loss"], train["pw"], pa,
                                bootstrap=bootstrap, level=level, seed=seed)
    pf = None
    if len(ptq["n"]) >= 5:
        pf = fit_ptq(ptq["n"], ptq["d"], ptq["bits"], ptq["delta"], bootstrap=bootstrap,
                     level=level, seed=seed)
    return PrecisionReport(train, ptq, tf, pf, quantised)


def _fmt(fit: PrecisionFit, keys) -> str:
    parts = []
    for k in keys:
        v = getattr(fit.law, k)
        if v is None:
            continue
        iv = fit.intervals.get(k)
        parts.append(f"{k} {v:.3g}" + (f" [{iv[0]:.3g}, {iv[1]:.3g}]" if iv else ""))
    return ", ".join(parts) + f"  ({fit.n_runs} rows; rmse of the log fit {fit.rmse_log:.2g})"


def _reasons(fit: PrecisionFit) -> list[str]:
    return [f"    - {r}" for r in fit.verdict.reasons] if fit.verdict.status != "identified" \
        else []


def format_report(rep: PrecisionReport, level: float = 0.8) -> str:
    """The printed precision section: each law, its intervals, its verdict and reasons."""
    bits = sorted({int(b) for b in rep.train["pw"] if b < P_NONE})
    lines = [f"precision (Kumar et al. 2024): {len(rep.train['n'])} runs, training weight bits "
             f"{', '.join(map(str, bits)) or 'none'} and none; "
             f"{len(rep.ptq['n'])} PTQ losses ({level:.0%} intervals)",
             "  training: L = A N_eff^-alpha + B D^-beta + E, "
             "N_eff = N (1 - exp(-P_w / gamma_w))",
             "    " + _fmt(rep.training, ("gamma_w", "gamma_a", "alpha", "beta", "E")),
             f"    verdict: {rep.training.verdict.status}"] + _reasons(rep.training)
    if rep.post is None:
        lines.append("  PTQ: fewer than 5 PTQ losses, not fitted (scaling eval RUN --ptq 8,4,3, "
                     "or ptq: in the sweep)")
    else:
        left = len(rep.ptq["n"]) - rep.post.n_runs
        lines += ["  PTQ: delta = C_T exp(-P / gamma_post) D^gamma_D / N^gamma_N"
                  + (f" ({left} losses within {resolution_floor(rep.ptq['delta']):.1e} nats of "
                     "the unquantised run, the resolution the negative deltas show, left out)"
                     if left else ""),
                  "    " + _fmt(rep.post, ("gamma_D", "gamma_N", "gamma_post", "C_T")),
                  f"    verdict: {rep.post.verdict.status}"] + _reasons(rep.post)
    lines.append("  for comparison: " + KUMAR)
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", help="results/<sweep> folder")
    p.add_argument("--bootstrap", type=int, default=100)
    p.add_argument("--plot", default="", help="write figures to this folder")


def run(args: argparse.Namespace) -> int:
    rep = fit_folder(args.results, bootstrap=args.bootstrap)
    print(format_report(rep))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        from analysis import figstyle, figures, precision_plots

        done = figures.write(precision_plots.specs(rep.train, rep.ptq, rep.training, rep.post),
                             args.plot, figstyle.style())
        for path, _ in done:
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
