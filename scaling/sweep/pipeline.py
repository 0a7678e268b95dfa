"""The sweep, one way: each stage takes the previous stage's answer and none goes back.

    load(path)                  the file, validated                        SweepConfig
    resolve(sweep)              the data: vocabulary and corpus size,      ResolvedSweep
                                known before anything is expanded
    expand(resolved, device)    final points: steps, the device's          list[Point]
                                microbatches, trunks, run ids (grid.py)
    plan(resolved, points, dev) rows and refusals, read-only (planner.py)  SweepPlan
    then either the dry run     dry_run_text(plan): the table, the compiled memory check
                                (memory_check.py), the target's compiled steps (--compile-for)
                                and the trunks, all reading the plan
    or the run                  runner.run_sweep(plan): refuse damaged results, write
                                sweep.yaml and points.json, train the shard

With `--compile-for TARGET` the device is the target's compiler (`device_for(...,
compile_for=)`: scaling/compile/session.py): the grid stage picks each point's microbatches by
its compiled peak (the fewest that fit), the plan stage refuses by that peak (or by a failed
compile) and times steps by the roofline bound, and the dry run prints the compiled table. Each
distinct step compiles once, in the stage that first asks, and is cached per (program, target)
across runs; nothing is compiled twice and no stage goes back.

The vocabulary is the data's own (scaling/data/vocab.py): the byte tokenizer's, a `tokens:`
source's, a tokenizer file's or a built token cache's. Only a BPE not trained yet is unknown
without building the cache: a dry run then assumes the requested size and says so, and a run
(`exact=True`) builds the cache first, so it expands its grid once, with the vocabulary it trains.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from runstore import InputError
from scaling.sweep import grid, planner
from scaling.sweep.config import BaseRun, SweepConfig, load_sweep
from scaling.sweep.device import Device, compile_target_device, local_device, target_device
from scaling.sweep.planner import SweepPlan
from scaling.sweep.point import Point


@dataclass(frozen=True)
class ResolvedSweep:
    """A sweep with its data resolved: what the grid stage needs and nothing it guesses."""

    sweep: SweepConfig
    vocab_size: int
    vocab_note: str                 # how the vocabulary is known
    exact: bool                     # False: a BPE not trained yet, at its requested size
    corpus: tuple[float | None, str]  # training tokens (for epochs) and how they are known
    file: str | None = None
    dataset: object = field(default=None, compare=False, repr=False)  # loaded to learn vocab

    @property
    def base(self) -> BaseRun:
        return self.sweep.run_base


def load(path: str | Path, overrides: list[str] = ()) -> SweepConfig:
    """Read, override (--set key=value) and validate a sweep file."""
    return load_sweep(path, overrides)


def resolve(sweep: SweepConfig, file: str | None = None, *, exact: bool = False,
            progress: bool = False) -> ResolvedSweep:
    """The data stage: the vocabulary (and corpus size) of the sweep's data. With `exact`, a
    vocabulary that only building the token cache can tell is learnt by building it (a run);
    without, it is taken at the requested size (a dry run: nothing is built)."""
    from scaling.data.vocab import known_vocab_size

    data = sweep.run_base.data
    vocab, note = known_vocab_size(data)
    dataset = None
    if vocab is None and exact:
        from scaling.data.dataset import load_dataset
        dataset = load_dataset(data, progress=progress)
        vocab, note = dataset.tokenizer.vocab_size, "the token cache's tokenizer (built now)"
    known = vocab is not None
    if not known:
        vocab = data.vocab_size
        note = ("assumed: the bpe's requested size; it is not trained yet, and on a small "
                "corpus it may give fewer, which the run then trains with")
    return ResolvedSweep(sweep, vocab, note, known, planner.corpus_tokens(data), file, dataset)


def device_for(sweep: SweepConfig, name: str | None = None, n_devices: int = 1,
               mfu: float | None = None, compile_for: str | None = None) -> Device:
    """The device to plan for: a compile target's (its compiler decides memory and time), an
    accelerator of the hardware table by name, else the local one (in a multi-process job,
    only after jax.distributed is initialised)."""
    dtype = sweep.run_base.model.dtype
    if compile_for:
        return compile_target_device(compile_for, dtype, mfu)
    if not name:
        return local_device(dtype, mfu)
    try:
        return target_device(name, dtype, n_devices, mfu)
    except InputError as e:  # the hardware table names its own flag (--gpu of scaling plan)
        raise InputError(e.detail, key="--device", fix=e.fix) from None


def expand(resolved: ResolvedSweep, device: Device | None = None) -> list[Point]:
    """The grid stage: every point, final (microbatches for `device`; None: the file's)."""
    return grid.expand(resolved.sweep, resolved.vocab_size, resolved.file, device=device)


def plan(resolved: ResolvedSweep, points: list[Point], device: Device, *,
         measure: bool = False) -> SweepPlan:
    """The plan stage: rows, estimates and refusals of the final points; changes nothing."""
    return planner.plan_points(resolved.sweep, points, device, measure=measure,
                               corpus=resolved.corpus, resolved=resolved)


def prepare(sweep: SweepConfig, file: str | None = None, *, device: Device | None = None,
            measure: bool = False, exact: bool = False, progress: bool = False) -> SweepPlan:
    """resolve -> expand -> plan, on `device` (default: the local one). Refuses nothing itself:
    a dry run prints the refused rows, a run calls `plan.check(file)`."""
    resolved = resolve(sweep, file, exact=exact, progress=progress)
    device = device or device_for(sweep)
    return plan(resolved, expand(resolved, device), device, measure=measure)


def dry_run_text(p: SweepPlan, *, check_memory: bool = False) -> str:
    """What `scaling sweep FILE --dry-run` prints: the plan's table, XLA's memory of each
    distinct step beside the calculator's (`check_memory`), the target compiler's table of
    each distinct step (`--compile-for`), and the trunks and branches."""
    parts = [planner.format_plan(p)]
    if check_memory:
        from scaling.sweep import memory_check
        parts.append(memory_check.format_memory_check(memory_check.check_memory(p)))
    if p.device.compiler is not None:
        from scaling.compile.report import format_report
        parts.append(format_report(p.device.compiler.report(p.points), p.device.mfu))
    if any(pt.role != "run" for pt in p.points):
        from scaling.sweep.branching import format_branches
        parts.append(format_branches(p.points))
    return "\n".join(parts)


def refuse_damaged(p: SweepPlan, store) -> None:
    """A point whose results cannot be read (summary.json damaged, or beside no valid
    config.json) is neither finished nor safe to train over: refuse the sweep before anything
    is written, naming the first such folder."""
    bad = [(r.point, st) for r in p.rows
           if (st := store.status(r.point.run_id)).status == "damaged"]
    if bad:
        pt, st = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise InputError(f"sweep {p.sweep.name}, point {pt.index}{more}: {st.detail}")
