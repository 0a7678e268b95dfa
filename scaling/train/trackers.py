"""Experiment trackers: where each metrics row goes (metrics.jsonl always; TensorBoard, W&B).

The loop wraps each tracker in `hooks.TrackerHook`. A resumed run replays the steps after its
checkpoint bit for bit, so every tracker first forgets (or skips) what it had logged past the
step it resumes from: no step is ever recorded twice.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import math
import os
import re
import struct
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from runstore import InputError, JsonlAppender, atomic_path, read_jsonl, write_jsonl
from scaling.train.hooks import Tracker

TRACKERS = ("jsonl", "tensorboard", "wandb")
_FIX = "pip install 'scaling-suite[trackers]'"


def _require(module: str, tracker: str, package: str) -> Any:
    """Import an optional package, or say which extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(f"the {tracker} tracker needs {package}", key="train.trackers",
                         fix=_FIX) from None


#: The package each optional tracker imports.
_PACKAGES = {"tensorboard": "tensorboardX", "wandb": "wandb"}


def check_trackers(names: Sequence[str]) -> None:
    """Refuse, before the run folder is written, a tracker whose package is not installed (it
    used to be found only when the trackers were made, after config.json existed)."""
    for name in names:
        module = _PACKAGES.get(name)
        if module and importlib.util.find_spec(module) is None:
            raise InputError(f"the {name} tracker needs {module}", key="train.trackers",
                             fix=_FIX)


# ---- jsonl ------------------------------------------------------------------------------------

class JsonlTracker:
    """run_dir/metrics.jsonl: one line per row, exactly as given (runstore.summary.read_metrics reads it)."""

    def __init__(self, run_dir: Path, start_step: int = 0):
        path = Path(run_dir) / "metrics.jsonl"
        if path.exists():  # a resume re-logs the steps after start_step; drops a torn last line
            write_jsonl(path, [r for r in read_jsonl(path) if r.get("step", 0) <= start_step])
        self.out = JsonlAppender(path)

    def log(self, row: dict, step: int) -> None:
        self.out.write(row)

    def close(self) -> None:
        self.out.close()


# ---- tensorboard ------------------------------------------------------------------------------

