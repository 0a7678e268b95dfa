"""Every sharding decision of a run, in one place: data parallel over all devices, with the
parameters and optimizer state replicated or (train.fsdp) sharded over the same axis.

Batches are split on their first axis over every device of a 2-D mesh ('data', 'fsdp'; AXES).
Axis types are Auto: with
the default Explicit types an embedding lookup on batch-sharded ids fails with ShardingTypeError
(docs/notes.md). FSDP follows nanodo's fsdp.py: each array large enough to matter is split along its
largest axis that the device count divides, or over two axes by the mesh's two, whichever even
split pads least in a TPU's tiled layouts (fsdp_spec); XLA then gathers weights for the matmuls and
reduce-scatters the gradients. Across processes (jax.distributed), each process feeds its own
slice of the global batch.
"""
from __future__ import annotations

import os
import sys
import threading
import time

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from runstore import InputError

#: Arrays smaller than this stay replicated under FSDP: norms, biases and Adam's step counter
#: would cost a collective each for a few bytes saved.
FSDP_MIN_BYTES = 1 << 14


#: Seconds a process waits for the whole job to join before it gives up (--init-timeout).
INIT_TIMEOUT_S = 120.0


def parse_coordinator(address: str) -> tuple[str, int]:
    """'HOST:PORT' (IPv6 as '[::1]:PORT') -> (host, port), or an InputError naming the flag."""
    host, sep, port = address.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
        raise InputError(f"{address!r} is not HOST:PORT", key="--coordinator",
                         fix="give process 0's address, e.g. --coordinator 10.0.0.1:8476")
    return host, int(port)


def check_launch(coordinator: str, num_processes: int, process_id: int) -> None:
    """The multi-process flags, checked before anything starts: the one place they are."""
    if not coordinator:
        if num_processes or process_id != -1:
            raise InputError("given without --coordinator", key="--num-processes"
                             if num_processes else "--process-id",
                             fix="add --coordinator HOST:PORT (process 0's address)")
        return
    parse_coordinator(coordinator)
    if num_processes < 1:
        raise InputError(f"must be >= 1, got {num_processes}", key="--num-processes",
                         fix="give the number of processes in the job")
    if not 0 <= process_id < num_processes:
        raise InputError(f"must be in [0, {num_processes}), got {process_id}",
                         key="--process-id", fix="number the processes 0 .. N-1; 0 writes")


def _watchdog(what: str, timeout_s: float, done: threading.Event) -> None:
    """A line every 10 s while the job assembles; one error line and exit 2 at the timeout
    (JAX's own deadline, set later than this one, would abort with a C++ stack trace)."""
    t0 = time.monotonic()
    while not done.wait(10.0 if timeout_s > 10 else timeout_s):
        waited = time.monotonic() - t0
        if waited >= timeout_s:
            print(f"error: --coordinator {what}: the job did not assemble within "
                  f"{timeout_s:.0f} s (fix: start every process with the same --coordinator and "
                  "--num-processes, check that process 0 is reachable, or raise "
                  "--init-timeout)", file=sys.stderr, flush=True)
            os._exit(2)
        print(f"waiting for the job at {what} ({waited:.0f} s of {timeout_s:.0f})",
              file=sys.stderr, flush=True)


def initialize_distributed(coordinator: str = "", num_processes: int = 0,
                           process_id: int = -1, timeout_s: float = INIT_TIMEOUT_S) -> None:
    """Join a multi-process job: given by hand (--coordinator/--num-processes/--process-id), or
    described by the environment (SLURM with SCALING_DISTRIBUTED=1, or JAX's own variables).
    On CPU the processes talk through gloo collectives (XLA's CPU default has none). Waits at
    most `timeout_s` for every process to join, with a progress line, then fails in one line."""
    if getattr(initialize_distributed, "_done", False):
        return
    check_launch(coordinator, num_processes, process_id)
    slurm = int(os.environ.get("SLURM_NTASKS", "1")) > 1
    by_env = bool(os.environ.get("JAX_COORDINATOR_ADDRESS")) or (
        slurm and bool(os.environ.get("SCALING_DISTRIBUTED")))
    if coordinator or by_env:
        # read when the CPU client is created, so it must be set before any array exists
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        done = threading.Event()
        what = (f"{coordinator} (process {process_id} of {num_processes})" if coordinator
                else "the address in the environment")
        threading.Thread(target=_watchdog, args=(what, timeout_s, done), daemon=True).start()
        try:
            jax.distributed.initialize(coordinator or None, num_processes or None,
                                       None if process_id < 0 else process_id,
                                       initialization_timeout=int(timeout_s) + 60)
        finally:
            done.set()
    initialize_distributed._done = True


