"""Command line: ``fit`` and ``plot`` (wired as ``scaling fit`` / ``scaling plot``).

    fit  RESULTS_OR_CSV [--approach 1,2,3] [--bootstrap K] [--json] [--params total|nonembedding]
         [--seed S] [--level 0.8] [--delta 1e-3] [--outlier-mad K] [--set KEY=VALUE] [--out DIR]
    plot RESULTS_OR_CSV [--out DIR] [--approach ...] [--bootstrap K] [--params ...]
         [--style paper|default|FILE] [--width column|page|INCHES] [--dpi D] [--holdout largest]

`register` adds both verbs to a parser tree: `scaling`'s (scaling/cli.py) or the one `main`
builds for ``python -m analysis`` (analysis imports nothing of scaling).  The settings are
`analysis.fit_settings.FitOptions`, loaded as the defaults under RESULTS/fit.yaml (the
settings its committed fits were made with, so that a bare `scaling fit RESULTS` reproduces
them) under `--set KEY=VALUE` under the flags; `scaling config show fit` documents every key.
`--params both` fits with total and non-embedding N.

fit prints a table and writes one JSON per approach and group (objective/tokenizer) to --out
(default RESULTS/fits; for a CSV: CSV_STEM-fits/ next to it), each written to a temporary file
and renamed, after every fit has succeeded.  plot refits from the stored results (no training)
and writes every figure as PNG and PDF to --out (default RESULTS/figures, CSV_STEM-figures/).
Bad input: one line naming the file, key and fix on stderr, exit code 2, nothing written.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

from runstore import InputError, atomic_write_text
from runstore.errors import CommandParser, cli_main

EXAMPLES = {
    "fit": """\
examples:
  scaling fit results/quickstart                       # the settings of its fit.yaml, if any
  scaling fit results/quickstart --approach 2,3 --bootstrap 200 --json
  scaling fit results/quickstart --set level=0.9 --set budgets=[1e18,1e22]
  scaling fit runs.csv --out /tmp/fits                 # columns N, D or C, loss

Every setting and its default: scaling config show fit.
""",
    "plot": """\
examples:
  scaling plot results/quickstart                      # figures in results/quickstart/figures
  scaling plot results/quickstart --out figures/ --approach 2
  scaling plot results/quickstart --width page --dpi 600   # a page-wide figure
  scaling plot results/quickstart --style default          # matplotlib's own look

