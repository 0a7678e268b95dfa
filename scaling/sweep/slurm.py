"""Submitting a sweep as a job array through submitit: task i of n runs `--shard i/n`.

    scaling sweep sweeps/x.yaml --executor slurm --slurm-partition gpu --slurm-time 240 \\
        --slurm-gpus 1 [--slurm-tasks 8] [--slurm-cpus 8] [--slurm-mem 64] [--slurm-account A]

Each array task is one local worker (scaling/sweep/runner.py) on its own slice of the sorted grid;
claims in the shared results folder keep tasks (and any workers started by hand) from training a
point twice. A task that hits its time limit or is preempted is requeued by submitit
(`checkpoint()` below) and resumes: finished points are skipped, the unfinished one continues from
its last orbax checkpoint, and its old claim is recognised as its own (same array task) and taken
back at once. `--executor local` runs the same array through submitit's LocalExecutor (tests, or a
workstation). Submission logs go to <out>/slurm/.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runstore import InputError
from scaling.sweep.config import SweepConfig


@dataclass(frozen=True)
class SlurmOptions:
    partition: str = ""
    time_min: int = 240
    gpus: int = 1
    cpus: int = 8
    mem_gb: float = 0.0
    tasks: int = 0           # array size; 0 = one task per point (capped at 64)
    parallelism: int = 0     # concurrently running tasks; 0 = all
    account: str = ""
    qos: str = ""
    constraint: str = ""
    nodes: int = 1           # > 1 (or tasks_per_node > 1): each array task is ONE multi-process
    tasks_per_node: int = 1  # run, its processes joined by jax.distributed from SLURM's env


class ShardTask:
    """The callable each array task runs (picklable; requeued on timeout or preemption)."""

    def __init__(self, sweep: SweepConfig, out: str, n: int, file: str | None = None,
                 multi_process: bool = False):
        self.sweep, self.out, self.n, self.file = sweep, out, n, file
        self.multi_process = multi_process

    def __call__(self, i: int) -> dict:
        import os

        from scaling.sweep.runner import run_sweep

        if self.multi_process:  # every task of this job is one process of the same runs
            os.environ["SCALING_DISTRIBUTED"] = "1"
        o = run_sweep(self.sweep, file=self.file, shard=(i, self.n), out=self.out)
        return {"shard": f"{i}/{self.n}", "trained": o.trained, "failed": o.failed,
                "diverged": o.diverged, "skipped_finished": o.skipped_finished,
                "skipped_claimed": o.skipped_claimed}

    def checkpoint(self, i: int):  # submitit calls this on timeout / preemption
        import submitit
        return submitit.helpers.DelayedSubmission(ShardTask(self.sweep, self.out, self.n,
                                                            self.file, self.multi_process), i)


def executor(kind: str, folder: Path, opts: SlurmOptions, n_tasks: int, name: str):
    try:
        import submitit
    except ImportError:
        raise InputError("the slurm executor needs submitit", key="--executor",
                          fix="pip install 'scaling-suite[slurm]' (or pip install submitit)") \
            from None
    if kind == "slurm":
        if not opts.partition:
            raise InputError("--executor slurm needs a partition", key="--slurm-partition",
                              fix="e.g. --slurm-partition gpu")
        ex = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
    elif kind == "local":
        ex = submitit.AutoExecutor(folder=str(folder), cluster="local")
    else:
        raise InputError(f"unknown executor '{kind}'", key="--executor",
                          fix="use inline, slurm or local")
    params = {"timeout_min": opts.time_min, "name": f"sweep-{name}", "nodes": opts.nodes,
              "tasks_per_node": opts.tasks_per_node, "cpus_per_task": opts.cpus}
    if kind == "slurm":
        params.update(gpus_per_node=opts.gpus, slurm_partition=opts.partition,
                      slurm_array_parallelism=opts.parallelism or n_tasks)
        if opts.mem_gb:
            params["mem_gb"] = opts.mem_gb
        if opts.account:
            params["slurm_account"] = opts.account
        if opts.qos:
            params["slurm_qos"] = opts.qos
        if opts.constraint:
            params["slurm_constraint"] = opts.constraint
    ex.update_parameters(**params)
    return ex


def submit(sweep: SweepConfig, n_points: int, *, kind: str = "slurm",
           opts: SlurmOptions = SlurmOptions(), out: str | Path | None = None,
           file: str | None = None) -> list:
    """Submit the array (n tasks, each `--shard i/n`); return submitit jobs."""
    out = Path(out or sweep.out_dir).resolve()
    n = opts.tasks or min(max(n_points, 1), 64)
    if n < 1:
        raise InputError("must be >= 1", key="--slurm-tasks")
    ex = executor(kind, out / "slurm", opts, n, sweep.name)
    task = ShardTask(sweep, str(out), n, file,
                     multi_process=opts.nodes * opts.tasks_per_node > 1)
    return ex.map_array(task, list(range(n)))
