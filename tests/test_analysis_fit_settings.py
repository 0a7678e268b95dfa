"""Fit settings: defaults < RESULTS/fit.yaml < --set < flags, validated, exit 2 when bad."""

import shutil
from pathlib import Path

import pytest

from analysis import InputError, fit_settings
from analysis.cli import main

FIX = Path(__file__).parent / "fixtures" / "analysis"


def test_flags_over_sets_over_file_over_defaults(tmp_path):
    (tmp_path / "fit.yaml").write_text("bootstrap: 50\nparams: both\napproach: [3, 2]\n"
                                       "budgets: [1.2345678e12, 1e13]\nseed: 4\n")
    a = fit_settings.load(tmp_path, {"bootstrap": 7, "level": None},
                          ["seed=5", "fit.level=0.9", "bootstrap=9"])
    assert a.bootstrap == 7                      # the flag wins over --set and the file
    assert a.seed == 5 and a.level == 0.9        # --set wins over the file (fit. prefix too)
    assert a.params == "both" and a.approach == (2, 3)  # lists stay lists, not "2,3"
    assert a.budgets == (1.2345678e12, 1e13)     # no digits lost to a string round trip
    assert a.delta == 1e-3 and a.holdout is None  # defaults
    b = fit_settings.load(tmp_path / "missing")
    assert b == fit_settings.FitOptions() and b.bootstrap == 0 and b.params == "total"
    assert fit_settings.FitOptions.from_folder(tmp_path, seed=1) == \
        fit_settings.FitOptions(approach=[2, 3], bootstrap=50, params="both", seed=1,
                                budgets=[1.2345678e12, 1e13])


@pytest.mark.parametrize("sets,named", [
    (["bootstrapp=10"], "key 'bootstrapp': unknown setting"),
    (["level=2"], "key 'level': must be a number in (0, 1)"),
    (["approach=2"], "key 'approach'"), (["approach=[4]"], "key 'approach'"),
    (["budgets=lots"], "key 'budgets'"), (["level"], "is not key=value"),
    (["budgets=[1e18"], "key 'budgets'"),
])
def test_bad_set_names_set_and_key(sets, named):
    with pytest.raises(InputError) as e:
        fit_settings.load(Path("nowhere.csv"), {}, sets)
    assert str(e.value).startswith("--set: ") and named in str(e.value), str(e.value)


def test_documented_like_the_run_config():
    """Every setting has a one-line doc (what `scaling config show fit` prints)."""
    import dataclasses
    docs = {f.name: f.metadata.get("doc") for f in dataclasses.fields(fit_settings.FitOptions)}
    assert set(docs) == set(fit_settings.DEFAULTS) and all(docs.values()), docs


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
    (sweep / "fit.yaml").write_text("level: 0.5\n")
    assert main(["fit", str(sweep), "--set", "level=7"]) == 2  # refused before any fit
    assert capsys.readouterr().err.startswith("error: --set: key 'level'")
    assert not (sweep / "fits").exists()


def test_cli_set_reaches_the_fit(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    shutil.copytree(FIX / "sweep", sweep)
    import json
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["fit", str(sweep), "--approach", "2", "--set", "budgets=[1e15,1e16]",
                     "--set", "bootstrap=5", "--set", "level=0.5", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)["approach2-clm-byte"]
    assert [r["flops"] for r in d["allocation"]] == [1e15, 1e16]
    assert d["level"] == 0.5 and d["bootstrap"] == 5
