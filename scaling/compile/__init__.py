"""Compiling a sweep's train steps for accelerators that are not here: the
TPU compiler (libtpu) and XLA's deviceless GPU compiler, on abstract meshes of the target's
devices. `compile_points(points, target)` compiles; `format_report(compiled)` prints.

The names below import on first use: the CLI reads `scaling.compile.targets` (no JAX) on every
command, and `scaling config show` must not pull in JAX through this package."""
from __future__ import annotations

import importlib
from typing import Any

_WHERE = {"CompiledPoint": "points", "compile_one": "points", "compile_points": "points",
          "format_report": "report", "step_seconds": "report", "Target": "targets",
          "resolve_target": "targets"}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'scaling.compile' has no attribute {name!r}")
    return getattr(importlib.import_module(f"scaling.compile.{_WHERE[name]}"), name)
