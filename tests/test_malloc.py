"""The glibc fix is applied by `import scaling` itself, in any process (see scaling/_malloc.py)."""
import os
import subprocess
import sys

import pytest

from scaling import _malloc


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_applied_at_import():
    assert _malloc.apply() is True


def test_fresh_process_applies_it_without_env(tmp_path):
    code = "import scaling, scaling._malloc as m; print(m._applied)"
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "LD_PRELOAD")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == ("True" if sys.platform.startswith("linux") else "False")


def test_opt_out():
    env = dict(os.environ, SCALING_NO_MALLOPT="1")
    code = "import scaling, scaling._malloc as m; print(m._applied)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "False"
