"""`scaling config show [SECTION]`: every key with its type, default and doc; filters; errors."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import ROOT

from scaling.cli import main
from scaling.config_show import show
from scaling.configio import describe
from scaling.sweep.config import SweepConfig
from scaling.train.config import RunConfig


def _table(text: str) -> dict[str, dict[str, str]]:
    """Parse the output back: key -> its type, default and doc (wrapped cells joined); the
    sweep file's keys come back under 'sweep.'."""
    rows: dict[str, dict[str, str]] = {}
    cols: list[int] = []
    cur, prefix = None, ""
    for line in text.splitlines():
        if line.startswith("sweep file"):
            prefix = "sweep."
        if line.split()[:1] == ["key"]:
            cols = [line.index(c) for c in ("type", "default", "doc")]
            continue
        if not line.startswith("  ") or not cols:
            cur = None
            continue
        if line[2] != " ":
            key = line.split()[0]
            assert prefix + key not in rows, f"{key} printed twice"
            cur = rows[prefix + key] = {"type": "", "default": "", "doc": ""}
            if len(key) > cols[0] - 4:  # a long key stands on its own line
                continue
        if cur is not None:
            for name, a, b in zip(("type", "default", "doc"), cols, cols[1:] + [None]):
                cell = line[a:b].strip()
                cur[name] = f"{cur[name]} {cell}".strip() if cell else cur[name]
    return rows


def _keys(text: str) -> set[str]:
    return set(_table(text))


def test_every_run_config_field_appears_with_its_doc():
    table = _table(show(width=100))
    for r in describe(RunConfig):
        assert table[r.key] == {"type": r.type, "default": r.default, "doc": r.doc}, r.key
        assert r.doc, r.key


def test_every_sweep_field_appears_with_its_doc():
    table = _table(show("sweep", width=100))
    for r in describe(SweepConfig):
        # recipe.batch_size and recipe.b2 are SizeRules like recipe.lr: their keys print once
        shown = table["sweep." + re.sub(r"^recipe\.(batch_size|b2)\.", "recipe.lr.", r.key)]
        assert shown["type"] == r.type and shown["default"] == r.default, r.key
        assert shown["doc"].startswith(r.doc) and r.doc, r.key
    assert table["sweep.recipe.b2"]["doc"].endswith("its keys are those of recipe.lr")


def test_rows_have_type_and_default():
    out = show("optim.lr", width=100)
    row = next(line for line in out.splitlines() if line.split()[:1] == ["optim.lr"])
    assert row.split()[:3] == ["optim.lr", "float", "0.003"]
    assert "peak learning rate" in row


@pytest.mark.parametrize("width", [100, 80])
def test_lines_fit_the_terminal(width):
    out = show(width=width)
    assert max(map(len, out.splitlines())) <= width
    table = _table(out)  # still every key, with its doc, at any width
    assert table["train.trackers"]["doc"] == next(r.doc for r in describe(RunConfig)
                                                   if r.key == "train.trackers")
    assert "sweep.recipe.warmup_tokens_per_param" in table


def test_section_filter():
    out = show("train", width=100)
    keys = _keys(out)
    assert keys == {r.key for r in describe(RunConfig) if r.key.startswith("train.")}
    assert "sweep file" not in out


def test_sweep_section_filter():
    keys = _keys(show("sweep.grid", width=100))
    assert keys == {"sweep." + r.key for r in describe(SweepConfig) if r.key.startswith("grid.")}


def test_fit_settings_are_documented_and_selectable(capsys):
    import dataclasses

    from analysis.fit_settings import FitOptions
    fields = {f.name: f.metadata["doc"] for f in dataclasses.fields(FitOptions)}
    out = show("fit", width=240)  # wide enough that no doc wraps
    assert "fit.yaml" in out and "optim.lr" not in out and "sweep file" not in out
    for name, text in fields.items():
        assert name in out and text in out, name
    one = show("fit.bootstrap", width=200)
    assert "bootstrap" in one and "level" not in one
    assert "fit settings" in show(width=200)
    assert main(["config", "show", "fit.levle"]) == 2
    assert "did you mean" in capsys.readouterr().err


def test_top_level_key_filter():
    keys = _keys(show("seed", width=100))
    assert keys == {"seed"}


def test_cli_prints_the_table(capsys):
    assert main(["config", "show", "mlm"]) == 0
    out = capsys.readouterr().out
    assert "mlm.select_rate" in out and "train.tokens" not in out


def test_unknown_section_exits_2_with_one_error_line(capsys):
    assert main(["config", "show", "trian"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "trian" in lines[0] and "did you mean 'train'" in lines[0]
    assert "sweep.grid" in lines[0] and captured.out == ""


def test_config_show_imports_no_jax():
    code = ("import sys; from scaling.cli import main; main(['config', 'show']); "
            "sys.exit(any(m == 'jax' or m.startswith(('jax.', 'flax', 'optax', 'orbax')) "
            "for m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, "scaling config show imported jax"
