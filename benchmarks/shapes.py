"""The step benchmarks' one shapes table: the peers' configs A, B and C.

The peers (a nanoGPT-style JAX/Flax step and PyTorch eager, docs/performance.md) train a
decoder-only transformer on random tokens of a 256-id vocabulary; every step benchmark times
these three shapes, so that their figures compare. `warmup` and `steps` are the peers' own
untimed and timed steps per process. Standard library only: the torch environment imports it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class StepShape:
    """One benchmark shape: the model, the batch, and how many steps to time."""

    d_model: int
    n_layers: int
    n_heads: int
    seq_len: int
    batch: int
    vocab: int = 256     # ordinary ids (the suite adds its reserved ids for mlm / span)
    warmup: int = 3      # untimed steps after the compiling one
    steps: int = 10      # timed steps (the median is reported)

    @property
    def model_kwargs(self) -> dict:
        """The shape as `benchmarks.suite_step.build` takes it."""
        return {"d_model": self.d_model, "n_layers": self.n_layers, "n_heads": self.n_heads,
                "seq_len": self.seq_len, "vocab": self.vocab}

    def cli_args(self, steps_scale: float = 1.0) -> list[str]:
        """The peers' (and `python -m benchmarks.suite_step`'s) command-line flags."""
        out = []
        for k, v in asdict(self).items():
            if k == "steps":
                v = max(3, int(v * steps_scale))
            out += [f"--{k.replace('_', '-')}", str(v)]
        return out


SHAPES: dict[str, StepShape] = {
    "A": StepShape(d_model=128, n_layers=4, n_heads=4, seq_len=256, batch=16, warmup=5, steps=40),
    "B": StepShape(d_model=256, n_layers=6, n_heads=8, seq_len=256, batch=16, warmup=3, steps=20),
    "C": StepShape(d_model=512, n_layers=8, n_heads=8, seq_len=512, batch=8, warmup=2, steps=10),
}
