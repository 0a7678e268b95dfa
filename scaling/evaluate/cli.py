"""`scaling eval RUN... --ptq 8,4,3`: post-training quantisation losses into each summary."""
from __future__ import annotations

import argparse

from runstore import InputError


def register(sub) -> None:
    """`scaling eval` under the one parser tree."""
    p = sub.add_parser("eval", help="post-training quantisation losses of finished runs",
                       description="Round each finished run's final weights to each bit width "
                       "(round-to-nearest, per output channel), score its own validation windows "
                       "and store the losses in its summary.json (idempotent).",
                       epilog="example:\n  scaling eval results/quickstart/runs/* --ptq 8,4,3",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(run=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", help="finished run folders (results/<sweep>/runs/<id>)")
    p.add_argument("--ptq", required=True, help="bit widths, comma-separated, e.g. 8,4,3")


def parse_bits(text: str) -> list[int]:
    try:
        bits = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        bits = []
    if not bits or any(not 2 <= b <= 8 for b in bits):
        raise InputError(f"'{text}' is not a list of bit widths in 2-8", key="--ptq",
                         fix="e.g. --ptq 8,4,3")
    return bits


def run(args: argparse.Namespace) -> int:
    from scaling.evaluate.ptq import ptq_eval
    bits = parse_bits(args.ptq)
    for r in args.runs:
        for e in ptq_eval(r, bits):
            print(f"{r}: w{e['bits']} {e['method']} eval loss {e['eval_loss']:.4f}")
    return 0
