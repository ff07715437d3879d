"""Read input files (CSV, CSV.gz, Parquet, JSON Lines) as raw frames, whole or in chunks; format from the extension.

Chunks keep memory bounded by the chunk, not the file: CSV through pandas' C reader with `chunksize` (the same
parser as a whole-file read, so values and row numbers are identical; pyarrow's reader differs on edge cases such
as quoted empty fields), Parquet through `pyarrow.parquet.ParquetFile.iter_batches`, JSON Lines through pandas'
`chunksize`. A `.json` array cannot be streamed and is read whole.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pandas as pd

from features.errors import NeedcastInputError, UnsupportedFormatError
from features.validation import CUT_ROW_ATTR

__all__ = ["CHUNK_ROWS", "Chunk", "iter_chunks", "read_table"]

CHUNK_ROWS = 100_000
"""Rows per chunk: ~100 MB at the peak of validating a chunk of usage rows."""

_CSV = (".csv", ".csv.gz")
_PARQUET = (".parquet",)
_JSONL = (".jsonl", ".jsonl.gz", ".ndjson")


@dataclass
class Chunk:
    """Raw rows of a file: `first_row` is the 0-based data-row index of its first row; `read` the fraction of
    the file consumed so far (bytes, or rows for Parquet), for progress."""

    frame: pd.DataFrame
    first_row: int
    read: float


def read_table(path: Path) -> pd.DataFrame:
    """The whole file: every column as read, values untouched (validation parses them); column names stripped."""
    frames = [c.frame for c in iter_chunks(path, rows=None)]
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def iter_chunks(path: Path, rows: int | None = CHUNK_ROWS) -> Iterator[Chunk]:
    """The file in chunks of `rows` data rows (None: one chunk); a file with no rows yields one empty chunk."""
    name = path.name.lower()
    if not path.exists():
        raise NeedcastInputError(f"{path}: no such file")
    if not name.endswith((*_CSV, *_PARQUET, *_JSONL, ".json")):
        raise UnsupportedFormatError(str(path))
    first = 0
    try:
        for frame, read in _mark_cut_last_row(_frames(path, name, rows), _cut_last_row(path, name)):
            frame = frame.reset_index(drop=True)
            frame.columns = [str(c).strip() for c in frame.columns]
            yield Chunk(frame, first, read)
            first += len(frame)
    except (UnicodeDecodeError, ValueError, pd.errors.ParserError, OSError, EOFError) as exc:
        if isinstance(exc, NeedcastInputError):
            raise
        raise NeedcastInputError(f"{path}: cannot be read as {path.suffix} ({type(exc).__name__}: {exc})") from exc


def _frames(path: Path, name: str, rows: int | None) -> Iterator[tuple[pd.DataFrame, float]]:
    if name.endswith(_PARQUET):
        yield from _parquet(path, rows)
        return
    with path.open("rb") as raw:
        size = max(path.stat().st_size, 1)
        stream: BinaryIO = gzip.GzipFile(fileobj=raw) if name.endswith(".gz") else raw
        if name.endswith(_CSV):
            reader = pd.read_csv(stream, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8",
                                 chunksize=rows)
        elif name.endswith(".json"):
            yield pd.read_json(stream, lines=False, dtype=False), 1.0
            return
        else:
            # Dates stay text: pandas would convert them chunk by chunk, differently where one chunk has a bad one.
            reader = pd.read_json(stream, lines=True, dtype=False, convert_dates=False, chunksize=rows)
        if rows is None:
            yield reader, 1.0
            return
        yielded = False
        with reader:
            for frame in reader:
                yielded = True
                yield frame, min(raw.tell() / size, 1.0)
        if not yielded:  # a header without rows: still one (empty) chunk, so missing columns are reported
            yield _empty_csv_header(path, name), 1.0


def _parquet(path: Path, rows: int | None) -> Iterator[tuple[pd.DataFrame, float]]:
    import pyarrow.parquet as pq

    if rows is None:
        yield pd.read_parquet(path), 1.0
        return
    with pq.ParquetFile(path) as file:
        total = max(file.metadata.num_rows, 1)
        done = 0
        if file.metadata.num_rows == 0:
            yield file.schema_arrow.empty_table().to_pandas(), 1.0
            return
        for batch in file.iter_batches(batch_size=rows):
            done += batch.num_rows
            yield batch.to_pandas(), done / total


def _empty_csv_header(path: Path, name: str) -> pd.DataFrame:
    if name.endswith(_CSV):
        return pd.read_csv(path, dtype=str, nrows=0, encoding="utf-8")
    return pd.DataFrame()


# A truncated CSV (cut where a field ends) would read as a whole row with defaults for the missing fields:
# its last row is marked, and validation rejects it with the reason.


def _cut_last_row(path: Path, name: str) -> str | None:
    """For a plain CSV that does not end with a line break: why its last row looks cut short, else None."""
    if not name.endswith(".csv"):
        return None  # a cut .gz fails to decompress; Parquet and JSON fail to parse
    with path.open("rb") as raw:
        size = raw.seek(0, 2)
        if size == 0:
            return None
        raw.seek(size - 1)
        if raw.read(1) in (b"\n", b"\r"):
            return None
        raw.seek(0)
        header = raw.readline(1 << 20)
        raw.seek(max(0, size - (1 << 16)))
        last = raw.read().rsplit(b"\n", 1)[-1].decode("utf-8", "replace")
    if last.count('"') % 2 or header.rstrip(b"\r\n").decode("utf-8", "replace") == last:
        return None  # inside a quoted multi-line field, or no data row: nothing to tell
    expected = len(next(csv.reader([header.decode("utf-8-sig", "replace")]), []))
    fields = next(csv.reader([last]), [])
    if len(fields) < expected:
        return f"the file ends inside this row ({len(fields)} of {expected} fields): cut short?"
    if not fields[-1].strip():
        return "the file ends right after this row's last separator: cut short?"
    return None


def _mark_cut_last_row(frames: Iterator[tuple[pd.DataFrame, float]],
                       reason: str | None) -> Iterator[tuple[pd.DataFrame, float]]:
    """The frames as they come, the last one marked (`CUT_ROW_ATTR`) when the file was cut."""
    if reason is None:
        yield from frames
        return
    held = None
    for item in frames:
        if held is not None:
            yield held
        held = item
    if held is not None:
        held[0].attrs[CUT_ROW_ATTR] = reason
        yield held
