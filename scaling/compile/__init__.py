"""Compiling a sweep's train steps for accelerators that are not here: the
TPU compiler (libtpu) and XLA's deviceless GPU compiler, on abstract meshes of the target's
devices. `compile_points(points, target)` compiles; `format_report(compiled)` prints."""
from scaling.compile.points import CompiledPoint, compile_one, compile_points
from scaling.compile.report import format_report, step_seconds
from scaling.compile.targets import Target, resolve_target

__all__ = ["CompiledPoint", "Target", "compile_one", "compile_points", "format_report",
           "resolve_target", "step_seconds"]
