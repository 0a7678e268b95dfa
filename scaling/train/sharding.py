"""Every sharding decision of a run, in one place: data parallel over all devices, with the
parameters and optimizer state replicated or (train.fsdp) sharded over the same axis.

Batches are split on their first axis over a 1-D mesh named 'data'. Axis types are Auto: with
the default Explicit types an embedding lookup on batch-sharded ids fails with ShardingTypeError
(NOTES.md). FSDP follows nanodo's fsdp.py: each array large enough to matter is split along its
largest axis that the device count divides; XLA then gathers weights for the matmuls and
reduce-scatters the gradients. Across processes (jax.distributed), each process feeds its own
slice of the global batch.
"""
from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

#: Arrays smaller than this stay replicated under FSDP: norms, biases and Adam's step counter
#: would cost a collective each for a few bytes saved.
FSDP_MIN_BYTES = 1 << 14


def initialize_distributed(coordinator: str = "", num_processes: int = 0,
                           process_id: int = -1) -> None:
    """Join a multi-process job: given by hand (--coordinator/--num-processes/--process-id), or
    described by the environment (SLURM with SCALING_DISTRIBUTED=1, or JAX's own variables).
    On CPU the processes talk through gloo collectives (XLA's CPU default has none)."""
    if getattr(initialize_distributed, "_done", False):
        return
    slurm = int(os.environ.get("SLURM_NTASKS", "1")) > 1
    by_env = bool(os.environ.get("JAX_COORDINATOR_ADDRESS")) or (
        slurm and bool(os.environ.get("SCALING_DISTRIBUTED")))
    if coordinator or by_env:
        # read when the CPU client is created, so it must be set before any array exists
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        if coordinator:
            jax.distributed.initialize(coordinator, num_processes, process_id)
        else:
            jax.distributed.initialize()  # SLURM's or JAX's environment fills in the rest
    initialize_distributed._done = True


maybe_initialize_distributed = initialize_distributed  # the loop's and the runner's name


def is_writer() -> bool:
    """Exactly one process of a job writes metrics, summaries, configs and claims."""
    return jax.process_index() == 0


def data_mesh() -> jax.sharding.Mesh:
    devices = jax.devices()
    return jax.make_mesh((len(devices),), ("data",), axis_types=(jax.sharding.AxisType.Auto,))


def replicated(mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharding(mesh) -> NamedSharding:
    return NamedSharding(mesh, P("data"))


def fsdp_spec(shape: tuple[int, ...], nbytes: int, n: int) -> P:
    """The FSDP layout of one array over n devices: its largest axis that n divides, or
    replicated when it is small or no axis divides."""
    if n == 1 or nbytes < FSDP_MIN_BYTES:
        return P()
    for axis in sorted(range(len(shape)), key=lambda a: -shape[a]):
        if shape[axis] % n == 0:
            return P(*[("data" if a == axis else None) for a in range(len(shape))])
    return P()


def state_shardings(tree, mesh, fsdp: bool):
    """A NamedSharding per leaf of (params, opt_state): replicated, or FSDP's layout."""
    n = mesh.devices.size
    def one(x):
        spec = fsdp_spec(x.shape, x.size * x.dtype.itemsize, n) if fsdp else P()
        return NamedSharding(mesh, spec)
    return jax.tree.map(one, tree)


def check_batch(batch_size: int, mesh, microbatches: int = 1) -> None:
    n = mesh.devices.size
    if (batch_size // microbatches) % n:
        from runstore import InputError
        raise InputError(f"batch_size {batch_size} over {microbatches} microbatches is not "
                          f"divisible by {n} devices", key="train.batch_size",
                          fix=f"use a multiple of {n * microbatches}")


def put_batch(x_BxW: np.ndarray, mesh) -> jax.Array:
    """Host windows -> a global array sharded over 'data' (each process gives its own rows)."""
    sharding = batch_sharding(mesh)
    if jax.process_count() == 1:
        return jax.device_put(x_BxW, sharding)
    n, i = jax.process_count(), jax.process_index()
    per = x_BxW.shape[0] // n
    local = x_BxW[i * per:(i + 1) * per]
    return jax.make_array_from_process_local_data(sharding, local, x_BxW.shape)


def put_tree(tree, shardings):
    """Place a tree whose values every process holds in full (after init or restore)."""
    if jax.process_count() == 1:
        return jax.device_put(tree, shardings)
    return jax.tree.map(lambda x, s: jax.make_array_from_callback(
        x.shape, s, lambda idx: np.asarray(x)[idx]), tree, shardings)


def put_replicated(tree, mesh):
    if jax.process_count() == 1:
        return jax.device_put(tree, replicated(mesh))
    return put_tree(tree, jax.tree.map(lambda _: replicated(mesh), tree))
