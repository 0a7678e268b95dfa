"""File formats of text sources: one reader per format, chosen by the file name, streaming.

Supported: plain UTF-8 text (one document per file), JSONL / .jsonl.gz / .jsonl.zst (one document
per line, the text in `text_field`), parquet (one document per row of the `text_field` column,
read in row-group batches). Formats that hold no text or need a conversion (.npy, .bin, .arrow,
a .json array, other archives) are refused with one error that says what to use instead; inside a
folder or glob, files that are not UTF-8 text are skipped and counted, as the stdlib's are.

Optional dependencies (pyarrow, zstandard) are imported only when such a file is read.
"""
from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Iterator

from runstore import InputError

SOURCE_KEY = "data.source"
EXTRA = "pip install 'scaling-suite[data]'"
SUPPORTED = ("text files (UTF-8), .jsonl, .jsonl.gz, .jsonl.zst, .parquet, folders and globs of "
             "them, hf:NAME, tokens:PATH.bin|.npy")
#: suffix -> what to do instead (single-file sources with these names are refused)
REFUSED = {
    ".npy": "a token array: use source 'tokens:PATH' (vocab size and separator in config or "
            "PATH.json)",
    ".bin": "a token array: use source 'tokens:PATH' (vocab size and separator in config or "
            "PATH.json)",
    ".arrow": "an Arrow file: save it with datasets' save_to_disk and use 'hf:FOLDER'",
    ".json": "a JSON document: write one JSON object per line (.jsonl), e.g. "
             "jq -c '.[]' in.json > out.jsonl",
    ".gz": "only .jsonl.gz is read compressed; decompress it or name it .jsonl.gz",
    ".zst": "only .jsonl.zst is read compressed; decompress it or name it .jsonl.zst",
    ".zip": "unpack the archive and point data.source at the folder",
    ".tar": "unpack the archive and point data.source at the folder",
    ".tgz": "unpack the archive and point data.source at the folder",
    ".bz2": "decompress it (bz2 is not read)", ".xz": "decompress it (xz is not read)",
    ".pt": "a PyTorch file holds no text", ".pkl": "pickles are never read",
}


class Document:
    """One named text document (the name is its identity: hash, split, meta)."""

    __slots__ = ("name", "text")

    def __init__(self, name: str, text: str):
        self.name, self.text = name, text

    def __eq__(self, other) -> bool:
        return isinstance(other, Document) and (self.name, self.text) == (other.name, other.text)

    def __repr__(self) -> str:
        return f"Document({self.name!r}, {len(self.text)} chars)"


def format_of(name: str) -> str:
    n = name.lower()
    for suf in (".jsonl.gz", ".jsonl.zst", ".jsonl", ".parquet"):
        if n.endswith(suf):
            return suf[1:]
    return "text"


def refusal(name: str) -> str | None:
    """Why a single-file source of this name is refused, or None."""
    if format_of(name) != "text":
        return None
    return REFUSED.get(Path(name.lower()).suffix)


def missing_extra(module: str, what: str) -> InputError:
    return InputError(f"reading {what} needs the '{module}' package", key=SOURCE_KEY,
                      fix=f"{EXTRA}")


def decode(data: bytes) -> str | None:
    """UTF-8 text, or None for binary / non-UTF-8 data."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def unreadable(path: Path, e: OSError) -> InputError:
    """One line for a file the source lists but this process cannot read (chmod 000, gone)."""
    return InputError(f"cannot read this file ({e.strerror or e})", file=str(path),
                      key=SOURCE_KEY, fix="make it readable (chmod +r) or move it out of the "
                                          "source")


def read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as e:
        raise unreadable(path, e) from None


class _ZstdRaw(io.RawIOBase):
    """A .zst file's decompressed bytes (frame after frame) that notices a truncated last frame:
    zstandard's stream_reader ends quietly there, which would drop the file's tail unnoticed."""

    def __init__(self, fh, zstandard):
        self._fh, self._dctx = fh, zstandard.ZstdDecompressor()
        self._d, self._in_frame = self._dctx.decompressobj(), False
        self._out, self._pos = memoryview(b""), 0

    def readable(self) -> bool:
        return True

    def _fill(self) -> bool:
        """Decompress the next input chunk; False at the end of a complete stream."""
        chunk = self._fh.read(1 << 20)
        if not chunk:
            if self._in_frame:
                raise EOFError("the last zstd frame is cut short (truncated file)")
            return False
        parts = []
        while chunk:
            self._in_frame = True
            parts.append(self._d.decompress(chunk))
            chunk = b""
            if self._d.eof:  # frame done: what follows starts the next one
                chunk, self._in_frame = self._d.unused_data, False
                self._d = self._dctx.decompressobj()
        self._out, self._pos = memoryview(b"".join(parts)), 0
        return True

    def readinto(self, buf) -> int:
        while self._pos >= len(self._out):
            if not self._fill():
                return 0
        n = min(len(buf), len(self._out) - self._pos)
        buf[:n] = self._out[self._pos:self._pos + n]
        self._pos += n
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def _open_lines(path: Path, fmt: str):
    """(line reader, the raw file): the raw file's position says how far decompression got."""
    if fmt == "jsonl.zst":
        try:
            import zstandard
        except ImportError:
            raise missing_extra("zstandard", f"{path}") from None
    try:
        raw = open(path, "rb")
    except OSError as e:
        raise unreadable(path, e) from None
    if fmt == "jsonl":
        return raw, raw
    if fmt == "jsonl.gz":
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw
    return io.BufferedReader(_ZstdRaw(raw, zstandard), 1 << 16), raw


