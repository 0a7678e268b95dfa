"""`scaling fit RESULTS --brief`: the headline in a few lines (what `make quickstart` ends with).

Per group: D/N at the largest budget, in tokens and in bytes per parameter with its interval,
from approach 2 (and approach 3 only when it is identified: otherwise a dash and the reason),
beside Chinchilla's ~20 and the committed reference experiment's figure for the same group
(read from results/cpu_reference/fits, not typed in), then where the figures are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

#: The committed reference experiment's fits (README, "Results").
REFERENCE_FITS = Path(__file__).resolve().parents[1] / "results" / "cpu_reference" / "fits"


def _ratio(row: dict[str, Any], bpt: float | None) -> str:
    tpp, iv = row["tokens_per_param"], row.get("tokens_per_param_interval")
    s = f"{tpp:.0f}" + (f" [{iv[0]:.0f}, {iv[1]:.0f}]" if iv else "") + " tokens"
    if bpt:
        s += f" = {tpp * bpt:.0f}" + (f" [{iv[0] * bpt:.0f}, {iv[1] * bpt:.0f}]" if iv else "")
        s += " bytes"
    return s + " per parameter"


def _reference(group: str) -> str | None:
    """The reference experiment's approach-2 D/N for this group, from its committed fit file."""
    path = REFERENCE_FITS / f"approach2-{group.replace('/', '-', 1)}.json"
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    top = max(d["allocation"], key=lambda r: r["flops"])
    return f"{_ratio(top, d.get('bytes_per_token'))} at C {top['flops']:.3g} ({path.name})"


def format_brief(fits: Sequence[tuple[str, Any]], source: Path) -> str:
    lines = []
    for name in sorted({f.name for _, f in fits}):
        group = [f for _, f in fits if f.name == name and f.params == fits[0][1].params]
        has_iv = any(f.intervals for f in group)
        lines.append(f"{name} ({group[0].params} N)"
                     + (f", {int(round(group[0].level * 100))}% intervals:" if has_iv else
                        " (no intervals: --bootstrap K gives them):"))
        for f in sorted(group, key=lambda f: f.approach):
            top = f.headline()
            where = f"approach {f.approach}"
            if top is None:
                lines.append(f"  {where}: D/N -  ({f.verdict.short()})")
            else:
                note = "" if f.verdict.identified else f"  ({f.verdict.short()})"
                lines.append(f"  {where}: D/N at C {top['flops']:.3g} = "
                             f"{_ratio(top, f.bytes_per_token)}{note}")
        ref = _reference(name) if source.suffix.lower() != ".csv" else None
        lines.append("  for scale: Chinchilla ~20 tokens per parameter (Hoffmann et al. 2022, "
                     "BPE tokens, 1e18-1e24 FLOPs)")
        if ref:
            lines.append(f"  the committed CPU reference experiment: {ref}")
    figures = source / "figures"
    if figures.is_dir():
        lines.append(f"figures: {figures}/ ({len(list(figures.glob('*.png')))} PNG)")
    if source.suffix.lower() != ".csv":  # the repository's own experiment: only for its results
        lines.append("the full result (4 objectives and tokenizers, 3 budgets): "
                     "make reference-figures")
    return "\n".join(lines)
