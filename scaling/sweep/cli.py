"""`scaling sweep FILE` and `scaling sweep status RESULTS` (`scaling status`: its old name).

    scaling sweep FILE [--dry-run] [--device h100 [--devices 8]] [--mfu 0.4] [--measure]
                       [--compile-for TARGET]
                       [--shard i/n] [--out DIR] [--set KEY=VALUE ...] [--quiet]
                       [--executor inline|slurm|local] [--slurm-partition P] [--slurm-time MIN]
                       [--slurm-gpus G] [--slurm-cpus C] [--slurm-mem GB] [--slurm-tasks N]
                       [--slurm-account A] [--slurm-qos Q] [--wait]
    scaling sweep status RESULTS [--json]

Every check (the file, the grid, memory, zero steps) runs before anything is written; a refusal
prints the reason, names the file and key, and exits 2. Exit 1 if a point failed, else 0.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from runstore import InputError

SWEEP_EPILOG = """\
examples:
  scaling sweep sweeps/quickstart.yaml --dry-run
  scaling sweep sweeps/quickstart.yaml --device h100 --devices 8 --mfu 0.4
  scaling sweep sweeps/tpu_chinchilla.yaml --dry-run --compile-for tpu-v5p-2x2x1
  scaling sweep sweeps/quickstart.yaml --set recipe.batch_size=16 --quiet
  scaling sweep status results/quickstart        # its progress (--json for a script)

Every sweep-file key and its default: scaling config show sweep.
"""


def _add_sweep_args(p: argparse.ArgumentParser) -> None:
    from scaling.cli_args import add_distributed_args, add_set_arg

    p.add_argument("file", help="sweep YAML (sweeps/*.yaml)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (one row per point) and write nothing")
    p.add_argument("--device", help="plan for this accelerator from the hardware table (h100, "
                   "a100, tpu-v5e, ...) instead of the local device; implies --dry-run")
    p.add_argument("--devices", type=int, default=1, help="devices per run with --device")
    p.add_argument("--compile-for", metavar="TARGET", help="plan for TARGET (h100x8, a100x8, "
                   "tpu-v5e-2x2, tpu-v5p-2x2x1, ...) by compiling every distinct point's train "
                   "step with the target's own compiler (no such device needed; TPU: the [tpu] "
                   "extra): memory, microbatches and refusals by its peak, time by its "
                   "roofline; implies --dry-run")
    p.add_argument("--mfu", type=float, help="assumed model-FLOPs utilisation for time estimates")
    p.add_argument("--measure", action="store_true",
                   help="time a few steps per shape on the local device instead of assuming MFU")
    p.add_argument("--shard", default="0/1", help="run the slice i/n of the sorted grid")
    p.add_argument("--out", metavar="DIR", help="the results folder it writes (default: the "
                   "file's `out`, or results/<name>)")
    add_set_arg(p, "sweep-file", "recipe.batch_size=16")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--worker", default="", help="worker name recorded in claims")
    p.add_argument("--executor", choices=("inline", "slurm", "local"), default="inline",
                   help="inline: train here; slurm: submit a job array with submitit; local: "
                        "the same array through submitit's local executor")
    _add_slurm_args(p)
    p.add_argument("--wait", action="store_true", help="with --executor: wait for the array")
    p.add_argument("--check-memory", action="store_true",
                   help="with --dry-run: compile each distinct point's train step here and print "
                        "XLA's memory analysis beside the calculator's estimate")
    add_distributed_args(p)


def _add_slurm_args(p: argparse.ArgumentParser) -> None:
    """SLURM's own vocabulary (--slurm-gpus is its GPUs per task, not a --devices)."""
    p.add_argument("--slurm-partition", default="")
    p.add_argument("--slurm-time", type=int, default=240, help="minutes per array task")
    p.add_argument("--slurm-gpus", type=int, default=1, help="GPUs per task")
    p.add_argument("--slurm-cpus", type=int, default=8, help="CPUs per task")
    p.add_argument("--slurm-mem", type=float, default=0.0, help="GB of memory per task")
    p.add_argument("--slurm-tasks", type=int, default=0, help="array size (default: points, "
                   "at most 64)")
    p.add_argument("--slurm-parallelism", type=int, default=0)
    p.add_argument("--slurm-account", default="")
    p.add_argument("--slurm-qos", default="")
    p.add_argument("--slurm-constraint", default="")
    p.add_argument("--slurm-nodes", type=int, default=1,
                   help="nodes per array task: > 1 trains each point as one multi-node run")
    p.add_argument("--slurm-tasks-per-node", type=int, default=1,
                   help="processes per node (one per GPU) of that multi-process run")