def _masked_crc(data: bytes) -> int:
    from tensorboardX.crc32c import crc32c
    x = crc32c(data) & 0xFFFFFFFF
    return (((x >> 15) | (x << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_records(path: Path) -> Iterator[bytes]:
    """The complete TFRecords of an event file, each with its framing (uint64 length, masked
    crc of it, data, masked crc of the data); stops at a truncated or corrupt record."""
    buf = Path(path).read_bytes()
    i = 0
    while i + 12 <= len(buf):
        head = buf[i:i + 8]
        (n,) = struct.unpack("<Q", head)
        end = i + 12 + n + 4
        if struct.unpack("<I", buf[i + 8:i + 12])[0] != _masked_crc(head) or end > len(buf):
            return
        data = buf[i + 12:end - 4]
        if struct.unpack("<I", buf[end - 4:end])[0] != _masked_crc(data):
            return
        yield buf[i:end]
        i = end


def record_event(record: bytes) -> Any:
    """The `Event` proto of one framed record."""
    from tensorboardX.proto.event_pb2 import Event
    return Event.FromString(record[12:-4])


def truncate_events(folder: Path, step: int) -> None:
    """Rewrite the event files in `folder` without the events past `step` (and without a torn
    last record), atomically; files that need no change are left alone."""
    for path in sorted(Path(folder).glob("events.out.tfevents.*")):
        records = list(read_records(path))
        kept = [r for r in records if record_event(r).step <= step]
        if len(kept) == len(records) and sum(map(len, records)) == path.stat().st_size:
            continue
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"".join(kept))


def _scalar(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


class TensorBoardTracker:
    """run_dir/tensorboard/: one event per row, a scalar per numeric, finite value (tag = key).

    Written synchronously with tensorboardX's `EventsWriter` and fsynced after each row:
    `SummaryWriter.flush()` does not drain its background queue, so a SIGKILL could lose steps.
    """

    def __init__(self, run_dir: Path, start_step: int = 0):
        _require("tensorboardX", "tensorboard", "tensorboardX")
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.proto.summary_pb2 import Summary
        self.Event, self.Summary = Event, Summary
        folder = Path(run_dir) / "tensorboard"
        if folder.exists():
            truncate_events(folder, start_step)
        folder.mkdir(parents=True, exist_ok=True)
        # tensorboardX names files by the second and opens them "wb": a nanosecond suffix keeps
        # a quick restart from overwriting the file before it, and keeps files in session order
        self.writer = EventsWriter(str(folder / "events"), f".{time.time_ns()}")
        self.writer.flush()

    def log(self, row: dict, step: int) -> None:
        scalars = {k: _scalar(v) for k, v in row.items() if k != "step"}
        values = [self.Summary.Value(tag=k, simple_value=v) for k, v in scalars.items()
                  if v is not None]
        if values:
            self.writer.write_event(self.Event(wall_time=time.time(), step=step,
                                               summary=self.Summary(value=values)))
            self.writer.flush()  # fsynced: a SIGKILL must not lose logged steps

    def close(self) -> None:
        self.writer.close()


# ---- wandb ------------------------------------------------------------------------------------

def wandb_id(run_id: str) -> str:
    """A stable W&B run id: run_id itself when it is safe, else a cleaned prefix and a hash."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", run_id)
    if safe == run_id and 0 < len(run_id) <= 64:
        return run_id
    return f"{safe[:55]}-{hashlib.sha256(run_id.encode()).hexdigest()[:8]}"


def offline_records(path: Path) -> Iterator[Any]:
    """The records of an offline `.wandb` file: a LevelDB-style log (7-byte header, 32 KiB
    blocks, chunks of crc u32, length u16, type u8 = full 1 / first 2 / middle 3 / last 4) of
    wandb_internal_pb2.Record messages. Stops at a torn chunk (a killed writer)."""
    from wandb.proto import wandb_internal_pb2 as pb
    buf, i, parts = path.read_bytes(), 7, b""
    if buf[:4] != b":W&B":
        return
    while i + 7 <= len(buf):
        if 32768 - i % 32768 < 7:  # a block's tail too short for a chunk header is padding
            i += 32768 - i % 32768
            continue
        _, n, kind = struct.unpack("<IHB", buf[i:i + 7])
        data, i = buf[i + 7:i + 7 + n], i + 7 + n
        if len(data) < n or kind not in (1, 2, 3, 4):
            return
        if kind in (2, 3):
            parts = data if kind == 2 else parts + data
            continue
        try:
            yield pb.Record.FromString(parts + data if kind == 4 else data)
        except Exception:  # noqa: BLE001 -- a damaged record ends what can be trusted
            return


def offline_steps(run_dir: Path) -> list[int]:
    """Every history step in the offline W&B runs under run_dir/wandb/, in file order."""
    steps = []
    for f in sorted((Path(run_dir) / "wandb").glob("offline-run-*/*.wandb")):
        for r in offline_records(f):
            if r.HasField("history"):
                steps += [int(json.loads(it.value_json)) for it in r.history.item
                          if (it.key or "/".join(it.nested_key)) == "_step"]
    return steps


class WandbTracker:
    """A W&B run (id from run_id, so a resumed run continues the same one). A restart skips the
    steps W&B already holds (what a SIGKILL let reach it): the resumed online run's own step, or
    the offline files on disk; the numbers of a replayed step are the same (exact resume)."""

    def __init__(self, run_dir: Path, *, run_id: str, group: str, config: dict,
                 start_step: int = 0):
        self.wandb = wandb = _require("wandb", "wandb", "wandb")
        try:
            self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "scaling"),
                                  name=run_id, id=wandb_id(run_id), group=group, config=config,
                                  dir=str(run_dir), resume="allow")
        except wandb.errors.UsageError as e:  # no API key, say
            raise InputError(f"wandb could not start the run ({e})", key="train.trackers",
                             fix="run `wandb login`, or set WANDB_MODE=offline") from None
        self.last = max(offline_steps(run_dir) or [-1]) if start_step else -1
        try:  # the step the run's next log would take (a resumed online run: its last + 1)
            self.last = max(self.last, int(self.run.step) - 1)
        except Exception:  # noqa: BLE001 -- some modes cannot say
            pass

    def log(self, row: dict, step: int) -> None:
        if step <= self.last:  # logged before the restart, with the same numbers
            return
        values = {k: v for k, v in row.items() if k != "step" and v is not None}
        self.run.log(values, step=step)
        self.last = step

    def close(self) -> None:
        self.run.finish()
        # wandb 0.31 may drop a later run's records when one process reinits the same id (a
        # resume in-process); stopping the service when no other run is active avoids it
        if getattr(self.wandb, "run", None) is None:
            self.wandb.teardown()


# ---- all of them ------------------------------------------------------------------------------

def make_trackers(names: Iterable[str], run_dir: Path, *, run_id: str, group: str,
                  config: dict, start_step: int) -> list[Tracker]:
    """One tracker per name, in order, "jsonl" first (always, once). Raises InputError for an
    unknown name or a missing optional package, before training starts."""
    names = (names,) if isinstance(names, str) else tuple(names)
    order = ["jsonl", *(n for n in dict.fromkeys(names) if n != "jsonl")]
    unknown = [n for n in order if n not in TRACKERS]
    if unknown:
        raise InputError(f"unknown tracker {unknown[0]!r} (one of {', '.join(TRACKERS)})",
                         key="train.trackers", fix="use jsonl, tensorboard or wandb")
    run_dir = Path(run_dir)
    made: list[Tracker] = []
    try:
        for name in order:
            if name == "jsonl":
                made.append(JsonlTracker(run_dir, start_step))
            elif name == "tensorboard":
                made.append(TensorBoardTracker(run_dir, start_step))
            else:
                made.append(WandbTracker(run_dir, run_id=run_id, group=group, config=config,
                                         start_step=start_step))
    except BaseException:
        for t in made:
            t.close()
        raise
    return made
