"""Scaling laws as data, and compute-optimal allocation from them.

A law answers four questions for a compute budget C (FLOPs, C = 6 N D):
    n_opt(C)            compute-optimal parameters
    d_opt(C)            compute-optimal training tokens, C / (6 n_opt)
    tokens_per_param(C) D_opt / N_opt
    loss(N, D)          predicted loss (nats per loss-bearing token)
and the inverse, ``for_params(N)``: the budget and tokens that make N compute-optimal.

``ParametricLaw`` is Chinchilla's L = E + A / N^alpha + B / D^beta; its allocation under
C = 6 N D is `runstore.chinchilla_allocation`.  ``KaplanLaw`` is Kaplan et al.'s law, whose allocation is a separate
power law fitted on early-stopped runs; it has the same methods.

This module is imported by ``scaling plan``: keep ``get_law``, ``n_opt``, ``d_opt``,
``tokens_per_param``, ``loss``, ``for_params`` and ``.interval`` stable.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from analysis.bootstrap import interval
from runstore import PF_DAY, InputError, chinchilla_allocation, flops_6nd, tokens_for_flops


def _as_float_or_array(x: Any) -> Any:
    """Return a Python float for scalar input and a float ndarray otherwise."""
    arr = np.asarray(x, dtype=float)
    return float(arr) if arr.ndim == 0 else arr


class _Allocation:
    """D_opt and D/N from a law's n_opt(C), and the fit's verdict: shared by every law."""

    verdict: str | None = None

    @property
    def identified(self) -> bool:
        """False only for a law from a fit that is not identified (``verdict``): `scaling plan
        --law` and a notebook can check it before trusting an allocation."""
        return self.verdict != "not identified"

    def _warn_derived(self) -> None:
        """Warn once per law when a not-identified fit is asked for an allocation number."""
        if self.identified or getattr(self, "_warned", False):
            return
        import warnings

        from analysis.table import AnalysisWarning

        object.__setattr__(self, "_warned", True)
        warnings.warn(f"{self.name}: this law comes from a fit that is not identified (see the "
                      "fit's verdict): its N_opt, D_opt and D/N are not determined by the data",
                      AnalysisWarning, stacklevel=4)

    def d_opt(self, C: Any) -> Any:
        """Compute-optimal tokens at budget C FLOPs: C / (6 N_opt)."""
        C = np.asarray(C, dtype=float)
        return _as_float_or_array(tokens_for_flops(C, np.asarray(self.n_opt(C))))

    def tokens_per_param(self, C: Any) -> Any:
        """D_opt / N_opt at budget C."""
        return _as_float_or_array(np.asarray(self.d_opt(C)) / np.asarray(self.n_opt(C)))


@dataclass(frozen=True)
class ParametricLaw(_Allocation):
    """Chinchilla's parametric law L(N, D) = E + A / N^alpha + B / D^beta."""

    E: float
    """Irreducible loss (nats per token)."""
    A: float
    """Parameter-term coefficient."""
    B: float
    """Data-term coefficient."""
    alpha: float
    """Parameter-term exponent."""
    beta: float
    """Data-term exponent."""
    name: str = "custom"
    """Short name, e.g. 'besiroglu' or 'approach3-clm-byte'."""
    source: str = ""
    """Where the numbers come from (paper and table, or the fit file)."""
    params: str = "total"
    """Which parameter count N means: 'total' (Chinchilla) or 'nonembedding'."""
    interval: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    """None, or bootstrap intervals: {'level': 0.8, 'E': [lo, hi], ..., 'a': [...], 'b': [...]}."""
    samples: tuple[tuple[float, float, float, float, float], ...] | None = field(
        default=None, compare=False, hash=False, repr=False
    )
    """Bootstrap draws of (E, A, B, alpha, beta); gives intervals at any budget."""
    verdict: str | None = field(default=None, compare=False, hash=False, repr=False)
    """Status of the fit it came from (identified / weak / not identified; None: a published
    law).  Not written into the law's JSON: law_from_json reads it from the fit's verdict."""

    # ---- the law ---------------------------------------------------------------------
    def loss(self, N: Any, D: Any) -> Any:
        """Predicted loss at N parameters trained on D tokens (broadcasts)."""
        N = np.asarray(N, dtype=float)
        D = np.asarray(D, dtype=float)
        return _as_float_or_array(self.E + self.A / N**self.alpha + self.B / D**self.beta)

    @property
    def a(self) -> float:
        """Exponent of N_opt in C: beta / (alpha + beta)."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Exponent of D_opt in C: alpha / (alpha + beta)."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def G(self) -> float:
        """Allocation constant G = (alpha A / (beta B))^(1 / (alpha + beta))."""
        return float(self.n_opt(6.0))  # N_opt = G (C/6)^a, so G is N_opt at C = 6

    # ---- allocation ------------------------------------------------------------------
    def n_opt(self, C: Any) -> Any:
        """Compute-optimal parameters at budget C FLOPs (warns once if not ``identified``)."""
        self._warn_derived()
        C = np.asarray(C, dtype=float)
        # numpy scalars: a fit with a negative exponent gives nan here, never a Python complex
        consts = np.asarray([self.E, self.A, self.B, self.alpha, self.beta], dtype=float)
        with np.errstate(invalid="ignore"):
            n, _ = chinchilla_allocation(*consts, C)
        return _as_float_or_array(n)

    def budget_for_params(self, N: Any) -> Any:
        """Inverse of n_opt: the budget C at which N parameters are compute-optimal."""
        N = np.asarray(N, dtype=float)
        # n_opt = G (C / 6)^a inverted; C / 6 is N D at the optimum (runstore.flops_6nd)
        return _as_float_or_array(flops_6nd(1.0, (N / self.G) ** (1.0 / self.a)))

    def optimal(self, C: float, level: float | None = None) -> dict[str, Any]:
        """Everything about budget C: n_opt, d_opt, tokens_per_param, loss, and intervals.

        Intervals (keys ending in '_interval') come from the bootstrap samples when the law
        has them; ``level`` defaults to the level the law was fitted with.
        """
        n, d = float(self.n_opt(C)), float(self.d_opt(C))
        out: dict[str, Any] = {
            "flops": float(C),
            "n_opt": n,
            "d_opt": d,
            "tokens_per_param": d / n,
            "loss": float(self.loss(n, d)),
        }
        out.update(self._budget_intervals(C, level, n, d))
        return out

    def for_params(self, N: float, level: float | None = None) -> dict[str, Any]:
        """Compute-optimal budget and tokens for a model of N parameters (inverts n_opt)."""
        C = float(self.budget_for_params(N))
        out = self.optimal(C, level)
        out["n_params"] = float(N)
        return out

    def _budget_intervals(self, C: float, level: float | None, n0: float, d0: float
                          ) -> dict[str, Any]:
        """Intervals of n_opt, d_opt and D/N at C from the samples; (n0, d0): the law's own."""
        if not self.samples:
            return {}
        if level is None:
            level = float((self.interval or {}).get("level", 0.8))
        s = np.asarray(self.samples, dtype=float)
        E, A, B, al, be = s.T
        n, d = chinchilla_allocation(E, A, B, al, be, C)
        # the fit's interval construction (analysis.bootstrap.interval): BC intervals sit
        # around the law's own values; a law file without the key had percentile ones
        bc = (self.interval or {}).get("interval_method") == "bc"
        out: dict[str, Any] = {"level": level}
        for key, v, est in (("n_opt", n, n0), ("d_opt", d, d0),
                            ("tokens_per_param", d / n, d0 / n0)):
            v = v[np.isfinite(v)]
            out[key + "_interval"] = (interval(v, level, estimate=est if bc else None)
                                      if v.size else None)
        return out

    # ---- serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (the 'law' entry of a fits/*.json file)."""
        d = asdict(self)
        d.pop("verdict")  # the fit file holds it in its own 'verdict' entry
        d["kind"] = "parametric"
        d["samples"] = [list(r) for r in self.samples] if self.samples else None
        d["interval"] = dict(self.interval) if self.interval else None
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "") -> "ParametricLaw":
        """Inverse of to_dict; raises InputError naming a missing key."""
        for key in ("E", "A", "B", "alpha", "beta"):
            if key not in d:
                raise InputError("missing parameter", file=source or None, key=key,
                                 fix="give E, A, B, alpha and beta")
        samples = d.get("samples")
        return cls(
            E=float(d["E"]), A=float(d["A"]), B=float(d["B"]),
            alpha=float(d["alpha"]), beta=float(d["beta"]),
            name=str(d.get("name", "custom")), source=str(d.get("source", source)),
            params=str(d.get("params", "total")),
            interval=d.get("interval"),
            # a draw whose E, A or B overflowed is stored as null (JSON has no inf): nan here
            samples=tuple(tuple(float("nan") if x is None else float(x) for x in r)
                          for r in samples) if samples else None,
        )