def register(sub) -> None:
    """`scaling sweep FILE` and `scaling sweep status RESULTS` (old name: `scaling status`)."""
    s = sub.add_parser("sweep", help="run (or --dry-run) a sweep file; scaling sweep status "
                       "RESULTS: its progress", description="Run (or plan) a sweep file.",
                       epilog=SWEEP_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_sweep_args(s)
    s.set_defaults(run=_sweep)
    st = sub.add_parser("sweep-status", prog="scaling sweep status",
                        description="Progress of a sweep's results folder.")
    st.add_argument("results", help="results/<sweep>")
    st.add_argument("--json", action="store_true", help="print JSON instead of the table")
    st.set_defaults(run=_status)


def _sweep(a: argparse.Namespace) -> int:
    """The one-way pipeline (scaling/sweep/pipeline.py): load -> resolve the data -> expand ->
    plan (read-only) -> dry run, submit or run."""
    from scaling.sweep import grid, pipeline

    sweep = pipeline.load(a.file, a.set)
    if a.out:
        import dataclasses
        sweep = dataclasses.replace(sweep, out=a.out)
    shard = grid.parse_shard(a.shard)
    if a.mfu is not None and not 0 < a.mfu <= 1:
        raise InputError("must be in (0, 1]", key="--mfu")
    if a.devices < 1:
        raise InputError("must be >= 1", key="--devices")
    if a.compile_for:
        _check_compile_for(a)
    if a.device and a.measure:
        raise InputError("--measure times the local device; drop it with --device",
                         key="--measure")
    # before anything asks JAX for its devices; the flags are checked even without --coordinator
    from scaling.train.sharding import initialize_distributed
    initialize_distributed(a.coordinator, a.num_processes, a.process_id, a.init_timeout)
    device = pipeline.device_for(sweep, a.device, a.devices, a.mfu, compile_for=a.compile_for)
    plan = pipeline.prepare(sweep, a.file, device=device, measure=a.measure)
    if a.dry_run or a.device or a.compile_for:
        print(pipeline.dry_run_text(plan, check_memory=a.check_memory))
        plan.check(a.file)  # a refused point: exit 2 after the table
        return 0
    plan.check(a.file)
    if a.executor != "inline":
        return _submit(a, sweep, len(plan.points))
    from scaling.sweep import runner
    from scaling.sweep.store import Store
    pipeline.refuse_damaged(plan, Store(sweep.out_dir))  # before anything is written
    outcome = runner.run_sweep(sweep, file=a.file, shard=shard, quiet=a.quiet, worker=a.worker,
                               plan=plan)
    return 0 if outcome.ok else 1


def _check_compile_for(a: argparse.Namespace) -> None:
    """--compile-for names the device itself and compiles for it: it takes no second device."""
    for flag, given in (("--device", a.device), ("--devices", a.devices != 1),
                        ("--measure", a.measure), ("--check-memory", a.check_memory)):
        if given:
            raise InputError(f"{flag} with --compile-for: the target names the devices and "
                             "its compiler measures the steps", key="--compile-for",
                             fix=f"drop {flag}")


def _submit(a, sweep, n_points: int) -> int:
    """SLURM array tasks through submitit; with --wait, their outcome."""
    from scaling.sweep import slurm
    opts = slurm.SlurmOptions(partition=a.slurm_partition, time_min=a.slurm_time,
                              gpus=a.slurm_gpus, cpus=a.slurm_cpus, mem_gb=a.slurm_mem,
                              tasks=a.slurm_tasks, parallelism=a.slurm_parallelism,
                              account=a.slurm_account, qos=a.slurm_qos,
                              constraint=a.slurm_constraint, nodes=a.slurm_nodes,
                              tasks_per_node=a.slurm_tasks_per_node)
    jobs = slurm.submit(sweep, n_points, kind=a.executor, opts=opts, file=a.file)
    print(f"submitted {len(jobs)} array tasks ({a.executor}): "
          f"{', '.join(str(j.job_id) for j in jobs)}; logs in "
          f"{Path(sweep.out_dir).resolve() / 'slurm'}; follow with: scaling sweep status "
          f"{sweep.out_dir}")
    if not a.wait:
        return 0
    results = [j.result() for j in jobs]
    print(json.dumps(results, indent=1))
    return 1 if sum(len(r["failed"]) for r in results) else 0


# ---- status ----

def status_rows(root: Path) -> tuple[list[dict], dict]:
    """Per point: status, progress, last loss; and counts by status."""
    from scaling.sweep.store import Store, progress

    store = Store(root)
    store.stale_s = _stale_s(root / "sweep.yaml", store.stale_s)
    try:
        points = store.read_points()
    except InputError as e:  # a reader reports a damaged file and goes on with runs/
        _warn(e)
        points = []
    if not points:
        if not store.runs.is_dir():
            raise InputError("not a sweep results folder (no points.json, no runs/)",
                             file=str(root), fix="pass results/<sweep>")
        points = [{"run_id": d.name, "index": i} for i, d in
                  enumerate(sorted(p for p in store.runs.iterdir() if p.is_dir()))]
    rows, counts = [], {}
    for pt in points:
        st = store.status(pt["run_id"])
        pr = progress(store.run_dir(pt["run_id"]), pt)
        if st.status in ("done", "diverged"):
            pr.step = pr.steps or pr.step
        rows.append({"index": pt.get("index"), "run_id": pt["run_id"],
                     "precision": pt.get("precision"), "status": st.status,
                     "detail": st.detail, "step": pr.step, "steps": pr.steps,
                     "train_loss": pr.loss, "eval_loss": pr.eval_loss,
                     "tokens_per_s": pr.tokens_per_s,
                     "flops_per_s": pr.flops_per_s,
                     "flops_left": pr.flops_left if st.status not in ("done", "diverged") else 0,
                     "worker": (st.claim or {}).get("worker")})
        counts[st.status] = counts.get(st.status, 0) + 1
        if st.status == "damaged":
            print(f"warning: {st.detail}", file=sys.stderr)
    return rows, counts


def _warn(e: InputError) -> None:
    print(f"warning: {e}", file=sys.stderr)


def _stale_s(sweep_file: Path, default: float) -> float:
    """claims.stale_s of the sweep as run; a damaged sweep.yaml is reported, the default used."""
    from runstore import load_yaml_text
    try:
        raw = load_yaml_text(sweep_file.read_text(encoding="utf-8"), str(sweep_file))
        v = raw.get("claims", {}).get("stale_s", default)
        return float(v) if isinstance(v, (int, float)) and v > 0 else default
    except FileNotFoundError:
        return default
    except (OSError, UnicodeDecodeError, AttributeError, InputError) as e:
        _warn(e if isinstance(e, InputError) else InputError(
            f"unreadable sweep.yaml ({e})", file=str(sweep_file)))
        return default


def _eta(rows: list[dict]) -> float | None:
    """Remaining exact FLOPs / recent FLOP/s (FLOP rates vary less across sizes than tokens/s),
    times the number of workers running now (at least one)."""
    rates = [r["flops_per_s"] for r in rows if r["status"] == "running" and r["flops_per_s"]]
    if not rates:
        rates = [r["flops_per_s"] for r in rows if r["flops_per_s"]]
    left = sum(r["flops_left"] for r in rows if r["status"] in ("running", "pending", "failed"))
    if not left:
        return 0.0
    if not rates:
        return None
    n_running = max(1, sum(r["status"] == "running" for r in rows))
    return left / (sum(rates) / len(rates) * n_running)


def _status(a: argparse.Namespace) -> int:
    root = Path(a.results)
    if not root.is_dir():
        raise InputError("no such folder", file=str(root), fix="pass results/<sweep>")
    rows, counts = status_rows(root)
    eta = _eta(rows)
    if a.json:
        print(json.dumps({"counts": counts, "eta_s": eta, "points": rows}, indent=1))
        return 0
    from scaling.sweep.planner import fmt_time
    order = ("done", "diverged", "failed", "running", "pending") + (
        ("damaged",) if counts.get("damaged") else ())
    print(f"{root}: {len(rows)} points: " + ", ".join(f"{counts.get(k, 0)} {k}" for k in order))
    w = max([len(r["run_id"]) for r in rows] + [6])
    pw = max([len(r["precision"] or "") for r in rows] + [0])
    pw = max(pw, 4) if pw else 0  # a precision column only for a precision grid
    pcol = lambda text: f"{text:<{pw}}  " if pw else ""  # noqa: E731
    print(f"{'#':>3}  {'run':<{w}}  {pcol('prec')}{'status':<9}  {'progress':>13}  {'loss':>7}  {'eval':>7}  "
          f"{'tok/s':>8}  detail")
    for r in rows:
        prog = f"{r['step']}/{r['steps']}" if r["steps"] else str(r["step"])
        f = lambda x: "-" if x is None else f"{x:.4f}"
        rate = "-" if not r["tokens_per_s"] else f"{r['tokens_per_s']:.0f}"
        idx = "" if r["index"] is None else str(r["index"])
        print(f"{idx:>3}  {r['run_id']:<{w}}  {pcol(r['precision'] or 'none')}{r['status']:<9}  {prog:>13}  "
              f"{f(r['train_loss']):>7}  {f(r['eval_loss']):>7}  {rate:>8}  "
              f"{r['detail'] or (r['worker'] or '')}")
    print(f"ETA: {fmt_time(eta) if eta is not None else 'unknown (no throughput yet)'}"
          + (" (remaining FLOPs at the recent FLOP/s)" if eta else ""))
    return 0
