"""Figures of the precision laws: loss vs training bits per N, delta_PTQ vs D/N."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def draw(train: dict, ptq: dict, tf, pf, out_dir) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    fig, ax = plt.subplots(figsize=(5, 4))
    d_top = np.max(train["d"])
    for n in sorted(set(train["n"])):
        m = (train["n"] == n) & (train["d"] == d_top)
        ax.scatter(train["pw"][m], train["loss"][m], s=12)
        bits = np.linspace(2, 16, 50)
        ax.plot(bits, tf.law.loss(n, d_top, bits), lw=1, label=f"N {n:.3g}")
    ax.set(xlabel="training weight bits (16 = none)", ylabel="eval loss",
           title=f"loss vs bits at D {d_top:.3g}")
    ax.legend(fontsize=7)
    paths.append(out / "precision_loss_vs_bits.png")
    fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
    plt.close(fig)
    if pf is not None and len(ptq["n"]):
        fig, ax = plt.subplots(figsize=(5, 4))
        for b in sorted(set(ptq["bits"])):
            m = (ptq["bits"] == b) & (ptq["delta"] > 0)
            ax.scatter(ptq["d"][m] / ptq["n"][m], ptq["delta"][m], s=12, label=f"{b:g} bits")
            for n in sorted(set(ptq["n"])):
                d = np.geomspace(ptq["d"].min(), ptq["d"].max(), 20)
                ax.plot(d / n, pf.law.delta(n, d, b), lw=0.7, color="gray")
        ax.set(xscale="log", yscale="log", xlabel="D / N", ylabel="delta PTQ (nats)",
               title="PTQ degradation vs D/N")
        ax.legend(fontsize=7)
        paths.append(out / "precision_ptq_vs_d_over_n.png")
        fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
        plt.close(fig)
    paths.append(_optimal_precision(tf.law, out, plt))
    return paths


def _optimal_precision(law, out: Path, plt) -> Path:
    """Loss at the compute-optimal N for each training precision, at a few budgets (Kumar's
    accounting, C = 6 N D P / 16), each budget's best precision marked."""
    fig, ax = plt.subplots(figsize=(5, 4))
    bits = list(range(2, 17))
    for c in (1e12, 1e15, 1e18, 1e21):
        rows = [law.optimal_precision(c, bits=[b]) for b in bits]
        losses = [r["loss"] for r in rows]
        ax.plot(bits, losses, lw=1, label=f"C {c:.0e}")
        i = int(np.argmin(losses))
        ax.scatter([bits[i]], [losses[i]], s=20)
    ax.set(xlabel="training weight bits", ylabel="loss at the optimal N",
           title="compute-optimal precision (fitted law)")
    ax.legend(fontsize=7)
    path = out / "precision_compute_optimal.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
