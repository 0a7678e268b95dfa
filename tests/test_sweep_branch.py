"""`recipe.schedule: wsd_branch`: trunks and branches planned, priced and run exactly: two
workers SIGKILLed at random moments end with every trunk and branch done once and the curves
of an uninterrupted branched sweep."""
import json
import random
import signal
import time

import pytest
from conftest import run_cli
from test_sweep_config import tiny_sweep
from test_sweep_runner import curves, metric_lines, start, summaries, write

from scaling.sweep import grid
from scaling.sweep.branching import flops_summary, format_branches
from scaling.sweep.config import sweep_from_dict

VOCAB = 4 + 8 + 256
BRANCHED = {"recipe.schedule": "wsd_branch", "recipe.cooldown_frac": 0.25,
            "grid.tokens": [5120, 10240, 20480]}  # 20, 40, 80 steps of 8 x 32 tokens


def test_plan_groups_by_size_and_prices_the_cooldowns():
    pts = grid.expand(sweep_from_dict(tiny_sweep(**BRANCHED)), VOCAB)
    roles = [p.role for p in pts]
    assert roles == ["trunk", "branch", "branch", "branch"] * 2
    trunk, *branches = pts[:4]
    assert [b.run.steps for b in branches] == [20, 40, 80]
    assert [b.cfg.train.branch_step for b in branches] == [15, 30, 60]
    assert trunk.cfg.train.stop_at == 60 and trunk.cfg.train.branch_points == (15, 30, 60)
    assert {b.trunk_id for b in branches} == {trunk.run_id}
    assert {b.cfg.optim.warmup_steps for b in pts[:4]} == {2}  # one warmup: the shortest's
    f = flops_summary(pts)
    assert f["ratio"] == pytest.approx((60 + 5 + 10 + 20) / (20 + 40 + 80))
    assert "ratio 0.679" in format_branches(pts)


def test_branch_inside_warmup_is_refused():
    from runstore import InputError
    with pytest.raises(InputError, match="cooldown_frac"):
        grid.expand(sweep_from_dict(tiny_sweep(**{**BRANCHED, "recipe.cooldown_frac": 0.95})),
                    VOCAB)


def test_dry_run_prints_trunks_branches_and_ratio(tmp_path):
    path = write(tmp_path / "s.yaml", tmp_path / "out", **BRANCHED)
    proc = run_cli("sweep", path, "--dry-run", check=True)
    assert "trunks and branches (wsd_branch)" in proc.stdout and "ratio 0.679" in proc.stdout
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.long  # 100 s on 2 cores: `pytest -m long` (CI runs it)
def test_two_workers_killed_at_random_then_resumed_match_an_uninterrupted_sweep(tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "out"
    run_cli("sweep", write(tmp_path / "r.yaml", ref, **BRANCHED), "--quiet", check=True)
    path = write(tmp_path / "s.yaml", out, **BRANCHED)
    rng = random.Random(7)
    for _attempt in range(3):
        procs = [start(path, "--worker", f"w{i}") for i in range(2)]
        target = metric_lines(out) + rng.randint(20, 60)
        deadline = time.time() + 120
        while time.time() < deadline and metric_lines(out) < target and \
                any(p.poll() is None for p in procs):
            time.sleep(0.02)
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
            p.wait()
    procs = [start(path, "--worker", f"w{i}") for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    got, want = curves(out), curves(ref)
    assert set(got) == set(want) and len(got) == 8
    assert got == want
    s = summaries(out)
    assert sorted(v["role"] for v in s.values()) == ["branch"] * 6 + ["trunk"] * 2
    assert all(v["status"] == "done" for v in s.values())
    for d in (out / "runs").iterdir():  # each trained to the end by one claim at a time
        claims = [json.loads(l) for l in (d / "claims.jsonl").read_text().splitlines()]
        assert claims and all(c["generation"] == i for i, c in enumerate(claims))


def test_a_branch_whose_finished_trunk_lost_its_branch_points_is_an_error(tmp_path, capsys):
    """A finished trunk without its branch_points/ can never start a pending branch: the sweep
    says so, names the trunk and the fix, and fails (it used to wait forever and exit 0). The
    trunk is a finished run's record written by hand (no training: its steps are not needed)."""
    from runstore import atomic_write_json, write_summary
    from scaling import cli
    out = tmp_path / "out"
    over = {**BRANCHED, "grid.params": [8000], "grid.tokens": [5120]}
    path = write(tmp_path / "s.yaml", out, **over)
    trunk = grid.expand(sweep_from_dict(tiny_sweep(out=str(out), **over)), VOCAB)[0]
    assert trunk.role == "trunk"
    d = out / "runs" / trunk.run_id
    d.mkdir(parents=True)
    atomic_write_json(d / "config.json", trunk.cfg.to_dict())
    write_summary(d, trunk.run.summary(trunk.cfg.train.stop_at, status="done"))
    assert cli.main(["sweep", str(path), "--quiet"]) == 1
    lines = [l for l in capsys.readouterr().err.splitlines() if l.startswith("error:")]
    assert len(lines) == 1 and f"its trunk {trunk.run_id} is done" in lines[0], lines
    assert "can never start" in lines[0] and f"move {d} aside" in lines[0]
    assert sorted(p.name for p in (out / "runs").iterdir()) == [trunk.run_id]  # nothing else
