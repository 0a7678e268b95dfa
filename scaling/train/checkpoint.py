"""orbax checkpoints of (params, opt_state) plus a small JSON of run metadata.

Saved asynchronously; `close()` waits for the last one, because an unfinished async save can
leave a partial checkpoint (docs/notes.md). Restores go against the abstract state of a freshly built
model and optimizer, which makes the restored arrays bit-identical to the saved ones.
"""
from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

# orbax logs every save at INFO; the run's own metrics say what happened
logging.getLogger("absl").setLevel(logging.WARNING)


class Checkpointer:
    def __init__(self, directory: str | Path, keep: int = 2, *, read_only: bool = False):
        self.directory = Path(directory).absolute()
        opts = (ocp.CheckpointManagerOptions(read_only=True) if read_only else
                ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=True,
                                             create=True))
        self.mgr = ocp.CheckpointManager(self.directory, options=opts)

    def latest_step(self) -> int | None:
        return self.mgr.latest_step()

    @staticmethod
    def has_checkpoint(directory: str | Path) -> bool:
        """Whether `directory` holds a finished checkpoint (read only: nothing is created)."""
        ckpt = Checkpointer(directory, read_only=True)
        try:
            return ckpt.latest_step() is not None
        finally:
            ckpt.mgr.close()

    def restore_newest(self, abstract_state: Any) -> tuple[Any, int] | None:
        """(state, step) of the newest checkpoint that can be read, or None if none can.

        An unreadable one (a damaged file, a torn copy) is moved aside to
        `checkpoints-unreadable/` with a warning that says so, and the one before it is tried:
        batches are pure functions of the step, so resuming from an older step replays the
        same steps and ends on the same curve.
        """
        for step in sorted(self.mgr.all_steps(), reverse=True):
            try:
                state, _ = self.restore(step, abstract_state)
                return state, step
            except Exception as e:  # orbax/TensorStore raise many types for damaged data
                aside = self.directory.parent / "checkpoints-unreadable" / str(step)
                why = (str(e).splitlines() or [""])[0][:120]
                warnings.warn(f"{self.directory / str(step)}: checkpoint unreadable "
                              f"({type(e).__name__}: {why}); moved to {aside}; resuming from "
                              "the one before it", stacklevel=2)
                aside.parent.mkdir(parents=True, exist_ok=True)
                shutil.rmtree(aside, ignore_errors=True)
                (self.directory / str(step)).rename(aside)
                self.mgr.reload()
        return None

    def save(self, step: int, state: Any, meta: dict) -> None:
        self.mgr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                    meta=ocp.args.JsonSave(meta)), force=True)

    def restore(self, step: int, abstract_state: Any) -> tuple[Any, dict]:
        target = jax.tree.map(ocp.utils.to_shape_dtype_struct, abstract_state)
        out = self.mgr.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()))
        return out["state"], out["meta"]

    def close(self) -> None:
        self.mgr.wait_until_finished()
        self.mgr.close()
