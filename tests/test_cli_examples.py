"""Every example command the suite shows loads: `scaling --help`, `scaling train --help`,
`scaling sweep --help`, the README's ```bash blocks and the example files' own comments.

Each `scaling train ...` / `scaling sweep ...` example is parsed by the one parser tree
(scaling/cli.py) and its config file with its `--set` overrides goes through the real loader
(no training); a bare `--set KEY=VALUE` shown in a help text is applied to a sample file of its
kind. The other verbs' examples (`plan`, `fit`, `plot`, `sweep status`, `config show`, `data`)
are parsed by the same tree; an old flag spelling parses with its one deprecation line.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from conftest import ROOT

from runstore import InputError
from scaling import cli
from scaling.sweep.config import load_sweep
from scaling.train.config import load_run_config

#: the file a bare `--set` example from a help text is tried on
SAMPLE = {"train": "configs/sample_1m.yaml", "sweep": "sweeps/quickstart.yaml"}


def _help(argv: list[str], capsys) -> str:
    assert cli.main([*argv, "--help"] if argv != ["scaling"] else ["--help"]) == 0
    return capsys.readouterr().out


def parse(tokens: list[str]):
    """`scaling ARGS` through the one tree; a refused flag is an AssertionError."""
    try:
        return cli.build_parser().parse_args(cli.spelled(tokens[1:]))
    except (SystemExit, InputError) as e:
        raise AssertionError(f"its flags do not parse: {' '.join(tokens)} ({e})") from None


VERBS = "train|sweep|status|plan|fit|plot|data|config"


def _commands(text: str, verbs: str = "train|sweep") -> list[str]:
    """`scaling train|sweep ...` lines of a text (comments, prompts and continuations too)."""
    text = text.replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        m = re.search(rf"(?:^|[#$]\s*|Run:\s*)(scaling (?:{verbs}) \S.*)$", line.strip())
        if m:
            found.append(m.group(1))
    return found


def _sets(text: str) -> list[str]:
    """The `--set KEY=VALUE` fragments of a help text (argparse may wrap them)."""
    return re.findall(r"--set[ =]([a-z_][\w.\[\]]*=\S+)", re.sub(r"\s+", " ", text))


def readme_commands(verbs: str = "train|sweep") -> list[str]:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    return [c for b in blocks for c in _commands(b, verbs)]


def file_comment_commands() -> list[str]:
    """The commands written in the sample configs' and sweep files' header comments."""
    out = []
    for p in sorted([*ROOT.glob("configs/*.yaml"), *ROOT.glob("sweeps/**/*.yaml")]):
        comments = "\n".join(line.lstrip()[1:] for line in p.read_text().splitlines()
                             if line.lstrip().startswith("#"))
        out += _commands(comments)
    return out


def _tokens(command: str) -> list[str]:
    tokens = shlex.split(command, comments=True)
    for i, t in enumerate(tokens):  # the next command, or prose: "(results/<name>/...)"
        if t in ("&&", "||", ";", "|", "+") or t.startswith("("):
            return tokens[:i]
    return tokens


def check(command: str) -> None:
    """Parse `command` with its real parser and load its config; raise on any problem."""
    tokens = _tokens(command)
    assert tokens[:1] == ["scaling"] and tokens[1] in ("train", "sweep"), command
    a = parse(tokens)
    if a.command not in ("train", "sweep"):  # sweep status RESULTS: no config to load
        return
    path, sets = (a.config, a.set) if tokens[1] == "train" else (a.file, a.set)
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


#: Every verb's --help, as a user asks for it.
HELPS = (["sweep", "status"], ["plan"], ["fit"], ["plot"], ["data"], ["data", "prepare"],
         ["config", "show"])


def test_every_verb_example_parses(capsys):
    """The examples of every verb's --help and of the README parse with the one tree (old flag
    spellings too: they are deprecated aliases); plan and config show examples also run."""
    texts = [_help(argv, capsys) for argv in [["scaling"], *HELPS]]
    commands = [c for t in texts for c in _commands(t, VERBS)] + readme_commands(VERBS)
    verbs = {_tokens(c)[1] for c in commands}
    assert {"sweep", "plan", "fit", "plot", "config"} <= verbs, verbs
    for c in commands:
        tokens = _tokens(c)
        if any(t.startswith("[") or re.fullmatch(r"[A-Z_]{3,}", t) for t in tokens):
            continue  # a synopsis: scaling sweep FILE [--dry-run], not an example
        parse(tokens)
        if tokens[1] in ("plan", "config"):
            assert cli.main(tokens[1:]) == 0, c
    capsys.readouterr()


def test_old_flag_spellings_work_with_one_warning_line(capsys):
    import json

    assert cli.main(["plan", "--device", "h100", "--devices", "8", "--days", "3",
                     "--vocab-size", "50000", "--json"]) == 0
    new = capsys.readouterr()
    assert new.err == ""
    assert cli.main(["plan", "--gpu", "h100", "--gpus", "8", "--days", "3", "--vocab", "50000",
                     "--json"]) == 0
    old = capsys.readouterr()
    assert json.loads(old.out) == json.loads(new.out)
    assert old.err.splitlines() == ["warning: --gpu is deprecated; use --device",
                                    "warning: --gpus is deprecated; use --devices",
                                    "warning: --vocab is deprecated; use --vocab-size"]
    assert cli.main(["plan", "--params", "1e9", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["optimal"]["n_opt"] == pytest.approx(1e9)
    a = parse(["scaling", "status", "results/quickstart"])  # the old verb name
    assert a.command == "sweep-status" and a.results == "results/quickstart"
    assert capsys.readouterr().err == ("warning: scaling status is deprecated; use scaling "
                                       "sweep status\n")


def test_a_usage_error_is_one_line_naming_the_verb(capsys):
    assert cli.main(["plan", "--flops", "1e21", "--nosuch"]) == 2
    assert cli.main(["sweep", "status"]) == 2
    assert cli.main(["nosuchverb"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(e.startswith("error: ") for e in err), err
    assert "see scaling plan --help" in err[0] and "see scaling sweep status --help" in err[1]
