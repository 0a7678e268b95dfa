"""A full disk, as a small file-size limit (`ulimit -f`, RLIMIT_FSIZE) stands in for one: `data
prepare`, `train` and `fit` each end with one `error:` line naming the path, exit 2, nothing
half written (no temporary files left), and the rerun without the limit finishes the job."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import ROOT, tiny_run

from scaling.cli import main

#: `python -m scaling ARGS` under a file-size limit (set in the child itself: no preexec_fn
#: fork of this multithreaded JAX process). Python ignores SIGXFSZ, so a write past the limit
#: fails with EFBIG, as on a full disk.
_CHILD = ("import resource, runpy, sys; n = int(sys.argv.pop(1)); "
          "resource.setrlimit(resource.RLIMIT_FSIZE, (n, n)); sys.argv[0] = 'scaling'; "
          "runpy.run_module('scaling', run_name='__main__', alter_sys=True)")


def _limited(limit_bytes: int, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _CHILD, str(limit_bytes), *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def _one_line(proc: subprocess.CompletedProcess, *names: str) -> str:
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
    assert len(lines) == 1, proc.stderr[-3000:]
    for n in names:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def _leftovers(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if ".tmp" in p.name]


def test_data_prepare_and_train_on_a_full_disk_then_resume(tmp_path):
    cache = tmp_path / "cache"
    cfg = tiny_run(**{"data.cache_dir": str(cache), "train.steps": 20,
                      "train.checkpoint_every": 10, "train.eval_every": 10})
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    _one_line(_limited(20_000, "data", "prepare", path), str(cache), "File too large",
              "ulimit -f")
    assert not _leftovers(cache) and not [p for p in cache.iterdir() if p.is_dir()]
    assert main(["data", "prepare", str(path)]) == 0
    out = tmp_path / "run"
    _one_line(_limited(100_000, "train", path, "--out", out, "--quiet"),
              str(out / "checkpoints"), "exceeds the file-size limit of 100,000 bytes")
    assert not _leftovers(out)
    assert main(["train", str(path), "--out", str(out), "--quiet"]) == 0  # the rerun
    assert '"status": "done"' in (out / "summary.json").read_text()


def test_fit_on_a_full_disk_writes_nothing_then_the_rerun_writes(tmp_path):
    src = ROOT / "results" / "cpu_reference" / "clm_byte"
    res = tmp_path / "res"
    shutil.copytree(src, res, ignore=shutil.ignore_patterns("fits", "figures"))
    _one_line(_limited(1_000, "fit", res, "--approach", "2"),
              str(res / "fits"), "File too large")
    assert not _leftovers(res)
    assert not (res / "fits").is_dir() or not any((res / "fits").iterdir())
    assert main(["fit", str(res), "--approach", "2"]) == 0
    assert any((res / "fits").glob("approach2-*.json"))
