"""Compile targets: the accelerators a dry run can compile a point's train step for, with no
such device here (`scaling sweep FILE --dry-run --compile-for TARGET`).

A target is a platform (tpu or gpu), a topology the accelerator's own compiler is given
(`jax.experimental.topologies`: TPU by name, e.g. "v5p:2x2x1", which libtpu knows; GPU as
"1x1xN" with an XLA gpu_device_info text proto from scaling/compile/targets/) and the
scaling/hardware.py entry whose peaks, HBM and bandwidth the report uses.

Names: `h100`, `h100x8`, `a100`, `a100x8` (any `h100xN` / `a100xN` with N <= 8, one host);
`tpu-<gen>-<dims>` with gen v4, v5e, v5p or v6e and the slice's chips, e.g. `tpu-v5e-2x2`,
`tpu-v5p-2x2x1`, `tpu-v5p-4x4x4`, `tpu-v6e-16x16` (multi-host slices compile too: 256 chips of
v5e are 64 hosts of 4).
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

from runstore import InputError

#: gpu_device_info protos shipped in the package (their source is in each file's header).
TARGET_CONFIG_DIR = Path(__file__).parent / "targets"

#: TPU generation -> scaling/hardware.py entry.
TPU_GENERATIONS = {"v4": "TPU v4", "v5e": "TPU v5e", "v5p": "TPU v5p", "v6e": "TPU v6e"}
#: GPU name -> (scaling/hardware.py entry, gpu_device_info file under targets/).
GPUS = {"h100": ("H100 SXM", "h100_sxm.txtpb"), "a100": ("A100 80GB", "a100_sxm_80.txtpb")}
#: Named in the docs and the README; any name of the same form also resolves.
EXAMPLES = ("h100", "h100x8", "a100x8", "tpu-v5e-2x2", "tpu-v5p-2x2x1", "tpu-v5p-4x4x4",
            "tpu-v6e-16x16")


def on_tpu_host() -> bool:
    """Whether this host has TPU chips (a TPU VM: /dev/accel* or /dev/vfio)."""
    return any(Path("/dev").glob("accel*")) or Path("/dev/vfio").is_dir()


def quiet_libtpu(accelerator_type: str = "v5litepod-4") -> None:
    """Off a TPU VM, where libtpu is installed only to compile (the [tpu] extra): set, where
    unset, what a TPU VM's metadata would give, so that libtpu neither queries a metadata
    server nor prints pages of warnings about TPU_ACCELERATOR_TYPE and TPU_WORKER_HOSTNAMES
    when JAX looks for devices. The type only names the host's own (absent) chips: a compile
    target's topology is given by name. On a TPU VM nothing is set."""
    if on_tpu_host():
        return
    for k, v in (("ALLOW_MULTIPLE_LIBTPU_LOAD", "1"), ("TPU_SKIP_MDS_QUERY", "1"),
                 ("TPU_WORKER_HOSTNAMES", "localhost"), ("TPU_ACCELERATOR_TYPE", accelerator_type)):
        os.environ.setdefault(k, v)


@dataclass(frozen=True)
class Target:
    """One compile target: what its compiler is told, and which table entry describes it."""

    name: str            # as given on the command line, lower-cased
    platform: str        # "tpu" | "gpu"
    topology: str        # TPU: libtpu's topology name ("v5p:2x2x1"); GPU: "1x1xN"
    accelerator: str     # scaling/hardware.py ACCELERATORS key
    chips: int           # chips in the slice (TPU) or GPUs (GPU)
    gpu_config: str = "" # GPU: the gpu_device_info file under TARGET_CONFIG_DIR

    @property
    def device_memory(self) -> int | None:
        """GPU: the device memory in bytes the compiler is told (its gpu_device_info file)."""
        return _config_memory(self.gpu_config) if self.gpu_config else None

    @property
    def hardware(self):
        from scaling.hardware import ACCELERATORS
        return ACCELERATORS[self.accelerator]


@functools.lru_cache(maxsize=None)
def _config_memory(config: str) -> int | None:
    """device_memory_size of a shipped gpu_device_info file (read once per file)."""
    text = (TARGET_CONFIG_DIR / config).read_text()
    m = re.search(r"^\s*device_memory_size:\s*(\d+)\s*$", text, re.M)
    return int(m.group(1)) if m else None


def _dims(text: str) -> int:
    n = 1
    for d in text.split("x"):
        n *= int(d)
    return n


def resolve_target(name: str) -> Target:
    """`tpu-v5p-2x2x1`, `h100x8`, ... -> its Target, or one InputError line naming the flag."""
    key = name.strip().lower()
    m = re.fullmatch(r"tpu-(v4|v5e|v5p|v6e)-(\d+x\d+(?:x\d+)?)", key)
    if m:
        gen, dims = m.groups()
        rank = 2 if gen in ("v5e", "v6e") else 3  # v5e/v6e slices are 2-D, v4/v5p 3-D
        if dims.count("x") + 1 != rank:
            raise InputError(f"{name}: {gen} slices have {rank} dimensions",
                             key="--compile-for", fix=f"e.g. {', '.join(EXAMPLES)}")
        return Target(key, "tpu", f"{gen}:{dims}", TPU_GENERATIONS[gen], _dims(dims))
    m = re.fullmatch(r"(h100|a100)(?:x(\d+))?", key)
    if m:
        gpu, count = m.group(1), int(m.group(2) or 1)
        if not 1 <= count <= 8:
            raise InputError(f"{name}: one host of 1 to 8 GPUs", key="--compile-for",
                             fix="e.g. h100x8")
        acc, config = GPUS[gpu]
        return Target(key, "gpu", f"1x1x{count}", acc, count, config)
    raise InputError(f"unknown compile target '{name}'", key="--compile-for",
                     fix=f"use one of {', '.join(EXAMPLES)} (tpu-<v4|v5e|v5p|v6e>-<dims>, "
                         "h100xN, a100xN)")