maybe_initialize_distributed = initialize_distributed  # the loop's and the runner's name


def is_writer() -> bool:
    """Exactly one process of a job writes metrics, summaries, configs and claims."""
    return jax.process_index() == 0


#: The mesh's two axes. Batches split over both (all devices, in order: plain data
#: parallelism); FSDP may split one array axis over both, or two array axes one mesh axis each,
#: so that an array no axis of which the device count divides is still sharded n ways (a
#: d_model of 1152 over 256 chips: 1152 = 16 x 72).
AXES = ("data", "fsdp")


def mesh_shape(n: int) -> tuple[int, int]:
    """(n / k, k) for the largest divisor k of n with k * k <= n: 256 -> (16, 16), 8 -> (4, 2)."""
    k = max(d for d in range(1, int(n ** 0.5) + 1) if n % d == 0)
    return n // k, k


def data_mesh() -> jax.sharding.Mesh:
    devices = jax.devices()
    return jax.make_mesh(mesh_shape(len(devices)), AXES,
                         axis_types=(jax.sharding.AxisType.Auto,) * 2)


def replicated(mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharding(mesh) -> NamedSharding:
    return NamedSharding(mesh, P(AXES))


def tpu_padded_size(shape: tuple[int, ...], itemsize: int = 4) -> int:
    """Elements an array of `shape` occupies in a TPU's HBM under libtpu's default tiled layouts:
    what FSDP's choice minimizes, since an evenly split shard of 72 lanes still takes 128.
    Measured with libtpu 0.0.42.1 on tpu-v5e-16x16 (argument bytes of a jitted x * 2, f32 and
    bf16, and the layouts of tpu_chinchilla's largest FSDP step): a vector pads to a tile that
    is the power of two from 128 (bf16 256) to 1024, then to multiples of 1024 ([72] -> 128,
    [1152] -> 2048 elements). Higher ranks tile the two dims the compiler lays out minor-most,
    whichever pair pads least: the minor one to a multiple of 128, the next to 1, 2, 4 or a
    multiple of 8. So [1152, 36] is laid out transposed, 40 x 1152 (184320 B, not the
    1152 x 128 of row-major tiles); [72, 216] -> 72 x 256; [18, 1152] -> 24 x 1152;
    [2, 18, 1152] -> unpadded (minor 1152, then the 2). Summed over the shards of
    tpu_chinchilla's point 21 (16 x 16 chips) and point 0 (tpu-v5p-2x2x1), this gives the
    compiler's per-chip argument bytes of their FSDP state to the byte."""
    if not shape:
        return 128  # a scalar: T(128)
    if 0 in shape:
        return 0
    if len(shape) == 1:
        tile = min(1024, max(128 * max(1, 4 // itemsize), 1 << (shape[0] - 1).bit_length()))
        return -(-shape[0] // tile) * tile
    up = lambda x, k: -(-x // k) * k  # noqa: E731
    sub = lambda x: x if x <= 2 else (4 if x <= 4 else up(x, 8))  # noqa: E731
    rest = int(np.prod(shape))
    return min(rest // (shape[i] * shape[j]) * up(shape[i], 128) * sub(shape[j])
               for i in range(len(shape)) for j in range(len(shape)) if i != j)


def shard_shape(shape: tuple[int, ...], spec, dims: tuple[int, int]) -> tuple[int, ...] | None:
    """The per-device shape of an array laid out by `spec` (a PartitionSpec) over a (data, fsdp)
    mesh of `dims`, or None where a split is not even."""
    ways = dict(zip(AXES, dims))
    out = list(shape)
    for a, axes in enumerate(spec):
        k = int(np.prod([ways[x] for x in ((axes,) if isinstance(axes, str) else axes or ())]))
        if out[a] % k:
            return None
        out[a] //= k
    return tuple(out)


def fsdp_spec(shape: tuple[int, ...], nbytes: int, dims: tuple[int, int]) -> P:
    """The FSDP layout of one array over a (data, fsdp) mesh of `dims`: of its even splits (an
    array axis takes both mesh axes, one, or none; JAX shards evenly only), the one whose shard
    takes the fewest TPU bytes (tpu_padded_size), then the fewest bytes, then the first in the
    order: its largest axis that all n = data x fsdp devices divide, over both mesh axes; two of
    its axes, one mesh axis each (n ways again); one axis, one mesh axis; replicated (always
    when small). The padding rule is the TPU's; without tiles (CPU, GPU) the splits it prefers
    are no worse: over every sweep's arrays on meshes of 1 to 256 devices, it moves 53 of 654
    choices of the old order, each to one as many ways (d320's 1280 x 320 over 2 x 2 chips:
    (1280, 80) shards, unpadded, not (320, 320) ones taking 320 x 384)."""
    n = dims[0] * dims[1]
    if n == 1 or nbytes < FSDP_MIN_BYTES:
        return P()
    order = sorted(range(len(shape)), key=lambda a: -shape[a])
    cands = [{a: AXES} for a in order]
    if min(dims) > 1:
        cands += [{a: AXES[0], b: AXES[1]} for a in order for b in order if a != b]
    cands += [{a: AXES[i]} for a in order for i in (0, 1) if dims[i] > 1]
    specs = [P(*[c.get(a) for a in range(len(shape))]) for c in cands] + [P()]
    itemsize = max(1, nbytes // max(1, int(np.prod(shape))))
    sized = [(tpu_padded_size(s, itemsize), int(np.prod(s)), spec)
             for spec in specs if (s := shard_shape(shape, spec, dims)) is not None]
    return min(sized, key=lambda t: t[:2])[2]  # min keeps the first of equals: the order's


def state_shardings(tree, mesh, fsdp: bool):
    """A NamedSharding per leaf of (params, opt_state): replicated, or FSDP's layout."""
    dims = tuple(mesh.shape[a] for a in AXES)
    def one(x):
        spec = fsdp_spec(x.shape, x.size * x.dtype.itemsize, dims) if fsdp else P()
        return NamedSharding(mesh, spec)
    return jax.tree.map(one, tree)


def fsdp_state_bytes(tree, dims: tuple[int, int]) -> tuple[int, int]:
    """(bytes of `tree` replicated, bytes per TPU chip of its FSDP shards, tiles' padding
    included): what the compiler's per-chip arguments hold of the state (tpu_padded_size)."""
    total = per_chip = 0
    for x in jax.tree.leaves(tree):
        nbytes = x.size * x.dtype.itemsize
        shard = shard_shape(x.shape, fsdp_spec(x.shape, nbytes, dims), dims)
        total += nbytes
        per_chip += tpu_padded_size(shard, x.dtype.itemsize) * x.dtype.itemsize
    return total, per_chip


def batch_split_problem(batch_size: int, microbatches: int, n_devices: int) -> str | None:
    """Why a batch cannot be split into `microbatches` equal microbatches that each split over
    `n_devices` (the step reshapes it so), or None: the one rule the trainer and the planner
    both apply."""
    if microbatches < 1 or batch_size % microbatches:
        return f"batch {batch_size} does not split into {microbatches} equal microbatches"
    if (batch_size // microbatches) % n_devices:
        if microbatches == 1:
            return f"batch {batch_size} does not split over {n_devices} devices"
        return (f"batch {batch_size} over {microbatches} microbatches is not divisible by "
                f"{n_devices} devices")
    return None


def check_batch(batch_size: int, mesh, microbatches: int = 1) -> None:
    n = mesh.devices.size
    problem = batch_split_problem(batch_size, microbatches, n)
    if problem:
        raise InputError(problem, key="train.batch_size",
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
