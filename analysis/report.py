"""The summary table: approaches 2 and 3 side by side, per group and parameter count.

One row per (objective/tokenizer, N count, approach): the exponents a and b of N_opt ~ C^a and
D_opt ~ C^b, and D/N at the group's largest budget in tokens and in bytes of text, each with its
bootstrap interval when the fits were bootstrapped, plus how many IsoFLOP minima were interior.
``format_markdown`` prints it as the Markdown table the README embeds, so that `scaling fit`
reproduces the README's numbers exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence


@dataclass(frozen=True)
class ReportRow:
    """One line of the summary table."""

    group: str                          # "objective/tokenizer"
    params: str                         # total | nonembedding
    approach: int                       # 2 or 3
    level: float
    a: float
    a_iv: tuple[float, float] | None
    b: float
    b_iv: tuple[float, float] | None
    flops: float                        # the budget the D/N columns refer to
    tokens_per_param: float
    tokens_per_param_iv: tuple[float, float] | None
    bytes_per_token: float | None
    n_runs: int
    minima: str                         # approach 2: "interior/budgets"; approach 3: ""
    verdict: str = ""                   # analysis/identify.py: identified | weak | not identified

    @property
    def bytes_per_param(self) -> float | None:
        return None if self.bytes_per_token is None else self.tokens_per_param * self.bytes_per_token

    @property
    def bytes_per_param_iv(self) -> tuple[float, float] | None:
        if self.bytes_per_token is None or self.tokens_per_param_iv is None:
            return None
        lo, hi = self.tokens_per_param_iv
        return (lo * self.bytes_per_token, hi * self.bytes_per_token)


def _iv(v: Any) -> tuple[float, float] | None:
    return None if v is None else (float(v[0]), float(v[1]))


def _as_dict(fit: Any) -> dict[str, Any]:
    return fit if isinstance(fit, dict) else fit.to_dict()


def row_of(fit: Any) -> ReportRow:
    """The summary row of an approach-2 (IsoFlopFit) or approach-3 (ParametricFit) fit, or of
    its to_dict() (a fits/*.json file).

    D/N is read at the largest budget of the fit's allocation table (by default the runs'
    largest C: no extrapolation).
    """
    d = _as_dict(fit)
    rows = d.get("allocation") or d.get("budgets") or []
    if not rows:
        raise ValueError("the fit has no allocation rows; fit with budgets")
    top = max(rows, key=lambda r: r["flops"])
    ivs = d.get("intervals") or {}
    if d["approach"] == 2:
        minima = d["minima"]
        interior = sum(not m["extrapolated"] for m in minima)
        n_runs = sum(len(m["n"]) for m in minima)
        minima_s = f"{interior}/{len(minima) + len(d.get('excluded_budgets') or [])}"
    else:
        n_runs, minima_s = d["n_runs"], ""
    g = d["group"]
    return ReportRow(
        group="/".join([g["objective"], g["tokenizer"]] + ([g["by"]] if g.get("by") else [])),
        params=d.get("n_counted") or d["params"], approach=d["approach"],
        level=float(d.get("level") or 0.8), a=float(d["a"]), a_iv=_iv(ivs.get("a")),
        b=float(d["b"]), b_iv=_iv(ivs.get("b")), flops=float(top["flops"]),
        tokens_per_param=float(top["tokens_per_param"]),
        tokens_per_param_iv=_iv(top.get("tokens_per_param_interval")),
        bytes_per_token=d.get("bytes_per_token"), n_runs=n_runs, minima=minima_s,
        verdict=(d.get("verdict") or {}).get("status", ""))


def _fmt(x: float, digits: int) -> str:
    """Fixed decimals, except that a small value keeps two significant digits (an interval
    end of 0.04 is "0.04", not "0.0")."""
    if abs(x) >= 10:
        return f"{x:.0f}"
    if 0 < abs(x) < 10 ** (1 - digits):
        return f"{x:.2g}"
    return f"{x:.{digits}f}"


def _num(v: float | None, iv: tuple[float, float] | None, digits: int) -> str:
    if v is None:
        return "n/a"
    s = _fmt(v, digits)
    return s if iv is None else f"{s} [{_fmt(iv[0], digits)}, {_fmt(iv[1], digits)}]"


def format_markdown(rows: Sequence[ReportRow]) -> str:
    """The Markdown table (README "Results"); intervals in brackets at each row's level."""
    levels = sorted({int(round(r.level * 100)) for r in rows if r.a_iv is not None})
    lvl = f" ({'/'.join(map(str, levels))}% bootstrap intervals)" if levels else ""
    head = ("| objective / tokenizer | N counted | approach | a (N_opt ~ C^a) | b (D_opt ~ C^b) "
            "| at C | D/N tokens per param | bytes per param | runs | interior minima | verdict |")
    lines = [f"Compute-optimal allocation{lvl}:", "", head,
             "|" + "|".join(["---"] * 11) + "|"]
    for r in rows:
        hide = r.verdict == "not identified"  # no D/N headline from a fit that is not identified
        lines.append(
            f"| {r.group} | {r.params} | {r.approach} | {_num(r.a, r.a_iv, 3)} | "
            f"{_num(r.b, r.b_iv, 3)} | {r.flops:.3g} | "
            f"{'-' if hide else _num(r.tokens_per_param, r.tokens_per_param_iv, 1)} | "
            f"{'-' if hide else _num(r.bytes_per_param, r.bytes_per_param_iv, 1)} | {r.n_runs} | "
            f"{r.minima or '-'} | {r.verdict or '-'} |")
    return "\n".join(lines)


def report(fits: Sequence[tuple[str, Any]]) -> list[ReportRow]:
    """Rows for every approach-2 and approach-3 fit (or fit dict) of [(stem, fit)], sorted
    (group, N count, approach)."""
    order = {"total": 0, "nonembedding": 1}
    dicts = (_as_dict(fit) for _, fit in fits)
    rows = [row_of(d) for d in dicts if d["approach"] in (2, 3)]
    return sorted(rows, key=lambda r: (r.group, order.get(r.params, 2), r.approach))