Figures are byte-reproducible (no dates in the files; SOURCE_DATE_EPOCH sets a PDF's) and a
file is rewritten only when its bytes change.
""",
}
_HELP = {"fit": "fit scaling laws to results or a CSV",
         "plot": "regenerate every figure from stored results"}
_OUT = {"fit": "the folder of fit JSONs it writes (default RESULTS/fits; CSV_STEM-fits)",
        "plot": "the folder of figures it writes (default RESULTS/figures; CSV_STEM-figures)"}


def _add_args(s: argparse.ArgumentParser, name: str) -> None:
    s.add_argument("source", help="results/<sweep> folder or a CSV (N, D or C, loss)")
    s.add_argument("--approach", default=None, help="comma list of 1,2,3 (default: all that apply)")
    s.add_argument("--bootstrap", type=int, help="bootstrap resamples (default 0: none)")
    s.add_argument("--params", choices=("total", "nonembedding", "both"),
                   help="N counted in the fits (default total; plot: both = total)")
    s.add_argument("--seed", type=int)
    s.add_argument("--level", type=float, help="interval level (default 0.8)")
    s.add_argument("--delta", type=float, help="Huber delta (approach 3, default 1e-3)")
    s.add_argument("--budgets",
                   help="budgets C for the allocation table: 'data' (default: the runs' own "
                        "IsoFLOP budgets, exact) or a comma list, "
                        "e.g. 1e18,1e22,5.76e23")
    s.add_argument("--outlier-mad", type=float,
                   help="approach 3: drop runs with |residual| > K robust sd, then refit")
    s.add_argument("--holdout", choices=("largest",),
                   help="fit on every budget but the largest and predict it (approaches 2, 3)")
    s.add_argument("--estimator", choices=("window", "all", "akima"),
                   help="approach 2's per-budget minimum (default window: the parabola near "
                        "the lowest loss; all: through every size; akima: interpolation)")
    s.add_argument("--window-dex", type=float,
                   help="approach 2's window half-width in decades of N (default 0.5)")
    s.add_argument("--group-by",
                   help="comma list of columns (a CSV's own, or seed) splitting the runs")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a fit setting, e.g. --set bootstrap=200 (repeatable; every "
                        "key: scaling config show fit)")
    s.add_argument("--out", metavar="DIR", default=None, help=_OUT[name])
    if name == "plot":
        s.add_argument("--style", default="paper",
                       help="paper (the suite's look, default), default (matplotlib's), a "
                            "matplotlib style name or a .mplstyle file")
        s.add_argument("--width", default="column",
                       help="figure width: column (3.3 in, default), page (6.9 in) or inches")
        s.add_argument("--dpi", type=float, default=None,
                       help="PNG resolution (default: the style's savefig.dpi, 300 for paper)")
    if name == "fit":
        s.add_argument("--json", action="store_true", help="print JSON instead of a table")
        s.add_argument("--brief", action="store_true",
                       help="print only the headline: D/N at the largest budget")


def register(sub: Any) -> None:
    """`fit` and `plot` under a parser tree's subcommands: arguments, help and run."""
    for name, run in (("fit", cmd_fit), ("plot", cmd_plot)):
        s = sub.add_parser(name, help=_HELP[name], description=_HELP[name].capitalize() + ".",
                           epilog=EXAMPLES[name],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        _add_args(s, name)
        s.set_defaults(run=run, cmd=name)


def _approaches(arg: str | None) -> tuple[int, ...] | None:
    """--approach: a comma list of 1, 2, 3 (None: not given)."""
    if arg is None:
        return None
    try:
        out = tuple(sorted({int(a) for a in arg.split(",") if a.strip()}))
    except ValueError:
        raise InputError(f"{arg!r} is not a comma list", key="--approach",
                         fix="e.g. --approach 2,3") from None
    if not out or any(a not in (1, 2, 3) for a in out):
        raise InputError(f"{arg!r}: choose among 1, 2, 3", key="--approach", fix="e.g. --approach 2,3")
    return out


def _budgets(arg: str | None) -> str | tuple[float, ...] | None:
    """--budgets: 'data' (the runs' own C range, no extrapolation) or a comma list of FLOPs."""
    if arg is None or arg == "data":
        return arg
    try:
        out = tuple(float(x) for x in arg.split(","))
    except ValueError:
        raise InputError(f"{arg!r} is not a comma list of numbers", key="--budgets",
                         fix="e.g. --budgets 1e18,1e22") from None
    if not out or any(not (x > 0 and math.isfinite(x)) for x in out):
        raise InputError(f"{arg!r}: budgets must be finite and > 0", key="--budgets",
                         fix="e.g. 1e18,1e22")
    return out


def _is_csv(args: argparse.Namespace) -> bool:
    return Path(args.source).suffix.lower() == ".csv"


def settings(args: argparse.Namespace) -> Any:
    """The one FitOptions: defaults < SOURCE/fit.yaml < --set < the flags (None: not given)."""
    from analysis import fit_settings

    flags = {"approach": _approaches(args.approach), "budgets": _budgets(args.budgets),
             **{k: getattr(args, k) for k in ("bootstrap", "params", "seed", "level", "delta",
                                             "outlier_mad", "holdout", "estimator",
                                             "window_dex", "group_by")}}
    return fit_settings.load(Path(args.source), flags, args.set)


def run_fits(args: argparse.Namespace) -> tuple[Any, Any, list[tuple[str, Any]]]:
    """Load and fit; returns (options, runs, [(file stem, fit)])."""
    from analysis.api import fit_all
    from analysis.load import load

    options = settings(args)
    explicit = options.approach is not None  # asked for (flag, --set or fit.yaml): errors stand
    approaches = list(options.approach or ((2, 3) if _is_csv(args) else (1, 2, 3)))
    runs = load(Path(args.source)).grouped_by(options.group_by)
    args.precision = _precision(args, options)
    if args.precision is not None:  # the approaches fit one precision: the full one
        runs = runs.subset([i for i, r in enumerate(runs["run_id"])
                            if r not in args.precision.quantised])
        print(f"note: {len(args.precision.quantised)} quantised runs go to the precision fit "
              f"only; approaches {','.join(map(str, approaches))} fit the {len(runs)} "
              "full-precision runs", file=sys.stderr)
    fits = fit_all(runs, options, args.cmd, approaches, explicit)
    if not fits:
        raise InputError("no approach could be fitted", file=str(args.source),
                         fix="see the warnings above")
    return options, runs, fits


def _precision(args: argparse.Namespace, options: Any) -> Any:
    """The precision report of a results folder with a precision axis, else None."""
    from analysis import precision_cli

    if _is_csv(args) or not Path(args.source).is_dir():
        return None
    rows = precision_cli.precision_rows(args.source)  # read once: tested, then fitted
    if not precision_cli.has_precision_axis(rows):
        return None
    return precision_cli.fit_folder(args.source, bootstrap=options.bootstrap,
                                    level=options.level, seed=options.seed, rows=rows)


def _fmt_iv(row: dict[str, Any], key: str) -> str:
    v = row.get(key)
    iv = row.get(key + "_interval")
    s = f"{v:.3g}"
    return s + (f" [{iv[0]:.3g}, {iv[1]:.3g}]" if iv else "")


def format_table(fits: Sequence[tuple[str, Any]]) -> str:
    """Human-readable summary: exponents and tokens per parameter at the reporting budgets."""
    lines = []
    for stem, fit in fits:
        d = fit.to_dict()
        head = f"{stem}: a = {d['a']:.4f}, b = {d['b']:.4f}"
        ivs = d.get("intervals") or {}
        if "a" in ivs:
            head += f"  ({int(d['level'] * 100)}% a in [{ivs['a'][0]:.4f}, {ivs['a'][1]:.4f}])"
        lines.append(head + f"  [{fit.verdict.short()}]")
        if d["approach"] == 3:
            law = d["law"]
            lines.append(f"  L = {law['E']:.4g} + {law['A']:.4g}/N^{law['alpha']:.4f} + "
                         f"{law['B']:.4g}/D^{law['beta']:.4f}   (Huber sum {d['objective_value']:.6g}, "
                         f"{d['n_runs']} runs, {d['n_starts_at_best']}/{d['n_starts']} starts at best)")
            if d["dropped"]:
                lines.append(f"  dropped as outliers: {', '.join(d['dropped'])}")
        lines.append(f"  {'C (FLOPs)':>10}  {'N_opt':>24}  {'D_opt':>24}  {'D/N':>22}  bytes/param")
        hide = fit.verdict.status == "not identified"  # no allocation headline from such a fit
        for r in d["allocation"]:
            bpp = r.get("bytes_per_param")
            lines.append(f"  {r['flops']:>10.3g}  {_fmt_iv(r, 'n_opt'):>24}  {_fmt_iv(r, 'd_opt'):>24}  "
                         f"{'-' if hide else _fmt_iv(r, 'tokens_per_param'):>22}  "
                         f"{'' if bpp is None or hide else f'{bpp:.3g}'}")
    return "\n".join(lines)


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf become null (strict JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def out_dir(args: argparse.Namespace, what: str) -> Path:
    """--out, else SOURCE/WHAT for a results folder, CSV_STEM-WHAT beside a CSV."""
    if args.out:
        return Path(args.out)
    src = Path(args.source)
    return src.with_name(f"{src.stem}-{what}") if _is_csv(args) else src / what


def _holdouts(opts: Any, runs: Any, fits: Sequence[tuple[str, Any]]) -> list:
    """The held-out check of every group for approaches 2 and 3 (--holdout largest)."""
    from analysis.api import param_counts
    from analysis.holdout import holdout

    done = {(f.name, f.approach) for _, f in fits if f.approach in (2, 3)}
    out = []
    for key, group in runs.groups().items():
        for k in (2, 3):
            if (key, k) in done:
                try:
                    out.append(holdout(group, k, opts, param_counts(opts.params)[0]))
                except InputError as exc:
                    warnings.warn(f"held-out check skipped for {key}, approach {k}: {exc.detail}", stacklevel=2)
    return out


def cmd_fit(args: argparse.Namespace) -> int:
    options, runs, fits = run_fits(args)
    out = out_dir(args, "fits")
    if options.holdout:  # writes holdout.json and its figure only: the fits on all data stay
        from analysis.holdout import format_holdout

        checks = _holdouts(options, runs, fits)
        atomic_write_text(out / "holdout.json", json.dumps(_clean([h.to_dict() for h in checks]),
                                                           indent=1))
        print("\n\n".join(format_holdout(h) for h in checks))
        if checks:
            import matplotlib

            matplotlib.use("Agg")
            from analysis import figstyle, figures, plots

            done = figures.write([("holdout", plots.plot_holdout, (checks,), {})], out,
                                 figstyle.style())
            print(f"wrote {out / 'holdout.json'} and {done[0][0]}")
        return 0
    payload = {stem: fit.to_dict() for stem, fit in fits}
    for stem, d in payload.items():  # key order as fitted (not sorted): committed fits stay stable
        atomic_write_text(out / f"{stem}.json", json.dumps(_clean(d), indent=1))
    if args.precision is not None:
        atomic_write_text(out / "precision.json",
                          json.dumps(_clean(args.precision.to_dict()), indent=1))
    if args.brief:
        from analysis.brief import format_brief

        print(format_brief(fits, Path(args.source)))
        return 0
    if args.json:
        print(json.dumps(_clean(payload), indent=1))
    else:
        from analysis.report import format_markdown, report

        print(format_table(fits))
        rows = report(list(payload.items()))
        if rows:
            print()
            print(format_markdown(rows))
        if args.precision is not None:
            from analysis.precision_cli import format_report

            print()
            print(format_report(args.precision, options.level))
        print(f"wrote {len(payload) + (args.precision is not None)} fit file(s) to {out}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")  # the CLI draws to files only; analysis.plots never picks a backend
    from analysis import figstyle, figures
    from analysis.api import param_counts

    rc = figstyle.style(args.style, args.width, args.dpi)  # bad values fail before any fit
    options, runs, fits = run_fits(args)
    out = out_dir(args, "figures")
    checks = _holdouts(options, runs, fits) if options.holdout else []
    (params,) = param_counts(options.params, "plot")
    if not any(f.bytes_per_token for _, f in fits if f.approach in (2, 3)):
        print("skipped bytes_per_param-all: no run gives bytes_per_token")
    todo = figures.specs(fits, runs, params, checks)
    if args.precision is not None:
        from analysis import precision_plots

        rep = args.precision
        todo += precision_plots.specs(rep.train, rep.ptq, rep.training, rep.post)
    done = figures.write(todo, out, rc)
    changed = sum(w for _, w in done)
    print(f"wrote {changed} of {len(done)} figure file(s) to {out}"
          + (f" ({len(done) - changed} unchanged)" if changed < len(done) else ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """`python -m analysis fit|plot`: the same verbs as `scaling fit|plot`, without scaling."""
    p = CommandParser(prog="python -m analysis", description="Fit and plot scaling laws.")
    register(p.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m analysis`: 0 on success, 2 on bad input (one line on stderr),
    by the suite's one policy (runstore.cli_main)."""
    argv = list(sys.argv[1:] if argv is None else argv)

    def run() -> int:
        args = build_parser().parse_args(argv)
        return args.run(args)

    try:
        return cli_main(run, program="analysis")
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
