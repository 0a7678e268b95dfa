"""What every fit result shares, whichever approach made it (one type, the same names).

Every fit (EnvelopeFit, IsoFlopFit, ParametricFit) has:
    approach      1, 2 or 3
    group         (objective, tokenizer); ``name`` is "clm/byte", as RunTable.groups() keys it
    params        'total' or 'nonembedding'
    law           what predicts the allocation: ``.n_opt(C)``, ``.d_opt(C)``,
                  ``.tokens_per_param(C)``, ``.a``, ``.b`` (approach 3 also ``.loss(N, D)``)
    allocation    one dict per reporting budget: flops, n_opt, d_opt, tokens_per_param,
                  bytes_per_param, and ``*_interval`` when bootstrapped
    intervals     bootstrap intervals of the fitted parameters (a, b, ...) or None
    verdict       analysis.identify.Verdict
    bootstrap, level, bytes_per_token
and the methods below: a short repr, an HTML table for notebooks, ``plot(ax=None)`` returning
the Axes (it never changes the matplotlib backend), ``to_dict()`` and ``to_pandas()``.
"""

from __future__ import annotations

import html
from typing import Any


def _iv(row: dict[str, Any], key: str) -> str:
    v, iv = row.get(key), row.get(key + "_interval")
    if v is None:
        return "n/a"
    return f"{v:.3g}" + (f" [{iv[0]:.3g}, {iv[1]:.3g}]" if iv else "")


class FitResult:
    """Mixin of the three fit dataclasses (they declare the fields named in the module doc)."""

    approach: int = 0

    @property
    def name(self) -> str:
        return "/".join(self.group)

    @property
    def a(self) -> float:
        """Exponent of N_opt in C."""
        return self.law.a

    @property
    def b(self) -> float:
        """Exponent of D_opt in C."""
        return self.law.b

    def headline(self) -> dict[str, Any] | None:
        """The allocation row at the largest reporting budget; None when not identified."""
        if not self.allocation or self.verdict.status == "not identified":
            return None
        return max(self.allocation, key=lambda r: r["flops"])

    def _common_dict(self) -> dict[str, Any]:
        return {"approach": self.approach,
                "group": {"objective": self.group[0], "tokenizer": self.group[1],
                          **({"by": self.group[2]} if len(self.group) > 2 else {})},
                "params": self.params, "a": self.a, "b": self.b,
                **({"n_counted": self.n_counted} if getattr(self, "n_counted", None) else {})}

    def _tail_dict(self) -> dict[str, Any]:
        return {"bootstrap": self.bootstrap, "level": self.level, "intervals": self.intervals,
                "allocation": [dict(r) for r in self.allocation],
                "bytes_per_token": self.bytes_per_token, "verdict": self.verdict.to_dict()}

    def __repr__(self) -> str:
        top = max(self.allocation, key=lambda r: r["flops"]) if self.allocation else None
        ratio = (f"D/N {_iv(top, 'tokens_per_param')} at C {top['flops']:.3g}"
                 if top and self.verdict.status != "not identified" else "D/N -")
        return (f"{type(self).__name__}(approach {self.approach}, {self.name}, {self.params} N, "
                f"a {self.a:.3f}, {ratio}, {self.verdict.label})")

    def _repr_html_(self) -> str:
        head = html.escape(repr(self))
        reasons = "".join(f"<li>{html.escape(r)}</li>" for r in self.verdict.reasons)
        cells = ["C (FLOPs)", "N_opt", "D_opt", "D/N"]
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(s)}</td>" for s in (
                f"{r['flops']:.3g}", _iv(r, "n_opt"), _iv(r, "d_opt"),
                _iv(r, "tokens_per_param") if self.verdict.status != "not identified" else "-"))
            + "</tr>" for r in self.allocation)
        return (f"<div><b>{head}</b>" + (f"<ul>{reasons}</ul>" if reasons else "")
                + "<table><tr>" + "".join(f"<th>{c}</th>" for c in cells) + f"</tr>{rows}"
                "</table></div>")

    def to_pandas(self, table: str = "allocation") -> Any:
        """table='minima' (approach 2): one row per IsoFLOP budget, ``minima_rows()``.

        Otherwise the allocation table as a pandas DataFrame, one row per reporting budget: group,
        approach, params, flops, n_opt, d_opt, tokens_per_param (bytes_per_param, loss where
        known), each interval as two columns (``n_opt_lo``, ``n_opt_hi``, at ``level``) and
        the verdict (status; ``provisional`` when decided without a bootstrap).  Rows of
        several fits concatenate into one tidy table (pandas: the dev extra)."""
        pd = require_pandas()
        if table == "minima" and hasattr(self, "minima_rows"):
            return pd.DataFrame(self.minima_rows())
        if table != "allocation":
            from runstore import InputError
            raise InputError(f"table={table!r}", key="table",
                             fix="use 'allocation'" + (" or 'minima'" if hasattr(
                                 self, "minima_rows") else ""))
        rows = []
        for r in self.allocation:
            row: dict[str, Any] = {"group": self.name, "approach": self.approach,
                                   "params": self.params}
            for k, v in r.items():
                if k.endswith("_interval"):
                    lo, hi = v if v else (float("nan"), float("nan"))
                    row[k[: -len("_interval")] + "_lo"], row[k[: -len("_interval")] + "_hi"] = lo, hi
                elif k != "level":
                    row[k] = v
            row.update(level=self.level if self.bootstrap else float("nan"),
                       verdict=self.verdict.status, provisional=self.verdict.provisional)
            rows.append(row)
        df = pd.DataFrame(rows)
        df.attrs.update(approach=self.approach, group=self.name, params=self.params,
                        verdict=self.verdict.status)
        return df


def require_pandas() -> Any:
    """Import pandas, or say how to get it."""
    try:
        import pandas
    except ImportError:
        from runstore import InputError
        raise InputError("pandas is not installed", key="to_pandas",
                         fix="pip install pandas (or pip install -e '.[dev]')") from None
    return pandas
