"""Sweeps: a grid of runs from one YAML file, planned, refused or run, resumable and shardable.

pipeline.py  the stages, one way: load -> resolve the data -> expand -> plan -> dry run or run
config.py    the sweep file schema        grid.py     the grid -> final points (point.py)
recipe.py    per-size lr / batch rules    branching.py  wsd_branch trunks and branches
device.py    the device, its memory, microbatches    planner.py  the read-only plan, dry run
store.py     claims, heartbeat, status    runner.py   the local worker loop (--shard i/n)
ticker.py    --quiet's progress line      memory_check.py  XLA's memory beside the calculator
slurm.py     submitit job arrays          cli.py      `scaling sweep` and `scaling status`
"""
