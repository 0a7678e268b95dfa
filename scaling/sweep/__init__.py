"""Sweeps: a grid of runs from one YAML file, planned, refused or run, resumable and shardable.

config.py  the sweep file schema        grid.py     grid -> run configs (points)
recipe.py  per-size lr / batch rules    planner.py  dry-run table, memory and time checks
store.py   claims, heartbeat, status    runner.py   the local worker loop (--shard i/n)
slurm.py   submitit job arrays          cli.py      `scaling sweep` and `scaling status`
"""
