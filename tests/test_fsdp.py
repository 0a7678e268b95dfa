"""FSDP (train.fsdp): on 8 fake CPU devices the losses equal the replicated run's, and XLA's
compiled memory analysis shows the per-device argument bytes (parameters, Adam state, batch)
falling about 8x. The 8-device part runs in a subprocess: the device count is fixed when JAX
starts."""
import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT
from jax.sharding import PartitionSpec as P

from scaling.train.sharding import FSDP_MIN_BYTES, fsdp_spec, mesh_shape

SCRIPT = r"""
import json, sys
sys.path.insert(0, "tests")
from stepping import losses, tiny_record
from scaling.train import sharding
from scaling.train.state import build_train_state, compiled_memory
over = {"model.d_model": 128, "model.n_heads": 2, "train.batch_size": 16}
out = {"replicated": losses("clm", steps=3, **over),
       "fsdp": losses("clm", steps=3, **over, **{"train.fsdp": True})}
mesh = sharding.data_mesh()
for f in (False, True):
    rec, sp = tiny_record("clm", **over)
    ts = build_train_state(rec.model, rec.objective(), rec.cfg.optim, rec.steps, sp, 0, fsdp=f)
    ts.put(mesh)
    out[f"memory_{f}"] = compiled_memory(ts, mesh, 16, rec.window)
out["devices"] = mesh.devices.size
print(json.dumps(out))
"""


def test_fsdp_rule_takes_the_largest_divisible_axis():
    big, both = FSDP_MIN_BYTES * 4, ("data", "fsdp")
    assert fsdp_spec((128, 384), big, (4, 2)) == P(None, both)
    assert fsdp_spec((268, 128), big, (4, 2)) == P(None, both)   # 268 is not a multiple of 8
    assert fsdp_spec((270, 3), big, (4, 2)) == P("fsdp", None)     # only 2 divides 270: 2 ways
    assert fsdp_spec((269, 3), big, (4, 2)) == P()                 # nothing divides
    assert fsdp_spec((128,), FSDP_MIN_BYTES - 1, (4, 2)) == P()    # small: replicated
    assert fsdp_spec((128, 384), big, (1, 1)) == P()


def test_fsdp_splits_two_axes_when_no_one_axis_takes_every_device():
    """tpu_chinchilla's largest step on 256 chips: d_model 1152 and the fused QKV's 3456 are no
    multiple of 256, but of 16 each: split one over each mesh axis, 256 ways in all."""
    big = FSDP_MIN_BYTES * 4
    assert mesh_shape(256) == (16, 16) and mesh_shape(8) == (4, 2) and mesh_shape(7) == (7, 1)
    assert fsdp_spec((1152, 3456), big, (16, 16)) == P("fsdp", "data")
    assert fsdp_spec((3072, 1152), big, (16, 16)) == P(("data", "fsdp"), None)
    assert fsdp_spec((1152,), big, (16, 16)) == P("data")      # one mesh axis: 16 ways
    assert fsdp_spec((25, 3), big, (5, 2)) == P("data", None)   # 25 = 5 x 5: 5 ways


@pytest.mark.slow
def test_fsdp_on_8_devices_matches_and_shrinks_arguments():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["devices"] == 8
    for a, b in zip(r["fsdp"], r["replicated"], strict=True):
        assert abs(a - b) <= 1e-5 * abs(b)
    ratio = r["memory_False"]["arguments"] / r["memory_True"]["arguments"]
    assert 6.5 < ratio <= 8.0, ratio  # biases and norms stay replicated
