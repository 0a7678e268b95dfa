"""orbax checkpoints of (params, opt_state) plus a small JSON of run metadata.

Saved asynchronously; `close()` waits for the last one, because an unfinished async save can
leave a partial checkpoint (docs/notes.md). Restores go against the abstract state of a freshly built
model and optimizer, which makes the restored arrays bit-identical to the saved ones.
"""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

# orbax logs every save at INFO, and a failed background save as ERROR tracebacks from each of
# its threads; the failure itself is re-raised by the next save() or close() (check_for_errors),
# which reports it once (as one line for a full disk: _disk_errors)
logging.getLogger("absl").setLevel(logging.CRITICAL)


_TS_OS_ERROR = re.compile(r"os_error_code='?(\d+)")


@contextlib.contextmanager
def _disk_errors(directory: Path):
    """TensorStore reports a full disk or a file-size limit as a ValueError whose text carries
    the errno; as an OSError naming the checkpoint folder it is one `error:` line (runstore's
    file-system policy), not a traceback, and the rerun resumes from the last checkpoint."""
    try:
        yield
    except ValueError as e:
        m = _TS_OS_ERROR.search(str(e))
        code = int(m.group(1)) if m else None
        if code not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES):
            raise
        raise OSError(code, os.strerror(code), str(directory)) from None


def _check_room(directory: Path, need: int) -> None:
    """Refuse a save that cannot fit (the file-size limit, the free space) before orbax starts
    it: a background save that fails part-way floods stderr from its threads before the error
    comes back. A disk that fills up during the save is still caught by _disk_errors."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft != resource.RLIM_INFINITY and need > soft:
        raise OSError(errno.EFBIG, f"{os.strerror(errno.EFBIG)}: a checkpoint of {need:,} bytes "
                      f"exceeds the file-size limit of {soft:,} bytes", str(directory))
    free = shutil.disk_usage(directory if directory.exists() else directory.parent).free
    if need > free:
        raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)}: a checkpoint of {need:,} "
                      f"bytes, {free:,} bytes free", str(directory))


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
        _check_room(self.directory, sum(int(x.nbytes) for x in jax.tree.leaves(state)))
        with _disk_errors(self.directory):
            self.mgr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                        meta=ocp.args.JsonSave(meta)), force=True)

    def restore(self, step: int, abstract_state: Any) -> tuple[Any, dict]:
        target = jax.tree.map(ocp.utils.to_shape_dtype_struct, abstract_state)
        out = self.mgr.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()))
        return out["state"], out["meta"]

    def close(self) -> None:
        with _disk_errors(self.directory):
            self.mgr.wait_until_finished()
        self.mgr.close()