@dataclass(frozen=True)
class KaplanLaw(_Allocation):
    """Kaplan et al. 2020's law, with its own power-law allocation.

    Loss (their eq. 1.5): L(N, D) = [(Nc/N)^(alphaN/alphaD) + Dc/D]^alphaD, N non-embedding
    parameters, D tokens (their BPE, WebText2).  Allocation (their Sec. 6.1, Fig. 14):
    N_opt = 1.3e9 (C_min / PF-day)^0.73, with C = 6 N D, so D_opt = C / (6 N_opt) and the
    tokens-per-parameter ratio *falls* with budget (it is the law Chinchilla corrected).
    """

    alpha_N: float = 0.076
    alpha_D: float = 0.095
    N_c: float = 8.8e13
    D_c: float = 5.4e13
    n_coef: float = 1.3e9
    """N_opt at C_min = 1 PF-day."""
    n_exp: float = 0.73
    """Exponent of N_opt in C_min."""
    name: str = "kaplan"
    source: str = ""
    params: str = "nonembedding"
    interval: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)

    @property
    def a(self) -> float:
        """Exponent of N_opt in C."""
        return self.n_exp

    @property
    def b(self) -> float:
        """Exponent of D_opt in C (from C = 6 N D)."""
        return 1.0 - self.n_exp

    def loss(self, N: Any, D: Any) -> Any:
        """Predicted loss (nats per token) at N non-embedding parameters and D tokens."""
        N = np.asarray(N, dtype=float)
        D = np.asarray(D, dtype=float)
        inner = (self.N_c / N) ** (self.alpha_N / self.alpha_D) + self.D_c / D
        return _as_float_or_array(inner**self.alpha_D)

    def n_opt(self, C: Any) -> Any:
        """Compute-optimal parameters at budget C FLOPs."""
        C = np.asarray(C, dtype=float)
        return _as_float_or_array(self.n_coef * (C / PF_DAY) ** self.n_exp)

    def budget_for_params(self, N: Any) -> Any:
        """Inverse of n_opt."""
        N = np.asarray(N, dtype=float)
        return _as_float_or_array(PF_DAY * (N / self.n_coef) ** (1.0 / self.n_exp))

    def optimal(self, C: float, level: float | None = None) -> dict[str, Any]:
        """n_opt, d_opt, tokens_per_param and loss at budget C."""
        n, d = float(self.n_opt(C)), float(self.d_opt(C))
        return {"flops": float(C), "n_opt": n, "d_opt": d, "tokens_per_param": d / n,
                "loss": float(self.loss(n, d))}

    def for_params(self, N: float, level: float | None = None) -> dict[str, Any]:
        """Budget and tokens at which N parameters are compute-optimal."""
        out = self.optimal(float(self.budget_for_params(N)))
        out["n_params"] = float(N)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict."""
        d = asdict(self)
        d.pop("verdict", None)
        d["kind"] = "kaplan"
        d["interval"] = dict(self.interval) if self.interval else None
        return d


Law = ParametricLaw | KaplanLaw

#: Published laws, as data with their sources.
REFERENCE_LAWS: dict[str, Law] = {
    "hoffmann": ParametricLaw(
        E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28, name="hoffmann",
        source="Hoffmann et al. 2022, 'Training Compute-Optimal Large Language Models', "
               "approach 3, eq. 10 (rounded as printed; MassiveText, SentencePiece tokens)",
    ),
    "besiroglu": ParametricLaw(
        E=1.82, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658, name="besiroglu",
        source="Besiroglu et al. 2024, 'Chinchilla Scaling: A replication attempt', "
               "refit of Hoffmann et al.'s approach-3 data (sum of Huber losses, full L-BFGS)",
    ),
    "kaplan": KaplanLaw(
        source="Kaplan et al. 2020, 'Scaling Laws for Neural Language Models': eq. 1.5 with "
               "alphaN 0.076, alphaD 0.095, Nc 8.8e13, Dc 5.4e13 (non-embedding N); "
               "allocation Sec. 6.1 / Fig. 14, N_opt = 1.3e9 (C_min/PF-day)^0.73",
    ),
}


def law_from_json(path: str | Path) -> Law:
    """Load a law from a fits/*.json file (approach 3) or a plain {E, A, B, alpha, beta} file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read law JSON ({exc})", file=str(path),
                         fix="pass a fits/approach3-*.json written by `scaling fit`") from exc
    law = data.get("law", data) if isinstance(data, dict) else None
    if not isinstance(law, dict):
        raise InputError("no law in this file", file=str(path), key="law",
                         fix="pass a fits/approach3-*.json written by `scaling fit --approach 3`")
    if law.get("kind") == "kaplan":
        fields = {k: law[k] for k in KaplanLaw.__dataclass_fields__ if k in law}
        return KaplanLaw(**fields)
    status = (data.get("verdict") or {}).get("status") if isinstance(data, dict) else None
    return dataclasses.replace(ParametricLaw.from_dict(law, source=str(path)), verdict=status)


def quiet(law: Any) -> Any:
    """The law without its verdict (no warnings): for figures that label the fit themselves."""
    return dataclasses.replace(law, verdict=None) if getattr(law, "verdict", None) else law


def get_law(name_or_path: str | Path) -> Law:
    """A reference law by name ('hoffmann', 'besiroglu', 'kaplan'), or a law from a JSON file.

    A results folder is accepted too when its fits/ holds exactly one approach-3 fit.
    """
    key = str(name_or_path)
    if key.lower() in REFERENCE_LAWS:
        return REFERENCE_LAWS[key.lower()]
    return law_from_json(law_file(key))


def law_file(name_or_path: str | Path) -> Path:
    """The JSON file a law that is not a reference one comes from: the file itself, or a
    results folder's one fits/approach3*.json; InputError otherwise."""
    path = Path(name_or_path)
    if path.is_dir():
        fits = sorted((path / "fits").glob("approach3*.json")) if (path / "fits").is_dir() else []
        if len(fits) != 1:
            found = ", ".join(f.name for f in fits) or "none"
            raise InputError(f"expected exactly one approach3*.json, found {found}",
                             file=str(path / "fits"),
                             fix="pass the fit file itself, or run `scaling fit --approach 3`")
        return fits[0]
    if path.suffix == ".json" or path.exists():
        if not path.exists():
            raise InputError("no such file", file=str(path), fix="check the path")
        return path
    raise InputError(f"unknown law {str(name_or_path)!r}", fix=f"use one of "
                     f"{sorted(REFERENCE_LAWS)} or a path to a fits/approach3-*.json file")

