"""Compile time against depth for a TPU target, scanned (model.scan_layers) and unrolled:

    python benchmarks/compile_depth.py [--target tpu-v5e-2x2] [--layers 4,8,16,32]

With the scan the compiled program holds one block whatever the depth, so its compile time
should stay flat (within 1.5x from 4 to 32 layers); unrolled, it grows with depth. Needs libtpu
(the [tpu] extra); compiles are never cached here.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> int:
    from compiling import tiny

    from scaling.compile import compile_one

    p = argparse.ArgumentParser()
    p.add_argument("--target", default="tpu-v5e-2x2")
    p.add_argument("--layers", default="4,8,16,32")
    a = p.parse_args()
    print("layout    layers  lower s  compile s  peak MB")
    for scan in (True, False):
        times = []
        for L in map(int, a.layers.split(",")):
            run = tiny("clm", d=256, L=L, H=4, T=128, B=16, scan_layers=scan)
            c = compile_one(run, a.target, fit=False, use_cache=False)
            r = c.result
            if not c.ok:
                print(f"{'scan' if scan else 'unrolled':9} {L:6}  failed: {r.get('error')}")
                continue
            times.append(r["compile_s"])
            print(f"{'scan' if scan else 'unrolled':9} {L:6}  {r['lower_s']:7.1f}  "
                  f"{r['compile_s']:9.1f}  {r['peak'] / 1e6:7.1f}", flush=True)
        if len(times) > 1:
            print(f"  {'scan' if scan else 'unrolled'}: compile time, deepest / shallowest = "
                  f"{times[-1] / times[0]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
