"""One encode worker of encode_pool.py, and the wire format both ends speak (no pickle).

    python -m scaling.data.encode_worker TOKENIZER_SPEC ENTRY N_SENTINELS VOCAB_SIZE

Request: uint64 n, uint64[n] UTF-8 byte lengths, the n texts' bytes.
Reply:   uint64 n, uint64[n] token counts, int32 ids of all n documents, concatenated.
The worker answers requests in order until its stdin ends.
"""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import BinaryIO

import numpy as np


def _read_exact(f: BinaryIO, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        got = f.read(n - len(buf))
        if not got:
            if buf:
                raise EOFError(f"torn message: {len(buf)} of {n} bytes")
            return None
        buf += got
    return bytes(buf)


def _read_arrays(f: BinaryIO, payload_dtype) -> tuple[np.ndarray, bytes] | None:
    head = _read_exact(f, 8)
    if head is None:
        return None
    n = int(np.frombuffer(head, np.uint64)[0])
    sizes = np.frombuffer(_read_exact(f, 8 * n) or b"", np.uint64)
    total = int(sizes.sum()) * np.dtype(payload_dtype).itemsize
    return sizes, (_read_exact(f, total) or b"") if total else b""


def write_texts(f: BinaryIO, texts: list[str]) -> None:
    data = [t.encode("utf-8") for t in texts]
    f.write(np.uint64(len(data)).tobytes())
    f.write(np.array([len(d) for d in data], np.uint64).tobytes())
    f.write(b"".join(data))
    f.flush()


def read_texts(f: BinaryIO) -> list[str] | None:
    got = _read_arrays(f, np.uint8)
    if got is None:
        return None
    sizes, blob = got
    ends = np.cumsum(sizes.astype(np.int64))
    starts = ends - sizes.astype(np.int64)
    return [blob[s:e].decode("utf-8") for s, e in zip(starts, ends)]


def write_ids(f: BinaryIO, encoded: list[np.ndarray]) -> None:
    f.write(np.uint64(len(encoded)).tobytes())
    f.write(np.array([e.size for e in encoded], np.uint64).tobytes())
    for e in encoded:
        f.write(np.ascontiguousarray(e, np.int32).tobytes())
    f.flush()


def read_ids(f: BinaryIO) -> tuple[np.ndarray, np.ndarray] | None:
    """(all ids, per-document counts), or None at a clean end of stream."""
    got = _read_arrays(f, np.int32)
    if got is None:
        return None
    sizes, blob = got
    return np.frombuffer(blob, np.int32), sizes.astype(np.int64)


def main(argv: list[str]) -> int:
    spec, entry, n_sentinels, vocab = argv
    from scaling.data.kinds import tokenizer_kind
    cfg = SimpleNamespace(tokenizer=spec, n_sentinels=int(n_sentinels), vocab_size=int(vocab))
    tok = tokenizer_kind(cfg).load(Path(entry), None)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    while (texts := read_texts(inp)) is not None:
        write_ids(out, tok.encode_batch(texts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
