"""`scaling eval RUN --ptq`: post-training quantisation losses in the run's summary, once."""
import json

import pytest
from conftest import run_cli, tiny_run, write_config

from runstore import InputError, read_summary
from scaling.cli import main as scaling_main
from scaling.evaluate.cli import parse_bits


def main(argv):
    return scaling_main(["eval", *argv])


def test_bad_bits_are_one_error_line(capsys, tmp_path):
    assert main([str(tmp_path), "--ptq", "9"]) == 2
    assert "--ptq" in capsys.readouterr().err
    with pytest.raises(InputError):
        parse_bits("a,b")


@pytest.mark.slow
def test_ptq_adds_losses_once(tmp_path):
    path = write_config(tmp_path / "run.yaml", tiny_run(**{"train.steps": 60}))
    run_cli("train", path, "--out", tmp_path / "run", "--quiet", check=True)
    assert main([str(tmp_path / "run"), "--ptq", "8,4,2"]) == 0
    s = read_summary(tmp_path / "run")
    assert s.schema == 3 and [e["bits"] for e in s.ptq] == [8, 4, 2]
    by = {e["bits"]: e["eval_loss"] for e in s.ptq}
    assert abs(by[8] - s.final_eval_loss) / s.final_eval_loss < 0.01
    assert by[2] > by[8] and all(e["method"] == "rtn" for e in s.ptq)
    before = (tmp_path / "run" / "summary.json").read_bytes()
    assert main([str(tmp_path / "run"), "--ptq", "8,4"]) == 0  # already there: nothing changes
    assert (tmp_path / "run" / "summary.json").read_bytes() == before
    assert json.loads(before)["final_eval_loss"] == s.final_eval_loss
