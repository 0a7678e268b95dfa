"""Pre-training objectives: causal LM, masked LM, span corruption."""
from __future__ import annotations

from scaling.objectives.base import Objective, Specials, weighted_xent
from scaling.objectives.clm import CausalLM


def get_objective(name: str, **kwargs) -> Objective:
    """The objective called `name` ('clm', 'mlm' or 'span'), with its options."""
    if name == "clm":
        return CausalLM()
    if name == "mlm":
        from scaling.objectives.mlm import MaskedLM
        return MaskedLM(**kwargs)
    if name == "span":
        from scaling.objectives.span import SpanCorruption
        return SpanCorruption(**kwargs)
    raise ValueError(f"unknown objective {name!r}")


__all__ = ["Objective", "Specials", "weighted_xent", "get_objective", "CausalLM"]
