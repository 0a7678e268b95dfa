"""Keep glibc from handing XLA's per-step temporary buffer back to the kernel.

XLA:CPU allocates one large temporary buffer per compiled step (hundreds of MiB). glibc serves
it with mmap and frees it with munmap, so every step page-faults it back in: about a third of
the wall time on 2-core machines (docs/notes.md, "The glibc malloc slowdown"). The peers fix it with
GLIBC_TUNABLES, which only works if set before the process starts. `mallopt` sets the same three
parameters at run time, so importing `scaling` fixes it in any process, a notebook included.
Measured on config A (d128 L4 T256 B16): plain 7.3-7.7k tokens/s, GLIBC_TUNABLES 11.6k,
mallopt at import 10.4-11.8k. The trim threshold is passed as -1, which glibc stores as SIZE_MAX
(never trim): with 2**31 - 1, config C (whose temporaries pass 2 GiB) still paid the page faults,
413 vs 597 tokens/s.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
_applied: bool | None = None


def apply() -> bool:
    """Apply the malloc settings once; return whether they took effect (False off glibc)."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get("SCALING_NO_MALLOPT"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (macOS, musl): nothing to fix
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = mallopt(_M_MMAP_MAX, 0) == 1
    ok &= mallopt(_M_TRIM_THRESHOLD, -1) == 1
    ok &= mallopt(_M_ARENA_MAX, 1) == 1
    _applied = bool(ok)
    return _applied
