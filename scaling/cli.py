"""The `scaling` command: train, sweep, status, plan, fit, plot.

Bad input (config, corpus, results) prints one message naming the file, the key and the fix,
and exits with code 2 before anything is written.
"""
from __future__ import annotations

import argparse
import sys
import warnings

from scaling.errors import InputError


def _train(args) -> int:
    from scaling.train.config import load_run_config
    cfg = load_run_config(args.config, args.set or [])
    from scaling.train.loop import train  # heavy imports only after the config is valid
    summary = train(cfg, args.out, progress=not args.quiet)
    return 0 if summary.get("status") == "done" else 1


def _delegate(module: str, name: str):
    def run(args) -> int:
        mod = __import__(module, fromlist=["main"])
        return mod.main([name, *args.rest] if name else list(args.rest))
    return run


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scaling", description="Scaling-law experiments: train "
                                "models, run sweeps, fit laws, plan budgets.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train one model from a run config (resumes by itself)")
    t.add_argument("config", help="run config YAML")
    t.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config key, e.g. --set train.lr=3e-4 (repeatable)")
    t.add_argument("--out", help="run folder (default results/<name>/runs/<run-id>)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_train)

    for name, help_ in (("sweep", "run (or --dry-run) a sweep file"),
                        ("status", "progress of a sweep's results folder"),
                        ("plan", "compute-optimal size, memory and time for a budget"),
                        ("fit", "fit scaling laws to results or a CSV"),
                        ("plot", "regenerate every figure from stored results")):
        sub.add_parser(name, help=f"{help_} (scaling {name} --help)", add_help=False)
    return p


DELEGATED = {"sweep": ("scaling.sweep.cli", "sweep"), "status": ("scaling.sweep.cli", "status"),
             "plan": ("scaling.budget.plan", ""), "fit": ("analysis.cli", "fit"),
             "plot": ("analysis.cli", "plot")}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in DELEGATED:
        # these parse their own arguments ('scaling sweep --help' included)
        module, name = DELEGATED[argv[0]]
        args = argparse.Namespace(func=_delegate(module, name), rest=argv[1:])
    else:
        args = build_parser().parse_args(argv)
    warnings.simplefilter("default")
    try:
        return int(args.func(args) or 0)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
