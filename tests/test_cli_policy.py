"""The one CLI policy (runstore.cli_main): file-system refusals are one `error: PATH: what` line
and exit 2 wherever a verb raises them, a closed pipe (`| head`) is no traceback, a bug is its
traceback and exit 1."""
import errno
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runstore.errors import cli_main

FIX = Path(__file__).parent / "fixtures" / "analysis"
ROOT = Path(__file__).parents[1]


def _raise(exc):
    def fn():
        raise exc
    return fn


@pytest.mark.parametrize("exc,line", [
    (OSError(errno.EROFS, "Read-only file system", "/ro/fits"),
     "error: /ro/fits: Read-only file system (fix: choose a writable folder (--out))"),
    (PermissionError(errno.EACCES, "Permission denied", "/x/y.json"),
     ("error: /x/y.json: Permission denied (fix: check the permissions, or choose another "
      "folder (--out))")),
    (OSError(errno.ENOSPC, "No space left on device"),  # a write() names no file
     "error: No space left on device (fix: free some space, or choose another disk (--out))"),
    (OSError(errno.ENAMETOOLONG, "File name too long", "/a" * 3),
     "error: /a/a/a: File name too long (fix: use a shorter path)"),
])
def test_file_system_refusals_are_one_line_exit_2(capsys, exc, line):
    assert cli_main(_raise(exc), program="scaling") == 2
    cap = capsys.readouterr()
    assert cap.err.splitlines() == [line] and cap.out == ""


def test_a_bug_is_a_traceback_and_exit_1(capsys):
    assert cli_main(_raise(ZeroDivisionError("x")), program="scaling") == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError" in err and "a bug in scaling" in err
    assert cli_main(_raise(OSError(errno.ECONNRESET, "reset")), program="scaling") == 1  # no path
    assert "a bug in scaling" in capsys.readouterr().err
    with pytest.raises(ZeroDivisionError):  # without a program name it is the caller's
        cli_main(_raise(ZeroDivisionError("x")))


def test_a_closed_pipe_is_no_traceback():
    code = ("import sys; from runstore.errors import cli_main\n"
            "def fn():\n    for i in range(200000): print('line', i)\n"
            "sys.exit(cli_main(fn, program='scaling'))\n")
    p = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    assert p.stdout.readline() == b"line 0\n"
    p.stdout.close()  # what `| head -1` does
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 141 and err == "", err


def test_a_verb_writing_into_a_file_or_a_too_long_path(tmp_path, capsys):
    from scaling.cli import main
    csv = tmp_path / "runs.csv"
    shutil.copy(FIX / "runs.csv", csv)
    taken = tmp_path / "taken"
    taken.write_text("a file, not a folder")
    for out in (taken, tmp_path / ("x" * 300)):
        assert main(["fit", str(csv), "--approach", "2", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: {out}"), err
        assert "Traceback" not in err[0] and "(fix: " in err[0]
    assert taken.read_text() == "a file, not a folder"


def test_a_negative_value_is_a_value_not_a_flag(capsys):
    from analysis.cli import main
    assert main(["fit", "nowhere.csv", "--level", "-1e-3"]) == 2  # python -m analysis too
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "key '--level': must be a number in (0, 1)" in err[0], err
