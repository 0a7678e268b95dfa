#!/usr/bin/env python
"""How far gradient accumulation moves a whole run's loss curve, beside a control.

    .venv/bin/python -m benchmarks.accumulation_drift [--config configs/sample_1m.yaml]
        [--microbatches 4] [--work /tmp/accumulation_drift]

Trains the config three times with `scaling train` (minutes each on 2 cores):
  one       as it is (one pass per step)
  accum     --set train.microbatches=K
  control   as it is, data-parallel over 2 host devices (XLA_FLAGS host device count 2)
The control computes the same mathematical step as `one`: only the order of the float32 sums
differs (the gradient is summed per device, then across). Whatever that reordering does to the
curve is float32's floor for any change of summation order, accumulation included. Prints the
largest relative train-loss difference up to each step, for accum and control against one.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def train(config: str, out: Path, sets: list[str], env: dict | None = None) -> list[dict]:
    if not (out / "summary.json").exists():
        cmd = [sys.executable, "-m", "scaling", "train", config, "--out", str(out), "--quiet"]
        for s in sets:
            cmd += ["--set", s]
        subprocess.run(cmd, cwd=ROOT, check=True, env=dict(os.environ, **(env or {})))
    return [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]


def max_rel_upto(a: list[dict], b: list[dict], step: int) -> float:
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if y["step"] <= step]
    assert all(x["step"] == y["step"] for x, y in pairs)
    return max(abs(x["train_loss"] - y["train_loss"]) / abs(y["train_loss"]) for x, y in pairs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="configs/sample_1m.yaml")
    ap.add_argument("--microbatches", type=int, default=4)
    ap.add_argument("--work", default="/tmp/accumulation_drift")
    a = ap.parse_args()
    work = Path(a.work)
    one = train(a.config, work / "one", [])
    accum = train(a.config, work / f"accum{a.microbatches}",
                  [f"train.microbatches={a.microbatches}"])
    control = train(a.config, work / "control_dp2", [],
                    env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    last = one[-1]["step"]
    marks = sorted({s for s in (20, 50, 100, 200, 300, 500, last) if s <= last})
    print(f"{a.config}: largest relative train-loss difference from the one-pass run, "
          f"steps 1..S (rows every {one[0]['step']} steps)")
    print(f"{'S':>6} {'microbatches=' + str(a.microbatches):>16} {'control (2 devices)':>20}")
    for s in marks:
        print(f"{s:>6} {max_rel_upto(accum, one, s):16.2e} {max_rel_upto(control, one, s):20.2e}")


if __name__ == "__main__":
    main()
