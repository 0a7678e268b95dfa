"""`scaling config show [SECTION]`: every key of the run config, the sweep file and the fit
settings, documented.

One table per file kind: the run config (`scaling train FILE`, `--set KEY=VALUE`), the sweep
file (`scaling sweep FILE`, whose keys are selected here under a `sweep.` prefix) and the fit
settings (RESULTS/fit.yaml and `scaling fit|plot --set KEY=VALUE`, under `fit.`). Each row is
a dotted key, its type, its default and its one-line doc (from `field(metadata={"doc": ...})`,
through `configio.describe`); a section starts with its own doc. Imports no JAX.
"""
from __future__ import annotations

import dataclasses
import difflib
import shutil
import textwrap
import typing
from dataclasses import dataclass

from runstore import InputError
from scaling.configio import FieldDoc, describe, nested_config

SWEEP = "sweep"
FIT = "fit"


@dataclass(frozen=True)
class Section:
    """A group of rows under one heading: `name` is what SECTION selects."""

    name: str
    title: str
    rows: tuple[FieldDoc, ...]


@dataclass(frozen=True)
class Block:
    """The keys of one file kind, aligned together."""

    title: str
    prefix: str  # what SECTION puts before a key of this file ('' or 'sweep.')
    sections: tuple[Section, ...]


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n\n")[0].replace("\n", " ").strip()


def _sections(cls: type, prefix: str, top_title: str) -> tuple[Section, ...]:
    """The top-level plain keys of `cls` as one section, then one per nested config class."""
    rows = describe(cls)
    hints = typing.get_type_hints(cls)
    top: list[FieldDoc] = []
    nested: list[Section] = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        own = [r for r in rows if _selected(r.key, f.name)]
        inner, _ = nested_config(hints[f.name])
        if inner is not None and (dataclasses.is_dataclass(hints[f.name]) or len(own) > 1):
            # a section, or a list of sections (extra_seeds): titled by its class's docstring
            title = _first_line(inner.__doc__) or f.metadata.get("doc", "")
            nested.append(Section(prefix + f.name, title, tuple(own)))
        else:
            top += own
    return (Section(prefix.rstrip("."), top_title, tuple(top)), *nested)


def blocks() -> tuple[Block, ...]:
    from analysis.fit_settings import FitOptions
    from scaling.sweep.config import SweepConfig
    from scaling.train.config import RunConfig

    run = Block("run config: scaling train FILE [--set KEY=VALUE]", "",
                _sections(RunConfig, "", "top level"))
    sweep = Block("sweep file: scaling sweep FILE [--set KEY=VALUE] (select with "
                  "'scaling config show sweep[.KEY]')", f"{SWEEP}.",
                  _sections(SweepConfig, f"{SWEEP}.", "top level; base takes the run "
                            "config's keys above (base.optim.lr, ...)"))
    fit = Block("fit settings: RESULTS/fit.yaml, or scaling fit|plot RESULTS [--set KEY=VALUE] "
                f"(select with 'scaling config show {FIT}[.KEY]')", f"{FIT}.",
                _sections(FitOptions, f"{FIT}.", "fit.yaml's keys; a flag of the same name "
                          "(--outlier-mad for outlier_mad) wins over --set, --set over the file"))
    return run, sweep, fit


def section_names() -> list[str]:
    """What SECTION may name: the run config's sections, its top-level keys, the sweep's and
    the fit settings'."""
    run, sweep, fit = blocks()
    return ([r.key for r in run.sections[0].rows] + [s.name for s in run.sections[1:]]
            + [s.name for s in sweep.sections] + [s.name for s in fit.sections])


def _selected(key: str, want: str) -> bool:
    return key == want or key.startswith((f"{want}.", f"{want}[]."))


def select(want: str | None) -> tuple[Block, ...]:
    """The blocks and sections holding the keys under `want` (a section or a dotted prefix)."""
    if not want:
        return blocks()
    want = want.strip().removesuffix(".")
    out = []
    for b in blocks():
        secs = []
        for s in b.sections:
            if s.name and _selected(s.name, want):
                secs.append(s)
                continue
            rows = tuple(r for r in s.rows if _selected(b.prefix + r.key, want))
            if rows:
                secs.append(dataclasses.replace(s, rows=rows))
        if secs:
            out.append(dataclasses.replace(b, sections=tuple(secs)))
    if not out:
        keys = [b.prefix + r.key for b in blocks() for s in b.sections for r in s.rows]
        near = difflib.get_close_matches(want, section_names() + keys, n=1)
        hint = f"did you mean '{near[0]}'? " if near else ""
        raise InputError(f"unknown config section '{want}'",
                         fix=f"{hint}sections: {', '.join(section_names())}; or a dotted key "
                             "such as optim.lr, sweep.grid.flops or fit.bootstrap")
    return tuple(out)


def _collapse(rows: tuple[FieldDoc, ...]) -> list[FieldDoc]:
    """Print a repeated sub-table once: recipe.b2.* has recipe.lr.*'s keys, so b2 says so."""
    out: list[FieldDoc] = []
    seen: dict[tuple, str] = {}
    skip = ""
    for i, r in enumerate(rows):
        if skip and r.key.startswith(skip):
            continue
        skip = ""
        kids = tuple((k.key[len(r.key):], k.type, k.default, k.doc) for k in rows[i + 1:]
                     if k.key.startswith((f"{r.key}.", f"{r.key}[]")))
        if kids and kids in seen:
            out.append(r._replace(doc=f"{r.doc}; its keys are those of {seen[kids]}"))
            skip = r.key + "."
            continue
        if kids:
            seen[kids] = r.key
        out.append(r)
    return out


def _cells(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def format_blocks(chosen: tuple[Block, ...], width: int = 100) -> str:
    """Aligned, wrapped columns: key, type, default, doc; at most `width` characters a line.

    A key longer than its column (a third of the width) stands on a line of its own.
    """
    out: list[str] = []
    for b in chosen:
        rows = [r for s in b.sections for r in _collapse(s.rows)]
        kw = min(max([len(r.key) for r in rows] + [3]), max(16, width // 3))
        tw = min(max([len(r.type) for r in rows] + [4]), 18)
        dw = min(max([len(r.default) for r in rows] + [7]), 12)
        if width - 8 - kw - tw - dw < 30:
            tw = max(10, tw - (30 - (width - 8 - kw - tw - dw)))
        docw = max(width - 8 - kw - tw - dw, 20)
        if out:
            out.append("")
        out += textwrap.wrap(b.title, width, subsequent_indent="    ") + [""]
        out.append(f"  {'key':<{kw}}  {'type':<{tw}}  {'default':<{dw}}  doc")
        for s in b.sections:
            out.append("")
            head = f"[{s.name}] {s.title}" if s.name else s.title
            out += textwrap.wrap(head, width, subsequent_indent="    ")
            for r in _collapse(s.rows):
                if len(r.key) > kw:
                    out.append(f"  {r.key}")
                cols = ([r.key] if len(r.key) <= kw else [""], _cells(r.type, tw),
                        _cells(r.default, dw), _cells(r.doc, docw))
                for i in range(max(map(len, cols))):
                    k, t, d, o = (c[i] if i < len(c) else "" for c in cols)
                    out.append(f"  {k:<{kw}}  {t:<{tw}}  {d:<{dw}}  {o}".rstrip())
    return "\n".join(out)


def show(section: str | None = None, width: int | None = None) -> str:
    """What `scaling config show [SECTION]` prints; an unknown SECTION is an InputError."""
    if width is None:
        width = max(72, min(100, shutil.get_terminal_size((100, 24)).columns))
    return format_blocks(select(section), width)
