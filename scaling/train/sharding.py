"""Every sharding decision of a run, in one place: data parallel over all devices.

Parameters and optimizer state are replicated; batches are split on their first axis over a
1-D mesh named 'data'. Axis types are Auto: with the default Explicit types an embedding lookup
on batch-sharded ids fails with ShardingTypeError (NOTES.md). Across hosts (jax.distributed),
each process feeds its own slice of the global batch.
"""
from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P


def maybe_initialize_distributed() -> None:
    """Join a multi-host job when the environment describes one (SLURM, or JAX's own vars)."""
    if jax.process_count() > 1 or getattr(maybe_initialize_distributed, "_done", False):
        return
    if os.environ.get("JAX_COORDINATOR_ADDRESS") or (
            int(os.environ.get("SLURM_NTASKS", "1")) > 1 and os.environ.get("SCALING_DISTRIBUTED")):
        jax.distributed.initialize()
    maybe_initialize_distributed._done = True


def data_mesh() -> jax.sharding.Mesh:
    devices = jax.devices()
    return jax.make_mesh((len(devices),), ("data",), axis_types=(jax.sharding.AxisType.Auto,))


def replicated(mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharding(mesh) -> NamedSharding:
    return NamedSharding(mesh, P("data"))


def check_batch(batch_size: int, mesh) -> None:
    n = mesh.devices.size
    if batch_size % n:
        from scaling.errors import ConfigError
        raise ConfigError(f"batch_size {batch_size} is not divisible by {n} devices",
                          key="train.batch_size", fix=f"use a multiple of {n}")


def put_batch(x_BxW: np.ndarray, mesh) -> jax.Array:
    """Host windows -> a global array sharded over 'data' (each process gives its own rows)."""
    sharding = batch_sharding(mesh)
    if jax.process_count() == 1:
        return jax.device_put(x_BxW, sharding)
    n, i = jax.process_count(), jax.process_index()
    per = x_BxW.shape[0] // n
    local = x_BxW[i * per:(i + 1) * per]
    return jax.make_array_from_process_local_data(sharding, local, x_BxW.shape)


def put_replicated(tree, mesh):
    return jax.device_put(tree, replicated(mesh))
