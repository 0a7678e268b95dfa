"""Compile results cached per (program, target): a second dry run reads them in seconds.

The program key hashes everything the compiled step is a function of: the resolved model, the
objective and its options, the optimizer and schedule length, batch, window, microbatches, FSDP,
seed and reserved ids; the source of the code that builds the step (scaling/model, objectives,
train/step.py, sharding.py, compile/program.py and mesh.py), so an edit to the model recompiles;
and the versions of jax and of the target's compiler (libtpu, jax's CUDA plugin). Keying on this
rather than on the lowered HLO text spares the lowering too. Files:
`runstore.cache_dir()/compile/<key>.json`, written atomically; a damaged one is recompiled.
"""
from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from runstore import InputError, atomic_write_json, cache_dir, read_json
from scaling.compile.targets import Target
from scaling.train.record import RunRecord

_PKG = Path(__file__).resolve().parents[1]
#: The code a compiled step is built from: its source is part of the key.
SOURCES = ("model", "objectives", "train/step.py", "train/sharding.py", "compile/program.py",
           "compile/mesh.py")


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    h = hashlib.sha256()
    for rel in SOURCES:
        p = _PKG / rel
        for f in sorted(p.rglob("*.py")) if p.is_dir() else [p]:
            h.update(str(f.relative_to(_PKG)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def program_identity(run: RunRecord) -> dict:
    """What the compiled step of this run is a function of (besides the source and versions)."""
    from scaling.compile.program import run_specials

    c = run.cfg
    return {"model": dict(run.model.__dict__), "objective": c.objective,
            "mlm": c.to_dict().get("mlm"), "span": c.to_dict().get("span"),
            "optim": c.to_dict().get("optim"), "steps": max(run.steps, 2), "seed": c.seed,
            "batch": run.batch_size, "window": run.window, "microbatches": c.train.microbatches,
            "fsdp": c.train.fsdp, "specials": list(run_specials(run).__dict__.values())}


def program_key(run: RunRecord, target: Target) -> str:
    from scaling.compile.mesh import compiler_version

    blob = json.dumps({"program": program_identity(run), "source": source_hash(),
                       "target": target.name, "compiler": compiler_version(target)},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def cache_path(key: str) -> Path:
    return cache_dir() / "compile" / f"{key}.json"


def load(key: str) -> dict | None:
    try:
        hit = read_json(cache_path(key), default=None)
    except InputError:  # damaged: compile again and overwrite it
        return None
    return hit if isinstance(hit, dict) and "ok" in hit else None


def store(key: str, result: dict) -> None:
    try:
        atomic_write_json(cache_path(key), result, indent=1)
    except OSError:
        pass  # an unwritable cache only costs a compile next time
