"""Every example command the suite shows loads: `scaling --help`, `scaling train --help`,
`scaling sweep --help`, the README's ```bash blocks and the example files' own comments.

Each `scaling train ...` / `scaling sweep ...` example is parsed by its real argument parser
and its config file with its `--set` overrides goes through the real loader (no training); a
bare `--set KEY=VALUE` shown in a help text is applied to a sample file of its kind.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from scaling import cli
from runstore import InputError
from scaling.sweep import cli as sweep_cli
from scaling.sweep.config import load_sweep
from scaling.train.config import load_run_config

from conftest import ROOT

#: the file a bare `--set` example from a help text is tried on
SAMPLE = {"train": "configs/sample_1m.yaml", "sweep": "sweeps/quickstart.yaml"}


def _help(argv: list[str], capsys) -> str:
    if argv[0] == "sweep":
        assert sweep_cli.main([*argv, "--help"]) == 0
    else:
        with pytest.raises(SystemExit) as e:
            cli.main([*argv, "--help"] if argv != ["scaling"] else ["--help"])
        assert e.value.code == 0
    return capsys.readouterr().out


def _commands(text: str) -> list[str]:
    """`scaling train|sweep ...` lines of a text (comments, prompts and continuations too)."""
    text = text.replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        m = re.search(r"(?:^|[#$]\s*|Run:\s*)(scaling (?:train|sweep) \S.*)$", line.strip())
        if m:
            found.append(m.group(1))
    return found


def _sets(text: str) -> list[str]:
    """The `--set KEY=VALUE` fragments of a help text (argparse may wrap them)."""
    return re.findall(r"--set[ =]([a-z_][\w.\[\]]*=\S+)", re.sub(r"\s+", " ", text))


def readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    return [c for b in blocks for c in _commands(b)]


def file_comment_commands() -> list[str]:
    """The commands written in the sample configs' and sweep files' header comments."""
    out = []
    for p in sorted([*ROOT.glob("configs/*.yaml"), *ROOT.glob("sweeps/**/*.yaml")]):
        comments = "\n".join(line.lstrip()[1:] for line in p.read_text().splitlines()
                             if line.lstrip().startswith("#"))
        out += _commands(comments)
    return out


def check(command: str) -> None:
    """Parse `command` with its real parser and load its config; raise on any problem."""
    tokens = shlex.split(command, comments=True)
    for i, t in enumerate(tokens):  # the next command, or prose: "(results/<name>/...)"
        if t in ("&&", "||", ";", "|") or t.startswith("("):
            tokens = tokens[:i]
            break
    assert tokens[:1] == ["scaling"] and tokens[1] in ("train", "sweep"), command
    try:
        if tokens[1] == "train":
            a = cli.build_parser().parse_args(tokens[1:])
            path, sets = a.config, a.set or []
        else:
            a = sweep_cli._sweep_parser().parse_args(tokens[2:])
            path, sets = a.file, a.set
    except SystemExit:
        raise AssertionError(f"its flags do not parse: {command}") from None
    if path.isupper():  # a synopsis (scaling sweep FILE ...), not an example
        return
    load = load_run_config if tokens[1] == "train" else load_sweep
    load(str(ROOT / path) if not Path(path).is_absolute() else path, sets)


def test_help_examples(capsys):
    shown = {name: _help(argv, capsys) for name, argv in
             (("scaling", ["scaling"]), ("train", ["train"]), ("sweep", ["sweep"]))}
    commands = [c for text in shown.values() for c in _commands(text)]
    assert len([c for c in commands if c.startswith("scaling train")]) >= 3, shown["train"]
    assert any(c.startswith("scaling sweep") for c in commands), shown["scaling"]
    for c in commands:
        check(c)
    for kind in ("train", "sweep"):
        sets = _sets(shown[kind])
        assert sets, f"scaling {kind} --help shows no --set example"
        for s in sets:
            check(f"scaling {kind} {SAMPLE[kind]} --set {s}")


def test_readme_examples():
    commands = readme_commands()
    assert len([c for c in commands if c.startswith("scaling train")]) >= 3
    assert len([c for c in commands if c.startswith("scaling sweep")]) >= 3
    for c in commands:
        check(c)


def test_file_comment_examples():
    commands = file_comment_commands()
    assert commands
    for c in commands:
        check(c)


@pytest.mark.parametrize("bad", [
    "scaling train configs/sample_1m.yaml --set train.lr=3e-4",       # no such key
    "scaling train configs/sample_1m.yaml --set train.steps=100",     # tokens and steps
    "scaling train configs/missing.yaml",
    "scaling sweep sweeps/quickstart.yaml --set grid.tokens=[1e6]",   # tokens and flops
    "scaling sweep sweeps/quickstart.yaml --set recipe.lr.rule=cubic",
])
def test_a_wrong_example_fails(bad):
    with pytest.raises(InputError):
        check(bad)


def test_an_unknown_flag_fails(capsys):
    with pytest.raises(AssertionError, match="do not parse"):
        check("scaling train configs/sample_1m.yaml --lr 3e-4")
    with pytest.raises(AssertionError, match="do not parse"):
        check("scaling sweep sweeps/quickstart.yaml --dryrun")
