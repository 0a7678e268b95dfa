"""`scaling sweep FILE --dry-run --check-memory`: XLA's memory analysis of each distinct point's
compiled train step on the local backend, beside the calculator's estimate (scaling/budget/
memory.py), so the calculator is checked against the compiler rather than trusted.

The step compiled is the one a run trains (`build_train_state` via the planner's
`point_train_state`: microbatches, remat, attention and FSDP as configured), lowered for
abstract windows and compiled, never run. Per device: arguments (parameters, Adam state, the
batch), temporaries, peak = arguments + outputs - donated aliases + temporaries.
"""
from __future__ import annotations

from dataclasses import dataclass

from scaling.budget.memory import fmt_bytes
from scaling.sweep.planner import SweepPlan, point_memory


@dataclass(frozen=True)
class MemoryCheck:
    indices: tuple[int, ...]     # the plan's points that share this step
    label: str
    estimate: int                # the calculator's per-device total
    xla: dict                    # compiled_memory(): arguments, temporaries, peak, ...

    @property
    def ratio(self) -> float:
        """Calculator / XLA peak."""
        return self.estimate / max(self.xla["peak"], 1)


def check_memory(plan: SweepPlan) -> list[MemoryCheck]:
    """Compile each distinct (objective, model, batch, microbatches, fsdp) of the plan once."""
    from scaling.sweep.planner import point_train_state
    from scaling.train import sharding
    from scaling.train.state import compiled_memory

    mesh = sharding.data_mesh()
    groups: dict[tuple, list] = {}
    for r in plan.rows:
        t = r.point.cfg.train
        key = (r.point.cfg.objective, r.point.run.model, r.point.run.batch_size,
               t.microbatches, t.fsdp)
        groups.setdefault(key, []).append(r.point)
    out = []
    for (obj, model, batch, k, fsdp), pts in groups.items():
        pt = pts[0]
        ts, _ = point_train_state(pt, mesh)
        xla = compiled_memory(ts, mesh, batch, pt.run.window)
        mem, _, _ = point_memory(pt, plan.device, plan.precision, k)
        label = (f"{obj} d{model.d_model} L{model.n_layers} T{model.seq_len} B{batch} mb{k} "
                 f"remat {model.remat}{' fsdp' if fsdp else ''}")
        out.append(MemoryCheck(tuple(p.index for p in pts), label, mem.total, xla))
        del ts
    return out


def format_memory_check(checks: list[MemoryCheck]) -> str:
    head = ("points", "step", "XLA args", "XLA temps", "XLA peak", "calculator", "calc/XLA")
    body = [(",".join(map(str, c.indices)), c.label, fmt_bytes(c.xla["arguments"]),
             fmt_bytes(c.xla["temporaries"]), fmt_bytes(c.xla["peak"]), fmt_bytes(c.estimate),
             f"{c.ratio:.2f}") for c in checks]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h)
              for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) if i < 2 else c.rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join(["", "memory check (per device, compiled for the local backend):",
                      line(head), line(["-" * w for w in widths]), *map(line, body)])
