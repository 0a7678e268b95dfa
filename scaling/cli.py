"""The `scaling` command: train, sweep, status, plan, fit, plot, config.

Bad input (config, corpus, results) prints one message naming the file, the key and the fix,
and exits with code 2 before anything is written (`runstore.cli_main`).
"""
from __future__ import annotations

import argparse
import sys
import traceback
import warnings

from runstore import InputError, cli_main

#: `scaling --help`: each line is run through the config loader by tests/test_cli_examples.py.
EXAMPLES = """\
examples:
  scaling train configs/sample_1m.yaml                  # ~1M-parameter GPT, minutes on a CPU
  scaling train configs/sample_1m.yaml --set optim.lr=1e-3 --set train.tokens=4e6
  scaling sweep sweeps/quickstart.yaml --dry-run        # the plan: shapes, N, D, C, memory, time
  scaling status results/quickstart
  scaling fit results/quickstart                        # approaches 2 and 3, with intervals
  scaling plot results/quickstart --out figures/
  scaling plan --flops 1e21
  scaling config show optim                             # every key, its type, default and doc
"""

TRAIN_EXAMPLES = """\
examples:
  scaling train configs/sample_1m.yaml
  scaling train configs/sample_1m.yaml --set optim.lr=1e-3 --set train.tokens=4e6 --out /tmp/run
  scaling train configs/sample_mlm.yaml --set mlm.select_rate=0.2 --quiet
  scaling train configs/sample_span.yaml --set span.mean_span=5 --set train.tokens=1e6

Every key and its default: scaling config show [SECTION]. Rerun the same command to resume.
"""


def _train(args) -> int:
    from scaling.train.config import load_run_config
    cfg = load_run_config(args.config, args.set or [])
    from scaling.train.loop import train  # heavy imports only after the config is valid
    from scaling.train.sharding import initialize_distributed
    initialize_distributed(args.coordinator, args.num_processes, args.process_id)
    summary = train(cfg, args.out, progress=not args.quiet)
    return 0 if summary.status == "done" else 1


def _config_show(args) -> int:
    from scaling.config_show import show  # the config classes only: no JAX
    print(show(args.section))
    return 0


def _delegate(module: str, name: str):
    def run(args) -> int:
        mod = __import__(module, fromlist=["main"])
        return mod.main([name, *args.rest] if name else list(args.rest))
    return run


def add_distributed_args(p: argparse.ArgumentParser) -> None:
    """One run over several processes (jax.distributed); under SLURM they come from its
    environment instead (SCALING_DISTRIBUTED=1)."""
    p.add_argument("--coordinator", default="", metavar="HOST:PORT",
                   help="process 0's address: train one run over --num-processes processes")
    p.add_argument("--num-processes", type=int, default=0, help="processes in the job")
    p.add_argument("--process-id", type=int, default=-1, help="this process's index (0 writes)")


def build_parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(prog="scaling", description="Scaling-law experiments: train "
                                "models, run sweeps, fit laws, plan budgets.", epilog=EXAMPLES,
                                formatter_class=raw)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train one model from a run config (resumes by itself)",
                       description="Train one model from a run config; rerun to resume.",
                       epilog=TRAIN_EXAMPLES, formatter_class=raw)
    t.add_argument("config", help="run config YAML")
    t.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config key, e.g. --set optim.lr=3e-4 (repeatable)")
    t.add_argument("--out", help="run folder (default results/<name>/runs/<run-id>)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    add_distributed_args(t)
    t.set_defaults(func=_train)

    for name, help_ in (("sweep", "run (or --dry-run) a sweep file"),
                        ("status", "progress of a sweep's results folder"),
                        ("plan", "compute-optimal size, memory and time for a budget"),
                        ("fit", "fit scaling laws to results or a CSV"),
                        ("plot", "regenerate every figure from stored results"),
                        ("data", "build (prepare) or list (info) token caches")):
        sub.add_parser(name, help=f"{help_} (scaling {name} --help)", add_help=False)

    c = sub.add_parser("config", help="document the run config and sweep file keys",
                       description="Document the config files' keys.")
    csub = c.add_subparsers(dest="action", required=True)
    show = csub.add_parser(
        "show", help="every key with its type, default and doc",
        description="Print every key of the run config (and, under sweep., of the sweep file) "
                    "with its type, default and one-line doc.",
        epilog="examples:\n  scaling config show\n  scaling config show train\n"
               "  scaling config show optim.lr\n  scaling config show sweep.grid\n",
        formatter_class=raw)
    show.add_argument("section", nargs="?", help="a section (data, model, optim, train, mlm, "
                      "span, sweep, sweep.grid, ...) or a dotted key prefix; default: all")
    show.set_defaults(func=_config_show)
    return p


DELEGATED = {"sweep": ("scaling.sweep.cli", "sweep"), "status": ("scaling.sweep.cli", "status"),
             "plan": ("scaling.budget.plan", ""), "fit": ("analysis.cli", "fit"),
             "plot": ("analysis.cli", "plot"), "data": ("scaling.data.cli", "")}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in DELEGATED:
        # these parse their own arguments ('scaling sweep --help' included)
        module, name = DELEGATED[argv[0]]
        args = argparse.Namespace(func=_delegate(module, name), rest=argv[1:])
    else:
        args = build_parser().parse_args(argv)
    warnings.simplefilter("default")
    return cli_main(reporting_bugs(lambda: args.func(args)))


def reporting_bugs(fn):
    """`fn`, with an unexpected internal error (a bug, not bad input: cli_main prints those in
    one line) kept as its traceback plus one line asking to report it; exit code 1."""
    def run() -> int | None:
        try:
            return fn()
        except (InputError, KeyboardInterrupt, SystemExit):
            raise
        except Exception:
            traceback.print_exc()
            print("error: this is a bug in scaling, not in your input; please report it with "
                  "the command and the traceback above", file=sys.stderr)
            return 1
    return run


if __name__ == "__main__":
    sys.exit(main())
