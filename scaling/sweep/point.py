"""One point of a sweep: its run record (final: steps, microbatches and run id decided by the
grid stage, scaling/sweep/grid.py) and where it sits in the grid. Nothing later changes it: the
planner reads points, the runner trains them."""
from __future__ import annotations

from dataclasses import dataclass

from scaling.model.quant_config import precision_label
from scaling.train.config import RunConfig
from scaling.train.record import RunRecord


@dataclass(frozen=True)
class Point:
    """One run of the sweep: its run record plus where it sits in the grid."""

    index: int
    run: RunRecord                # the resolved run (config with train.steps set, N, D, FLOPs)
    params_target: float          # nominal N from grid.params
    axis: str                     # tokens | tokens_per_param | flops
    axis_value: float             # the nominal value on that axis
    tokens_target: float          # the D the grid asked for, before rounding to whole steps
    count: str = "total"          # which N the grid uses (grid.count)
    role: str = "run"             # run | trunk (of cooldown branches) | branch
    trunk_id: str = ""            # a branch's trunk

    @property
    def is_point(self) -> bool:
        """A point of the grid (a trunk is a means to its branches, not a point)."""
        return self.role != "trunk"

    @property
    def cfg(self) -> RunConfig:
        return self.run.cfg

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def n(self) -> int:
        """The N that the grid uses (total unless grid.count says otherwise)."""
        return self.run.n_total if self.count == "total" else self.run.n_nonembedding

    @property
    def precision(self) -> str:
        """The run's precision label (model.quant): none, w4, w4a8, ..."""
        return precision_label(self.run.model.quant)

    @property
    def flops_nominal(self) -> float | None:
        return self.axis_value if self.axis == "flops" else None

    @property
    def flops_own(self) -> float:
        """Exact FLOPs this point computes itself (a branch: its cooldown; a trunk: up to its
        last branch point)."""
        return self.run.flops_at(self.run.end_step - self.run.start_step)

    def to_dict(self) -> dict:
        """What results/<sweep>/points.json and runs/<id>/point.json hold for this point."""
        r, m, o = self.run, self.run.model, self.run.cfg.optim
        return {
            "index": self.index, "run_id": r.run_id, "objective": r.cfg.objective,
            "seed": r.cfg.seed, "params_target": self.params_target, "axis": self.axis,
            "axis_value": self.axis_value, "n_params_total": r.n_total,
            "n_params_nonembedding": r.n_nonembedding, "n_count": self.count,
            "d_model": m.d_model, "n_layers": m.n_layers, "n_heads": m.n_heads,
            "steps": r.steps, "batch_size": r.batch_size, "seq_len": m.seq_len,
            "tokens_target": self.tokens_target, "tokens": r.tokens,
            "flops_nominal": self.flops_nominal, "flops_6nd": r.flops_6nd, "flops": r.flops,
            "lr": o.lr, "b2": o.b2, "warmup_steps": o.warmup_steps, "schedule": o.schedule,
            "role": self.role, "trunk_id": self.trunk_id or None,
            "start_step": r.start_step, "end_step": r.end_step, "flops_own": self.flops_own,
        } | ({"precision": self.precision} if m.quant is not None else {})
