"""Precisions and what one stored number costs: the one table the calculator, the planner and
the hardware table read (fp32 4 bytes, fp16 / bf16 2, int8 1, int4 half a byte per parameter; a
`model.quant` width of b bits stores b / 8, scaling/model/quant_config.py)."""
from __future__ import annotations

from runstore import InputError

#: Bytes per stored parameter (or activation element) by precision.
BYTES_PER_PARAM: dict[str, float] = {"float32": 4, "bfloat16": 2, "float16": 2, "int8": 1,
                                     "int4": 0.5}
#: Other spellings users type.
ALIASES = {"fp32": "float32", "f32": "float32", "bf16": "bfloat16", "fp16": "float16",
           "f16": "float16", "half": "float16"}


def canonical_precision(precision: str) -> str:
    """'fp32' -> 'float32', 'bf16' -> 'bfloat16', ...; unknown -> InputError."""
    p = ALIASES.get(precision.lower(), precision.lower())
    if p not in BYTES_PER_PARAM:
        raise InputError(f"unknown precision '{precision}'", key="precision",
                         fix=f"use one of {', '.join(BYTES_PER_PARAM)}")
    return p
