"""A target's mesh of abstract devices: the accelerator's own compiler, with no accelerator here.

TPU: libtpu's topology by name (`jax.experimental.topologies.get_topology_desc`), which gives
compile-only devices of any slice (multi-host too). GPU: XLA's deviceless GPU compiler, given a
gpu_device_info text proto (scaling/compile/targets/*.txtpb) and a "1x1xN" topology; it needs
jax[cuda12] (the GPU venv of scripts/gpu_venv.sh) and runs with CUDA_VISIBLE_DEVICES=-1.
The mesh is the (data, fsdp) one, Auto axes: the layout scaling/train/sharding.py gives a real run.
"""
from __future__ import annotations

import functools
import os

import numpy as np

from scaling.compile.targets import TARGET_CONFIG_DIR, Target, quiet_libtpu


class CompilerMissing(RuntimeError):
    """The target's compiler is not installed (libtpu, or jax's CUDA plugin)."""


def libtpu_version() -> str | None:
    """The installed libtpu's version, or None when the TPU compiler is absent."""
    try:
        from importlib.metadata import PackageNotFoundError, version
        try:
            return version("libtpu")
        except PackageNotFoundError:
            return version("libtpu-nightly")
    except Exception:  # noqa: BLE001 - any failure means: not installed
        return None


def cuda_plugin_version() -> str | None:
    try:
        from importlib.metadata import version
        return version("jax-cuda12-plugin")
    except Exception:  # noqa: BLE001
        return None


def compiler_version(target: Target) -> str:
    """What the cache keys on besides the program: the target compiler's version."""
    import jax
    v = libtpu_version() if target.platform == "tpu" else cuda_plugin_version()
    return f"jax {jax.__version__}; {target.platform} compiler {v}"


#: libtpu's accelerator-type names, by generation, from a slice's chips (v4 and v5p count cores).
_ACCELERATOR_TYPE = {"v4": "v4-{}", "v5p": "v5p-{}", "v5e": "v5litepod-{}", "v6e": "v6e-{}"}


def _quiet_libtpu(target: Target) -> None:
    """Compile-only libtpu: several processes (pytest-xdist, two dry runs) may load it at once,
    and off a TPU VM it needs what the VM's metadata would give (targets.quiet_libtpu)."""
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
    gen = target.topology.split(":")[0]
    cores = target.chips * (2 if gen in ("v4", "v5p") else 1)
    quiet_libtpu(_ACCELERATOR_TYPE[gen].format(cores))


@functools.lru_cache(maxsize=None)
def _topology(target: Target):
    from jax.experimental import topologies

    if target.platform == "tpu":
        _quiet_libtpu(target)
        if libtpu_version() is None:
            raise CompilerMissing("the TPU compiler (libtpu) is not installed: "
                                  "pip install 'scaling-suite[tpu]' (jax[tpu])")
        return topologies.get_topology_desc(topology_name=target.topology, platform="tpu")
    if cuda_plugin_version() is None:
        raise CompilerMissing("the GPU compiler (jax[cuda12]) is not installed: build the GPU "
                              "venv with scripts/gpu_venv.sh and run the dry run from it")
    # deviceless: the CUDA plugin starts with no GPU only so (read when JAX first looks for
    # its backends; a process that already has, and saw no GPU, cannot compile for one)
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    os.environ.setdefault("JAX_SKIP_CUDA_CONSTRAINTS_CHECK", "1")
    config = (TARGET_CONFIG_DIR / target.gpu_config).read_text()
    return topologies.get_topology_desc(platform="cuda", target_config=config,
                                        topology=target.topology)


def target_mesh(target: Target):
    """The run's (data, fsdp) mesh over every device of the target (chips in ICI order)."""
    import jax
    from jax.experimental import mesh_utils

    from scaling.train.sharding import AXES, mesh_shape

    devices = list(_topology(target).devices)
    grid = mesh_utils.create_device_mesh(mesh_shape(len(devices)), devices)
    return jax.sharding.Mesh(np.asarray(grid), AXES,
                             axis_types=(jax.sharding.AxisType.Auto,) * 2)


def target_devices(target: Target) -> int:
    """Devices the target's compiler sees (a TPU v4 chip shows its two cores as two)."""
    return len(_topology(target).devices)
