"""Budgets before a run: compute units (compute.py), memory by term (memory.py), `scaling plan`.

Import the submodules directly (`from scaling.budget.memory import training_memory`); this package
imports nothing heavy so that the sweep planner and the CLI load fast.
"""
