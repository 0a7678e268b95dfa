"""The compiled table of a sweep file as Markdown (the README's), or of a few of its points:

    python -m scaling.compile.sweep_report sweeps/tpu_chinchilla.yaml tpu-v5p-2x2x1 [--markdown]
        [--points 0,22] [--mfu 0.35] [--readme README.md]

`make compile-report` rewrites the README's two tables (tpu_chinchilla on tpu-v5p-2x2x1 in the
project's venv, gpu_chinchilla on h100 in the GPU venv, which it builds once).

The way in for a sweep is `scaling sweep FILE --dry-run --compile-for TARGET`, where the compile
is a stage of the sweep pipeline (the planner's microbatches, refusals and times by the
compiler). This command prints the same table (`compile_points`, `format_report`) for points
expanded as the file sets them, at the fewest microbatches whose compiled peak fits, with
`--points` to compile a few of them and `--markdown` for the README. Both share the cache per
(program, target) under runstore.cache_dir()/compile, so a rerun prints in seconds.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runstore import cli_main
from scaling.compile.points import CompiledPoint, compile_points
from scaling.compile.report import format_report, recomputed_cell
from scaling.compile.targets import resolve_target


def markdown(compiled: list[CompiledPoint], mfu: float) -> str:
    head = ("points", "step", "target", "attention", "peak / HBM", "calc/XLA", "recomputed",
            "compile s",
            "roofline ms", f"step ms at MFU {mfu:g}", "TPU FLOPs ratio")
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in compiled:
        if not c.ok:
            rows.append(f"| {','.join(map(str, c.indices))} | {c.label} | {c.target.name} | "
                        f"failed: {c.result.get('error')} |" + " |" * 7)
            continue
        rl, r = c.roofline(), c.result
        impl = "/".join(sorted({i for i, _ in r.get("attention", {}).values()}))
        rows.append(
            f"| {','.join(map(str, c.indices))} | {c.label} | {c.target.name} | {impl} | "
            f"{r['peak'] / 2**30:.2f} / {c.hbm / 2**30:.0f} GiB | {c.calc_ratio:.2f} | "
            f"{recomputed_cell(c)} | "
            f"{r['compile_s']:.0f} | {rl.bound_s * 1e3:.3g} | {rl.step_seconds(mfu) * 1e3:.3g} | "
            f"{'-' if c.flops_ratio is None else f'{c.flops_ratio:.3f}'} |")
    return "\n".join(rows)


def _block(path: str, key: str) -> tuple[str, int, int]:
    """(text, start, end) of the block `<!-- compiled KEY -->` ... `<!-- /compiled -->` in the
    Markdown file `path`, between its two marker lines; one error line where there is none."""
    from runstore import InputError

    text = Path(path).read_text()
    start, end = f"<!-- compiled {key} -->", "<!-- /compiled -->"
    i = text.find(start)
    j = text.find(end, i + len(start)) if i >= 0 else -1
    if j < 0:
        raise InputError(f"no block for '{key}' in {path}", key="--readme",
                         fix=f"add the lines '{start}' and '{end}' where the table goes")
    return text, i + len(start), j


def splice(path: str, key: str, table: str) -> None:
    """Replace the block's contents (`_block`) with `table`, atomically."""
    from runstore import atomic_write_text

    text, i, j = _block(path, key)
    atomic_write_text(path, text[:i] + "\n" + table + "\n" + text[j:])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scaling.compile.sweep_report")
    p.add_argument("file")
    p.add_argument("target")
    p.add_argument("--points", default="", help="comma-separated point indices (default all)")
    p.add_argument("--mfu", type=float, default=0.35)
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--readme", default="", help="write the Markdown table into this file's "
                   "block <!-- compiled FILE TARGET --> ... <!-- /compiled --> (the README's)")
    a = p.parse_args(argv)

    def run() -> int:
        from scaling.sweep import grid, runner
        from scaling.sweep.config import load_sweep

        if a.readme:
            _block(a.readme, f"{a.file} {a.target}")  # before minutes of compiling
        sweep = load_sweep(a.file, [])
        points = [pt for pt in grid.expand(sweep, runner.vocab_from_config(sweep), file=a.file)
                  if pt.is_point]
        if a.points:
            keep = {int(i) for i in a.points.split(",")}
            points = [pt for pt in points if pt.index in keep]
        compiled = compile_points(points, resolve_target(a.target))
        if a.readme:
            splice(a.readme, f"{a.file} {a.target}", markdown(compiled, a.mfu))
            print(f"{a.readme}: the table of {a.file} on {a.target} rewritten")
            return 0
        print(markdown(compiled, a.mfu) if a.markdown else format_report(compiled, a.mfu))
        return 0

    return cli_main(run)


if __name__ == "__main__":
    sys.exit(main())
