"""`scaling sweep FILE --dry-run --compile-for TARGET`: the target's compiler as a stage of the
sweep pipeline. Without libtpu: the flag's one-line refusals, and the stage's decisions (the
fewest microbatches whose compiled peak fits, refusals by that peak or by a failed compile, the
roofline's time) with the compiler replaced by a stub of known peaks. With libtpu (the [tpu]
extra): the real dry run of a tiny sweep file, and its second run served from the cache."""
import time

import pytest
import yaml
from compiling import needs_libtpu
from test_sweep_config import tiny_sweep

from scaling.cli import main
from scaling.compile import mesh, points, session

TARGET = "tpu-v5e-2x2"  # 4 chips of 16 GiB


def write(tmp_path, **over):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(tiny_sweep(out=str(tmp_path / "out"), **over)))
    return path


def test_unknown_target_missing_compiler_and_clashing_flags_are_one_line(tmp_path, capsys,
                                                                         monkeypatch):
    path = write(tmp_path)
    assert main(["sweep", str(path), "--dry-run", "--compile-for", "k80"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "unknown compile target 'k80'" in err and "tpu-v5p-2x2x1" in err
    monkeypatch.setattr(mesh, "libtpu_version", lambda: None)  # as in a venv without [tpu]
    mesh._topology.cache_clear()
    assert main(["sweep", str(path), "--dry-run", "--compile-for", TARGET]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: key '--compile-for': the TPU compiler (libtpu) is not installed "
                   "(fix: pip install -e '.[tpu]')")
    assert main(["sweep", str(path), "--compile-for", TARGET, "--device", "h100"]) == 2
    assert "drop --device" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


GB = 1e9


def fake_compile(run, target, *, fit, use_cache):
    """A compiler whose peak is known: 40 GB / microbatches at d_model >= 32 (none fits 16 GiB
    below 4 microbatches, at 4 it does), 1 GB for smaller models; d_model 48 fails."""
    d, k = run.model.d_model, run.cfg.train.microbatches
    if d == 48:
        result = {"ok": False, "error": "XlaRuntimeError: RESOURCE_EXHAUSTED: out of scoped vmem"}
    else:
        peak = int(40 * GB / k) if d >= 32 else int(1 * GB)
        result = {"ok": True, "peak": peak, "arguments": peak // 4, "outputs": 0, "aliased": 0,
                  "temporaries": peak - peak // 4, "compile_s": 1.0, "flops": 1e12,
                  "bytes_accessed": 1e9, "attention": {}}
    fake_compile.calls.append((d, k))
    return points.CompiledPoint((), points.label(run), target, run, result, 0, 4, False)


@pytest.fixture
def stub_compiler(monkeypatch):
    fake_compile.calls = []
    monkeypatch.setattr(mesh, "target_devices", lambda target: 4)
    monkeypatch.setattr(session, "compile_one", fake_compile)
    return fake_compile


def test_the_stage_picks_microbatches_and_refuses_by_the_compiled_peak(tmp_path, capsys,
                                                                      stub_compiler):
    # batch 16 over 4 chips: 4 per chip, so 1, 2 or 4 microbatches
    path = write(tmp_path, **{"grid.params": [8000, 35000], "base.train.batch_size": 16})
    assert main(["sweep", str(path), "--dry-run", "--compile-for", TARGET]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line[:2] in ("0 ", "1 ", "2 ", "3 ")]
    mb = {r[0]: r[14] for r in rows}  # the plan's mb column
    assert mb == {"0": "1", "1": "1", "2": "4", "3": "4"}, out
    # each distinct step compiled once: the small model at 1, the large one at 1, 2 and 4
    assert sorted(stub_compiler.calls) == [(16, 1), (32, 1), (32, 2), (32, 4)]
    assert "compiled for tpu-v5e-2x2" in out and "0,1" in out and "2,3" in out
    assert "10.0 GB" in out  # the compiled peak, in the plan's memory column too


def test_a_point_no_count_fits_or_whose_compile_fails_is_refused_in_one_line(tmp_path, capsys,
                                                                            stub_compiler):
    path = write(tmp_path, **{"grid.params": [8000, 35000, 60000], "base.train.batch_size": 8})
    assert main(["sweep", str(path), "--dry-run", "--compile-for", TARGET]) == 2
    out, err = capsys.readouterr()
    assert "compiled peak 20.0 GB per device > 17.2 GB at 2 microbatches" in err
    assert "compile failed: XlaRuntimeError: RESOURCE_EXHAUSTED: out of scoped vmem" in err
    assert "FAILED: XlaRuntimeError" in out  # the compiled table's row for it
    assert "DOES NOT FIT" in out


def test_the_dry_run_compiles_with_libtpu_and_a_second_is_served_from_the_cache(tmp_path,
                                                                               capsys,
                                                                               monkeypatch):
    needs_libtpu()
    monkeypatch.setenv("SCALING_CACHE", str(tmp_path / "cache"))
    path = write(tmp_path, **{"base.model.dtype": "bfloat16"})
    assert main(["sweep", str(path), "--dry-run", "--compile-for", TARGET]) == 0
    out = capsys.readouterr().out
    table = out[out.index("compiled for"):]
    for col in ("args", "temps", "peak", "peak/HBM", "calculator", "calc/XLA", "compile s",
                "XLA FLOPs", "suite FLOPs", "FLOPs ratio", "roofline ms"):
        assert col in table
    assert table.count(" fits") == 2 and "(cached)" not in table  # 4 points, 2 distinct steps
    t0 = time.perf_counter()
    assert main(["sweep", str(path), "--dry-run", "--compile-for", TARGET]) == 0
    assert time.perf_counter() - t0 < 10
    again = capsys.readouterr().out
    assert again.count("(cached)") == 2
    strip = lambda text: [ln.split()[:8] for ln in text.splitlines()]  # noqa: E731
    assert strip(again.replace(" (cached)", "")) == strip(out)  # the same peaks, the same plan


def test_sweep_report_prints_the_markdown_table_of_a_few_points(tmp_path, capsys, monkeypatch):
    """`python -m scaling.compile.sweep_report FILE TARGET --points ... --markdown` (the README's
    table), with the stub compiler: one row per distinct step of the chosen points."""
    from scaling.compile import sweep_report

    def fake_run(run, target, *, use_cache=True):
        c = fake_compile(run, target, fit=False, use_cache=use_cache)
        return dict(c.result, devices=4), False

    fake_compile.calls = []
    monkeypatch.setattr(mesh, "target_devices", lambda target: 4)
    monkeypatch.setattr(points, "compile_run", fake_run)
    path = write(tmp_path, **{"grid.params": [8000, 35000], "base.train.batch_size": 16})
    assert sweep_report.main([str(path), TARGET, "--points", "0,1,2", "--markdown"]) == 0
    rows = [r for r in capsys.readouterr().out.splitlines() if r.startswith("| ")]
    assert len(rows) == 3  # the head, then points 0,1 (one step) and point 2 (at 4 microbatches)
    assert rows[1].startswith("| 0,1 | clm d16 L1") and rows[2].startswith("| 2 | clm d32 L2")
    assert "mb4" in rows[2] and "| 0.93 / 16 GiB |" in rows[1]  # 1 GB
    # --readme writes the same table into its block of a Markdown file, and nothing else
    readme = tmp_path / "README.md"
    key = f"{path} {TARGET}"
    readme.write_text(f"# R\n\n<!-- compiled {key} -->\nold\n<!-- /compiled -->\n\ntail\n")
    assert sweep_report.main([str(path), TARGET, "--points", "0,1,2", "--readme",
                              str(readme)]) == 0
    text = readme.read_text()
    assert "old" not in text and text.startswith("# R\n") and text.endswith("\ntail\n")
    assert [r for r in text.splitlines() if r.startswith("| ")] == rows
    other = tmp_path / "other.md"
    other.write_text("no block\n")
    assert sweep_report.main([str(path), TARGET, "--readme", str(other)]) == 2
    assert "no block for" in capsys.readouterr().err and other.read_text() == "no block\n"


def _fake(k, *, ok=True, fits=True, recomputed=0.0):
    """A CompiledPoint stand-in for points.pick: what it reads, nothing more."""
    from types import SimpleNamespace

    return SimpleNamespace(k=k, ok=ok, fits=ok and fits, recomputed_flops=recomputed)


@pytest.mark.parametrize("case,want,walked", [
    ([_fake(1, recomputed=9e12), _fake(2), _fake(4)], 2, 2),         # a count more beats recompute
    ([_fake(1, recomputed=9e12), _fake(2, recomputed=1e12)], 1, 2),  # every fit recomputes
    ([_fake(1, fits=False), _fake(2, recomputed=1e12), _fake(4)], 4, 3),
    ([_fake(1, recomputed=9e12), _fake(2, ok=False), _fake(4)], 1, 2),  # a failure ends the walk
    ([_fake(1, ok=False), _fake(2)], 1, 1),                          # the failure is the answer
    ([_fake(1, fits=False), _fake(2, fits=False)], 2, 2),            # none fits: the last
])
def test_pick_takes_the_fewest_microbatches_that_fit_without_the_compiler_recomputing(
        case, want, walked):
    by_k = {c.k: c for c in case}
    seen = []
    chosen = points.pick(list(by_k), lambda k: seen.append(k) or by_k[k])
    assert chosen.k == want and len(seen) == walked
