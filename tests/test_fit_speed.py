"""benchmarks.fit_speed's report: speed-ups against both scipy loops and the three targets."""

import numpy as np

from analysis.laws import REFERENCE_LAWS
from benchmarks import fit_speed


def test_report_gives_speedups_against_both_loops_and_says_which_targets_hold(capsys):
    t = {"plain": 60.0, "one": 15.0, "cold": 3.0, "fresh": 2.0, "warm": 1.0,
         "boot1": 8.0, "boot2": 4.0, "imports": 1.2}
    f = {"plain": 1e-3, "one": 1e-3, "vec": 1e-3 - 1e-15}
    boot = np.column_stack([np.zeros((50, 3)), np.linspace(0.3, 0.36, 50), np.zeros(50)])
    fit_speed.report(t, f, {"n_at_best": 9}, np.zeros(5), REFERENCE_LAWS["hoffmann"], boot,
                    4500, 1000)
    out = capsys.readouterr().out
    assert "against the plain loop: fresh process, warm cache >= 20x (30.0x ok), " \
           "warm >= 40x (60.0x ok)" in out
    assert "against the one BLAS thread loop: fresh process, warm cache >= 20x (7.5x MISSED)" in out
    assert "1,000 resamples <= 15 s (8.0 s ok)" in out
    assert "issue" not in out
    assert "vectorised - scipy = -1.000e-15" in out
    imports = [l for l in out.splitlines() if "of which importing JAX, numpy, scipy" in l]
    assert len(imports) == 1 and imports[0].split()[6] == "1.20"
