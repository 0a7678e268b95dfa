"""How approach 2 should read a minimum off an IsoFLOP curve: bias and scatter of
a and of D/N at the largest budget for each estimator, on synthetic curves of known law.

    PYTHONPATH=. python benchmarks/isoflop_estimators.py [--seeds 40]

Curves: twelve budgets (1.25e16 x 2^k), 12 sizes over 2.5 decades of N each; 'centred' puts
the optimum mid-sizes, 'moving' moves it 0.8 decade either side across the budgets (a fixed
size grid does that); laws: Hoffmann's, Besiroglu's and a steep one (beta > alpha, the
large-N side rising fast, as real curves do).  The default of analysis/isoflop_min.py was
chosen from this table.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from analysis.approach2 import isoflop
from analysis.laws import REFERENCE_LAWS
from analysis.synthetic import STEEP_LAW, wide_isoflop_runs

ESTIMATORS = (("all", 0.5), ("window", 0.5), ("window", 0.75), ("akima", 0.5))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=40)
    args = ap.parse_args()
    laws = {"hoffmann": REFERENCE_LAWS["hoffmann"], "besiroglu": REFERENCE_LAWS["besiroglu"],
            "steep": STEEP_LAW}
    print("shape    law        noise  " + "  ".join(f"{e}{w:<5} a bias+-sd   D/N bias+-sd"
                                                    for e, w in ESTIMATORS))
    for shape, shift in (("centred", 0.0), ("moving", 0.8)):
        for name, law in laws.items():
            for noise in (0.003, 0.01):
                cells = []
                for est, w in ESTIMATORS:
                    da, ddn = [], []
                    for s in range(args.seeds):
                        runs = wide_isoflop_runs(law, shift=shift, edge_budget=False,
                                                 noise=noise, seed=s)
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            f = isoflop(runs, estimator=est, window_dex=w)
                        top = max(f.allocation, key=lambda r: r["flops"])
                        da.append(f.a - law.a)
                        ddn.append(top["tokens_per_param"] / law.tokens_per_param(top["flops"]) - 1)
                    cells.append(f"{np.mean(da):+.3f}+-{np.std(da):.3f} "
                                 f"{np.mean(ddn):+.2f}+-{np.std(ddn):.2f}")
                print(f"{shape:<8} {name:<10} {noise:<6} " + "  ".join(cells))


if __name__ == "__main__":
    main()
