"""RESULTS/fit.yaml: settings under the command line's flags, validated, exit 2 when bad."""

import argparse
import shutil
from pathlib import Path

import pytest

from analysis import fit_settings
from analysis.cli import main
from analysis import InputError

FIX = Path(__file__).parent / "fixtures" / "analysis"


def _args(**kw):
    base = {k: None for k in fit_settings.DEFAULTS}
    base.update(kw)
    return argparse.Namespace(**base)


def test_flags_over_file_over_defaults(tmp_path):
    (tmp_path / "fit.yaml").write_text("bootstrap: 50\nparams: both\napproach: [2, 3]\n"
                                       "budgets: [1e12, 1e13]\n")
    a = fit_settings.resolve(_args(bootstrap=7), tmp_path)
    assert a.bootstrap == 7                      # the flag wins
    assert a.params == "both" and a.approach == "2,3" and a.budgets == "1e+12,1e+13"
    assert a.level == 0.8 and a.seed == 0        # defaults
    b = fit_settings.resolve(_args(), tmp_path / "missing")
    assert b.bootstrap == 0 and b.params == "total"


@pytest.mark.parametrize("text,key", [
    ("bootstrapp: 10\n", "bootstrapp"), ("level: 1.5\n", "level"), ("params: all\n", "params"),
    ("bootstrap: -1\n", "bootstrap"), ("- 1\n", None), ("a: [\n", None),
    ("seed: !!python/object/apply:os.system [echo hi]\n", None),
])
def test_bad_file_names_file_and_key(tmp_path, text, key):
    (tmp_path / "fit.yaml").write_text(text)
    with pytest.raises(InputError) as e:
        fit_settings.read(tmp_path)
    assert "fit.yaml" in str(e.value) and "(fix: " in str(e.value)
    if key:
        assert repr(key) in str(e.value)


def test_cli_uses_file_and_bad_file_exits_2(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    shutil.copytree(FIX / "sweep", sweep)
    (sweep / "fit.yaml").write_text("approach: [2]\nbootstrap: 10\n")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["fit", str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "approach3" not in out and "80% a in" in out
    (sweep / "fit.yaml").write_text("bootstrap: many\n")
    shutil.rmtree(sweep / "fits")
    assert main(["fit", str(sweep)]) == 2
    assert "fit.yaml" in capsys.readouterr().err
    assert not (sweep / "fits").exists()
