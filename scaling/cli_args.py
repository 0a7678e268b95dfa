"""The flags several verbs share, spelled once (the one flag vocabulary of the CLI)."""
from __future__ import annotations

import argparse


def add_set_arg(p: argparse.ArgumentParser, what: str, example: str) -> None:
    """`--set KEY=VALUE`, the one way every verb overrides a documented key."""
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help=f"override a {what} key, e.g. --set {example} (repeatable; "
                        "every key: scaling config show)")


def add_distributed_args(p: argparse.ArgumentParser) -> None:
    """One run over several processes (jax.distributed); under SLURM they come from its
    environment instead (SCALING_DISTRIBUTED=1)."""
    p.add_argument("--coordinator", default="", metavar="HOST:PORT",
                   help="process 0's address: train one run over --num-processes processes")
    p.add_argument("--num-processes", type=int, default=0, help="processes in the job")
    p.add_argument("--process-id", type=int, default=-1, help="this process's index (0 writes)")
    p.add_argument("--init-timeout", type=float, default=120.0, metavar="S",
                   help="seconds to wait for every process to join before giving up "
                        "(default %(default)g)")
