"""The `scaling` command: one parser tree, one error policy, one flag vocabulary.

    scaling train | sweep | sweep status | plan | fit | plot | data | config

Each verb module exposes `register(sub)`, which adds its parser (arguments, help, examples)
and sets `run`, the function the parsed arguments go to: scaling/sweep/cli.py (sweep, sweep
status), scaling/budget/plan.py (plan), analysis/cli.py (fit, plot: `python -m analysis`
builds its own tree from the same function), scaling/data/cli.py (data), and this file (train,
config). `main` is the one entry point: `runstore.cli_main` turns bad input (a flag, a config,
a path the file system refuses) into one line `error: ...` and exit code 2, a bug into its
traceback and exit code 1, and a closed pipe (`| head`) into exit code 141 without a traceback.

One vocabulary across verbs: `--device NAME --devices K` for an accelerator (plan, sweep),
`--vocab-size` for a vocabulary size, `--set KEY=VALUE` for any documented key (train, sweep,
fit, plot; `scaling config show [SECTION]`), `--out DIR` for the folder the verb writes (a run,
a sweep's results, fits, figures). An old spelling still works as a hidden alias that prints
one `warning: OLD is deprecated; use NEW` line (`runstore.errors.deprecated`).
"""
from __future__ import annotations

import argparse
import sys

from runstore.errors import CommandParser, cli_main, warn_deprecated
from scaling.cli_args import add_distributed_args, add_set_arg

#: `scaling --help`: each line is run through the config loader by tests/test_cli_examples.py.
EXAMPLES = """\
examples:
  scaling train configs/sample_1m.yaml                  # ~1M-parameter GPT, minutes on a CPU
  scaling train configs/sample_1m.yaml --set optim.lr=1e-3 --set train.tokens=4e6
  scaling sweep sweeps/quickstart.yaml --dry-run        # the plan: shapes, N, D, C, memory, time
  scaling sweep status results/quickstart
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

RAW = argparse.RawDescriptionHelpFormatter


# ---- train and config (the verbs of this module) ------------------------------------------

def _train(args) -> int:
    from scaling.train.config import load_run_config
    cfg = load_run_config(args.config, args.set)
    from scaling.train.loop import train  # heavy imports only after the config is valid
    from scaling.train.sharding import initialize_distributed
    initialize_distributed(args.coordinator, args.num_processes, args.process_id,
                           args.init_timeout)
    summary = train(cfg, args.out, progress=not args.quiet)
    return 0 if summary.status == "done" else 1


def _register_train(sub) -> None:
    t = sub.add_parser("train", help="train one model from a run config (resumes by itself)",
                       description="Train one model from a run config; rerun to resume.",
                       epilog=TRAIN_EXAMPLES, formatter_class=RAW)
    t.add_argument("config", help="run config YAML")
    add_set_arg(t, "run-config", "optim.lr=3e-4")
    t.add_argument("--out", metavar="DIR",
                   help="the run folder it writes (default results/<name>/runs/<run-id>)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    add_distributed_args(t)
    t.set_defaults(run=_train)


def _config_show(args) -> int:
    from scaling.config_show import show  # the config classes only: no JAX
    print(show(args.section))
    return 0


def _register_config(sub) -> None:
    c = sub.add_parser("config", help="document the run config, sweep file and fit settings",
                       description="Document the config files' keys.")
    csub = c.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = csub.add_parser(
        "show", help="every key with its type, default and doc",
        description="Print every key of the run config (and, under sweep., of the sweep file; "
                    "under fit., of the fit settings) with its type, default and one-line doc.",
        epilog="examples:\n  scaling config show\n  scaling config show train\n"
               "  scaling config show optim.lr\n  scaling config show sweep.grid\n"
               "  scaling config show fit\n",
        formatter_class=RAW)
    show.add_argument("section", nargs="?", help="a section (data, model, optim, train, mlm, "
                      "span, sweep, sweep.grid, fit, ...) or a dotted key prefix; default: all")
    show.set_defaults(run=_config_show)


# ---- the tree -------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """Every verb's parser under one `scaling` parser (the verb modules' `register`)."""
    from analysis import cli as fit_cli
    from scaling.budget import plan
    from scaling.data import cli as data_cli
    from scaling.evaluate import cli as eval_cli
    from scaling.sweep import cli as sweep_cli

    p = CommandParser(prog="scaling", description="Scaling-law experiments: train models, run "
                      "sweeps, fit laws, plan budgets.", epilog=EXAMPLES, formatter_class=RAW)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _register_train(sub)
    sweep_cli.register(sub)
    plan.register(sub)
    fit_cli.register(sub)
    data_cli.register(sub)
    eval_cli.register(sub)
    _register_config(sub)
    return p


#: Verbs spelled with two words, and old verb spellings (deprecated, still working).
TWO_WORDS = {("sweep", "status"): "sweep-status"}
OLD_VERBS = {"status": ("sweep", "status")}

def spelled(argv: list[str]) -> list[str]:
    """argv as the tree parses it: `sweep status` is one verb, `status` its old name."""
    if argv[:1] and argv[0] in OLD_VERBS:
        warn_deprecated(f"scaling {argv[0]}", "scaling " + " ".join(OLD_VERBS[argv[0]]))
        argv = [*OLD_VERBS[argv[0]], *argv[1:]]
    if tuple(argv[:2]) in TWO_WORDS:
        argv = [TWO_WORDS[tuple(argv[:2])], *argv[2:]]
    return argv


def main(argv: list[str] | None = None) -> int:
    """The one entry point: parse, run the verb, report by the one policy; returns the code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    from scaling.compile.targets import quiet_libtpu
    quiet_libtpu()  # a venv with the [tpu] extra, off a TPU VM: no libtpu warnings

    def run() -> int:
        args = build_parser().parse_args(spelled(argv))
        return args.run(args)

    try:
        return cli_main(run, program="scaling")
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