def jsonl_docs(path: Path, name: str, text_field: str, fmt: str = "jsonl"
               ) -> Iterator[Document]:
    """One document per non-blank line, named NAME:LINE."""
    fh, raw = _open_lines(path, fmt)
    with fh, raw:
        lineno = 0
        try:
            for lineno, raw_line in enumerate(fh, start=1):
                if raw_line.strip():
                    yield Document(f"{name}:{lineno}",
                                   _json_text(raw_line, path, lineno, text_field))
        except InputError:
            raise
        except OSError as e:
            if fmt == "jsonl":
                raise unreadable(path, e) from None
            raise _damaged(path, lineno, raw, e) from None
        except Exception as e:  # gzip / zstd: a damaged or truncated stream
            raise _damaged(path, lineno, raw, e) from None


def _damaged(path: Path, lineno: int, raw, e: Exception) -> InputError:
    try:
        at = f" at compressed byte {raw.tell():,} of {path.stat().st_size:,}"
    except (OSError, ValueError):
        at = ""
    return InputError(f"cannot decompress after line {lineno}{at}: damaged or truncated ({e})",
                      file=str(path), key=SOURCE_KEY,
                      fix="re-create or re-download the compressed file")


def _json_text(raw: bytes, path: Path, lineno: int, text_field: str) -> str:
    where = f"{path}:{lineno}"
    try:
        rec = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"line {lineno} is not valid JSON ({e})", file=where, key=SOURCE_KEY,
                         fix="write one JSON object per line") from None
    if not isinstance(rec, dict) or text_field not in rec:
        raise InputError(f"line {lineno} has no field '{text_field}'", file=where,
                         key="data.text_field", fix="set data.text_field to the field that "
                                                    "holds the text, or fix that line")
    text = rec[text_field]
    if not isinstance(text, str):
        raise InputError(f"line {lineno}: field '{text_field}' is not a string", file=where,
                         key="data.text_field", fix="the text field must hold a JSON string")
    if b"\\u" in raw and not _is_utf8(text):  # only a \uD800-\uDFFF escape makes one
        raise InputError(f"line {lineno}: field '{text_field}' holds a lone surrogate (a "
                         "\\uD800-\\uDFFF escape without its pair), which is not text",
                         file=where, key=SOURCE_KEY,
                         fix="fix or drop that line (surrogate escapes come in pairs)")
    return text


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parquet_docs(path: Path, name: str, text_field: str, batch_rows: int = 1024
                 ) -> Iterator[Document]:
    """One document per row of the text column (null rows skipped), named NAME:ROW."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise missing_extra("pyarrow", f"{path}") from None
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises ArrowInvalid & co. for a damaged file
        raise InputError(f"not a readable parquet file ({e})", file=str(path), key=SOURCE_KEY,
                         fix="re-create the file with pyarrow / pandas .to_parquet()") from None
    cols = pf.schema_arrow.names
    if text_field not in cols:
        raise InputError(f"no column '{text_field}' (columns: {', '.join(cols)})",
                         file=str(path), key="data.text_field",
                         fix="set data.text_field to the column that holds the text")
    import pyarrow as pa
    typ = pf.schema_arrow.field(text_field).type
    if not (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
        raise InputError(f"column '{text_field}' has type {typ}, not string", file=str(path),
                         key="data.text_field", fix="point data.text_field at a string column")
    row = 0
    for batch in pf.iter_batches(batch_size=batch_rows, columns=[text_field]):
        for text in batch.column(0).to_pylist():
            if text:
                yield Document(f"{name}:{row}", text)
            row += 1


def file_docs(path: Path, name: str, text_field: str, skipped: list[str]
              ) -> Iterator[Document]:
    """The documents of one file of a text source; a non-UTF-8 text file goes to `skipped`."""
    fmt = format_of(name)
    if fmt.startswith("jsonl"):
        yield from jsonl_docs(path, name, text_field, fmt)
    elif fmt == "parquet":
        yield from parquet_docs(path, name, text_field)
    else:
        text = decode(read_bytes(path))
        if text is None:
            skipped.append(name)
        elif text:
            yield Document(name, text)
