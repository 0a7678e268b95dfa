"""`model.quant`: fake quantisation as a config (no JAX here: the planner and the run record
read it without the training stack).

Precision is a scaling axis (Kumar et al. 2024, "Scaling Laws for Precision"): a run trained
with `model.quant` set rounds the weights (and, if asked, the inputs of every linear layer and
the attention keys and values) to a few integer bits in the forward pass, with straight-through
gradients (scaling/model/quant.py). The default, `model.quant: null`, is absent from run
identity (scaling/train/config.py IDENTITY_SINCE_V2), so every earlier run id stays the same.

Short labels name a setting in sweeps and tables (`parse_precision`): `none`, `w4` (weights,
4 bits), `w4a8` (plus activations at 8 bits), `w4a8kv4`, and a `-lsq` suffix for learned
scales (LSQ, Esser et al. 2020: quantisation-aware training with the scales as parameters).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from runstore import InputError
from scaling.configio import doc

BITS_MIN, BITS_MAX = 2, 8


@dataclass(frozen=True)
class QuantConfig:
    """Fake quantisation of a model: symmetric integer grids, straight-through gradients."""

    weights: int = doc("bits of every linear layer's weights (per output channel); 0 = off, "
                       f"else {BITS_MIN}-{BITS_MAX}", 0)
    activations: int = doc("bits of every linear layer's input (per token, dynamic absmax "
                           "scale); 0 = off", 0)
    kv: int = doc("bits of the attention keys and values (per token and head, dynamic); 0 = off",
                  0)
    learned_scales: bool = doc("weights: the per-channel scales are parameters trained with "
                               "the model (LSQ; log-parametrised), not absmax / qmax", False)
    embeddings: bool = doc("also quantise the token table (and so a tied output head) to "
                           "`weights` bits, per token row; otherwise it stays in the compute "
                           "dtype", False)

    def validate(self) -> None:
        for k in ("weights", "activations", "kv"):
            b = getattr(self, k)
            if b != 0 and not BITS_MIN <= b <= BITS_MAX:
                raise InputError(f"must be 0 (off) or {BITS_MIN}-{BITS_MAX} bits, got {b}", key=k,
                                 fix="e.g. model.quant.weights=4")
        if not (self.weights or self.activations or self.kv):
            raise InputError("quantises nothing (all bits are 0)", key="weights",
                             fix="set weights, activations or kv, or model.quant: null")
        if (self.learned_scales or self.embeddings) and not self.weights:
            raise InputError("learned_scales / embeddings need weights > 0", key="weights")

    def label(self) -> str:
        """The short label of this setting: w4, w4a8, w8kv4-lsq, ..."""
        s = (f"w{self.weights}" if self.weights else "") + \
            (f"a{self.activations}" if self.activations else "") + \
            (f"kv{self.kv}" if self.kv else "")
        return s + ("-lsq" if self.learned_scales else "") + ("-emb" if self.embeddings else "")

    def stored_bytes_per_param(self) -> float:
        """Bytes per weight when the model is stored or served at these bits (the per-channel
        scales are ignored: one per output channel). Training with fake quantisation still
        holds float32 master weights and Adam moments: full-precision memory."""
        return (self.weights or 32) / 8


_LABEL = re.compile(r"^(?:w(\d+))?(?:a(\d+))?(?:kv(\d+))?((?:-lsq|-emb)*)$")


def parse_precision(label: str) -> dict | None:
    """'none' -> None; 'w4a8kv4-lsq' -> {'weights': 4, 'activations': 8, 'kv': 4,
    'learned_scales': True} (the `model.quant` mapping of a grid.precision entry)."""
    text = str(label).strip().lower()
    if text in ("none", "", "fp32", "bf16", "full"):
        return None
    m = _LABEL.match(text)
    if not m or not any(m.group(i) for i in (1, 2, 3)):
        raise InputError(f"'{label}' is not a precision label", key="precision",
                         fix="write none, w4, w4a8, w8kv4, w3-lsq, ...")
    out: dict = {}
    for key, g in (("weights", 1), ("activations", 2), ("kv", 3)):
        if m.group(g):
            out[key] = int(m.group(g))
    if "-lsq" in m.group(4):
        out["learned_scales"] = True
    if "-emb" in m.group(4):
        out["embeddings"] = True
    QuantConfig(**out).validate()
    return out


def precision_label(quant: QuantConfig | dict | None) -> str:
    """The label of a `model.quant` value (a config, its dict form, or None -> 'none')."""
    if quant is None:
        return "none"
    if isinstance(quant, dict):
        quant = QuantConfig(**quant)
    return quant.label()
