"""What the compiler's own rematerialization added to a compiled step, read from its optimized
HLO text: XLA clones an instruction it recomputes under the name `<name>.remat[N]`.

XLA:GPU runs this pass whenever its estimate of the step's peak exceeds its memory limit
(`scaling.budget.memory.xla_gpu_remat_limit`); on gpu_chinchilla's larger steps it recomputes
the MLP's up-projection GEMMs of 8-13 layers (the log: "Rematerialized 11 instructions ...").
Those are real FLOPs the suite's count (6ND and the exact per-token count) does not hold, and the
compiler gives no cost analysis deviceless on GPU, so they are priced here: a recomputed dot (or a
fusion around one) costs 2 x its output elements x its contraction; any other recomputed
instruction is counted but priced at no FLOPs (elementwise work, bound by memory traffic).
"""
from __future__ import annotations

import math
import re

_DTYPE_BYTES = {"pred": 1, "s8": 1, "u8": 1, "f8e4m3fn": 1, "f8e5m2": 1, "s16": 2, "u16": 2,
                "f16": 2, "bf16": 2, "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8}
_ARRAY = re.compile(r"(\w+)\[([\d,]*)\]")
_HEADER = re.compile(r"^(?:ENTRY\s+)?%([\w.\-]+)\s.*\{\s*$")


def _dims(shape: str) -> list[int]:
    m = _ARRAY.search(shape)
    return [int(d) for d in m.group(2).split(",") if d] if m else []


def _bytes(shape: str) -> int:
    return sum(math.prod(int(d) for d in dims.split(",") if d) * _DTYPE_BYTES.get(t, 4)
               for t, dims in _ARRAY.findall(shape))


def _closing(text: str, i: int) -> int:
    """The index just past the parenthesis that closes the one at text[i]."""
    depth = 0
    for j in range(i, len(text)):
        depth += {"(": 1, ")": -1}.get(text[j], 0)
        if depth == 0:
            return j + 1
    return len(text)


def instruction(line: str) -> tuple[str, str, str, list[str], str] | None:
    """`  [ROOT ]%name = SHAPE opcode(operands), attributes` -> its five parts, else None."""
    m = re.match(r"^\s*(?:ROOT\s+)?%([\w.\-]+)\s*=\s*", line)
    if not m:
        return None
    rest = line[m.end():]
    cut = _closing(rest, 0) if rest.startswith("(") else rest.find(" ")  # a tuple, or one array
    if cut < 0:
        return None
    shape, rest = rest[:cut], rest[cut:].lstrip()
    op = re.match(r"([\w\-]+)\(", rest)
    if not op:
        return None
    end = _closing(rest, op.end() - 1)
    operands = re.findall(r"%([\w.\-]+)", rest[op.end():end - 1])
    return m.group(1), shape, op.group(1), operands, rest[end:]


def parse(text: str) -> dict[str, list[tuple[str, str, str, list[str], str]]]:
    """computation name -> its instructions as (name, shape, opcode, operand names, attributes)."""
    comps: dict[str, list] = {}
    current = None
    for line in text.splitlines():
        h = _HEADER.match(line)
        if h and not line.startswith(" "):
            current = comps.setdefault(h.group(1), [])
            continue
        ins = instruction(line) if current is not None else None
        if ins:
            current.append(ins)
    return comps


def _dot_flops(instrs, shapes: dict[str, str]) -> float:
    """2 x output elements x contraction, for the dots in one computation."""
    total = 0.0
    for _name, shape, op, operands, attrs in instrs:
        if op != "dot" or not operands:
            continue
        lhs = _dims(shapes.get(operands[0], ""))
        c = re.search(r"lhs_contracting_dims=\{([\d,]*)\}", attrs)
        k = math.prod(lhs[int(i)] for i in c.group(1).split(",") if i) if c and lhs else 0
        total += 2.0 * math.prod(_dims(shape)) * k
    return total


def _called_flops(comp: str, comps: dict, shapes: dict, seen: set) -> float:
    if comp in seen or comp not in comps:
        return 0.0
    seen.add(comp)
    flops = _dot_flops(comps[comp], shapes)
    for _n, _s, _op, _ops, attrs in comps[comp]:
        for callee in re.findall(r"calls=%([\w.\-]+)", attrs):
            flops += _called_flops(callee, comps, shapes, seen)
    return flops


def rematerialized(text: str) -> dict:
    """{"ops", "flops", "bytes"}: how many instructions the compiler recomputed, the FLOPs of
    the dots among them, and the bytes their outputs hold (per device)."""
    comps = parse(text)
    shapes = {n: s for instrs in comps.values() for n, s, *_ in instrs}
    ops, flops, nbytes = 0, 0.0, 0
    for instrs in comps.values():
        for name, shape, op, operands, attrs in instrs:
            if not re.search(r"\.remat\d*$", name):
                continue
            ops += 1
            nbytes += _bytes(shape)
            if op == "dot":
                flops += _dot_flops([(name, shape, op, operands, attrs)], shapes)
            for callee in re.findall(r"calls=%([\w.\-]+)", attrs):
                flops += _called_flops(callee, comps, shapes, set())
    return {"ops": ops, "flops": flops, "bytes": nbytes}
