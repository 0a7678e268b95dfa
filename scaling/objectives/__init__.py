"""Pre-training objectives: causal LM, masked LM, span corruption.

The objective modules need jax; their options (objectives/config.py) do not, so the names below
load on first use and a config can be read (`scaling config show`) without importing jax.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scaling.objectives.base import Objective, Specials, weighted_xent
    from scaling.objectives.clm import CausalLM

_LAZY = {"Objective": "base", "Specials": "base", "weighted_xent": "base", "CausalLM": "clm"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"scaling.objectives.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'scaling.objectives' has no attribute {name!r}")


def get_objective(name: str, **kwargs) -> "Objective":
    """The objective called `name` ('clm', 'mlm' or 'span'), with its options."""
    if name == "clm":
        from scaling.objectives.clm import CausalLM
        return CausalLM()
    if name == "mlm":
        from scaling.objectives.mlm import MaskedLM
        return MaskedLM(**kwargs)
    if name == "span":
        from scaling.objectives.span import SpanCorruption
        return SpanCorruption(**kwargs)
    raise ValueError(f"unknown objective {name!r}")


__all__ = ["Objective", "Specials", "weighted_xent", "get_objective", "CausalLM"]
