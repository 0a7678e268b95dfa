"""Approaches 1 and 2's law: power laws N_opt = k C^a and D_opt = k_D C^b, with the methods
every law has (analysis/laws.py): n_opt, d_opt, tokens_per_param, optimal(C), for_params(N),
a, b, ``verdict`` and ``identified``.  It has no loss model, so no ``loss(N, D)``.

Asked for a number far from the budgets it was fitted on (more than a decade outside), or
from a fit that is not identified, it warns once (analysis.table.AnalysisWarning)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from runstore import tokens_for_flops


@dataclass(frozen=True)
class PowerLaw:
    """y = k x^exponent, fitted by least squares in log space."""

    k: float
    exponent: float

    def __call__(self, x: Any) -> Any:
        return self.k * np.asarray(x, dtype=float) ** self.exponent


def fit_power_law(x: np.ndarray, y: np.ndarray) -> PowerLaw:
    """Least squares of log y on log x."""
    slope, icpt = np.polyfit(np.log(x), np.log(y), 1)
    return PowerLaw(k=float(np.exp(icpt)), exponent=float(slope))


def _float(v: Any) -> Any:
    arr = np.asarray(v, dtype=float)
    return float(arr) if arr.ndim == 0 else arr


@dataclass(frozen=True)
class PowerAllocation:
    """N_opt = k C^a and D_opt = k_D C^b (approaches 1 and 2)."""

    n_law: PowerLaw
    d_law: PowerLaw
    name: str = "power-law allocation"
    """Short name: 'approach2-clm-byte'."""
    verdict: str | None = field(default=None, compare=False)
    """The status of the fit it came from (identified / weak / not identified), or None."""
    c_range: tuple[float, float] | None = field(default=None, compare=False)
    """The smallest and largest budget fitted."""

    @property
    def identified(self) -> bool:
        """False only for a law from a fit that is not identified."""
        return self.verdict != "not identified"

    @property
    def a(self) -> float:
        """Exponent of N_opt in C."""
        return self.n_law.exponent

    @property
    def b(self) -> float:
        """Exponent of D_opt in C."""
        return self.d_law.exponent

    def _check(self, C: Any) -> None:
        if getattr(self, "_warned", False):
            return
        from analysis.table import AnalysisWarning

        c = np.asarray(C, dtype=float)
        why = []
        if not self.identified:
            why.append("its fit is not identified (see the fit's verdict)")
        if self.c_range and c.size and (c.max() > 10 * self.c_range[1]
                                        or c.min() < self.c_range[0] / 10):
            why.append(f"C {c.max() if c.max() > self.c_range[1] else c.min():.3g} is more "
                       f"than a decade outside the budgets fitted ({self.c_range[0]:.3g} to "
                       f"{self.c_range[1]:.3g})")
        if why:
            object.__setattr__(self, "_warned", True)
            warnings.warn(f"{self.name}: {'; '.join(why)}: its N_opt, D_opt and D/N there are "
                          "extrapolations the data do not pin down", AnalysisWarning,
                          stacklevel=3)

    def n_opt(self, C: Any) -> Any:
        """Compute-optimal parameters at budget C FLOPs."""
        self._check(C)
        return _float(self.n_law(C))

    def d_opt(self, C: Any) -> Any:
        """Compute-optimal tokens at budget C FLOPs."""
        self._check(C)
        return _float(self.d_law(C))

    def tokens_per_param(self, C: Any) -> Any:
        """D_opt / N_opt at budget C."""
        self._check(C)
        return _float(self.d_law(C) / self.n_law(C))

    def optimal(self, C: float, level: float | None = None) -> dict[str, Any]:
        """flops, n_opt, d_opt and tokens_per_param at budget C (no loss: this law has no loss
        model; intervals are in the fit's allocation table)."""
        n, d = float(self.n_opt(C)), float(self.d_opt(C))
        return {"flops": float(C), "n_opt": n, "d_opt": d, "tokens_per_param": d / n}

    def budget_for_params(self, N: Any) -> Any:
        """Inverse of n_opt: the budget C at which N parameters are compute-optimal."""
        return _float((np.asarray(N, dtype=float) / self.n_law.k) ** (1.0 / self.n_law.exponent))

    def for_params(self, N: float, level: float | None = None) -> dict[str, Any]:
        """Budget and tokens at which N parameters are compute-optimal."""
        out = self.optimal(float(self.budget_for_params(N)))
        out["n_params"] = float(N)
        out["d_opt"] = float(tokens_for_flops(out["flops"], N))
        return out
