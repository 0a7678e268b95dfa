"""Options of the masked-LM and span-corruption objectives (docs/design.md, "The three objectives")."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from runstore import InputError
from scaling.configio import doc

#: The pre-training objectives (scaling/objectives/__init__.py `get_objective` builds them).
ObjectiveName = Literal["clm", "mlm", "span"]


@dataclass(frozen=True)
class MLMConfig:
    """BERT's masking: select, then replace by [MASK], a random token, or keep."""

    select_rate: float = doc("probability that a non-special position is selected", 0.15)
    mask_frac: float = doc("share of selected positions replaced by [MASK]", 0.8)
    random_frac: float = doc("share replaced by a uniformly random ordinary token", 0.1)

    def validate(self) -> None:
        if not 0 < self.select_rate < 1:
            raise InputError("must be in (0, 1)", key="select_rate")
        if self.mask_frac < 0 or self.random_frac < 0 or self.mask_frac + self.random_frac > 1:
            raise InputError("mask_frac + random_frac must be in [0, 1]", key="mask_frac")


@dataclass(frozen=True)
class SpanConfig:
    """T5's span corruption."""

    noise_density: float = doc("share of raw tokens that are noise", 0.15)
    mean_span: float = doc("mean noise span length", 3.0)

    def validate(self) -> None:
        if not 0 < self.noise_density < 1:
            raise InputError("must be in (0, 1)", key="noise_density")
        if self.mean_span < 1:
            raise InputError("must be >= 1", key="mean_span")
