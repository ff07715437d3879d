"""Land validated rows in the store in one transaction; quarantine bad rows; re-ingesting adds nothing.

A file streams through in chunks (`ingest_file`): each chunk is validated, redacted and merged by the bulk
writes of `store.writes`, so memory is bounded by the chunk. Results equal a single-chunk ingest: row numbers
count from the file's first data row, and a usage row's identity counts equal rows across the whole file.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine, select

from features import readers
from features.contract import SERIES_KEY, InputLimits, Kind, contract_for
from features.readers import Chunk, iter_chunks
from features.validation import NewSeriesCap, RejectedRow, Validated, validate_frame
from store import tables
from store.engine import WRITE_WAIT_S, write_transaction
from store.provenance import close_batch, known_series, new_series_since, open_batch, record_series
from store.writes import add_feedback, add_usage
from text.redaction import redact_many, redact_pii

__all__ = ["IngestReport", "ingest_chunks", "ingest_file", "ingest_frame"]

log = logging.getLogger(__name__)
_SCRATCH_CACHE_KIB = 16_384  # page cache of the scratch database of one ingest's row counts
_MMAP_THRESHOLD = 1 << 20  # bytes: glibc's M_MMAP_THRESHOLD for the process that ingests (`_bounded_heap`)
_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8  # glibc's mallopt parameters (malloc.h)
Progress = Callable[[int, int], None]
"""Called with (rows read so far, estimated rows in the input)."""


@dataclass
class IngestReport:
    """What one ingestion did; `rejected` holds the first `keep_rejected` bad rows, `rejected_count` all of them."""

    kind: str
    source: str
    received: int
    accepted: int
    duplicates: int
    rejected: list[RejectedRow] = field(default_factory=list)
    rejected_count: int | None = None
    batch_id: str | None = None  # the ingest's id in `ingest_batches` (usage and feedback), for `needcast delete`

    def __post_init__(self) -> None:
        if self.rejected_count is None:
            self.rejected_count = len(self.rejected)


def _sha(*parts: object) -> str:
    return hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts).encode()).hexdigest()


def ingest_frame(
    engine: Engine,
    frame: pd.DataFrame,
    kind: Kind | str,
    source: str = "api",
    progress: Progress | None = None,
    *,
    limits: InputLimits | None = None,
    nan_is_blank: bool = True,
    lock_wait_s: float = WRITE_WAIT_S,
) -> IngestReport:
    """Validate `frame`, store good rows and quarantine bad ones, all in one transaction."""
    return ingest_chunks(engine, [Chunk(frame, 0, 1.0)], kind, source, progress, limits=limits,
                         nan_is_blank=nan_is_blank, lock_wait_s=lock_wait_s)


def ingest_file(
    engine: Engine,
    path: Path,
    kind: Kind | str,
    source: str | None = None,
    progress: Progress | None = None,
    chunk_rows: int | None = None,
    keep_rejected: int | None = 1000,
    *,
    limits: InputLimits | None = None,
) -> IngestReport:
    """Stream a CSV / CSV.gz / Parquet / JSONL file into the store in chunks of `chunk_rows` (default
    `features.readers.CHUNK_ROWS`), in one transaction; the catalogue of services is read whole."""
    rows = chunk_rows or readers.CHUNK_ROWS
    chunks = iter_chunks(path, rows=None if Kind(kind) == Kind.services else rows)
    return ingest_chunks(engine, chunks, kind, source or str(path), progress, keep_rejected, limits=limits)


def ingest_chunks(
    engine: Engine,
    chunks: Iterable[Chunk],
    kind: Kind | str,
    source: str = "api",
    progress: Progress | None = None,
    keep_rejected: int | None = None,
    *,
    limits: InputLimits | None = None,
    nan_is_blank: bool = True,
    lock_wait_s: float = WRITE_WAIT_S,
) -> IngestReport:
    """Validate and store chunks of one input in one transaction (a missing required column stores nothing).

    The transaction holds the write lock from its start (`write_transaction`): a second ingest waits its turn.
    """
    kind = Kind(kind)
    limits = limits or InputLimits()
    _bounded_heap()
    report = IngestReport(kind.value, source, 0, 0, 0)
    columns: list[str] = []
    with write_transaction(engine, lock_wait_s) as conn, _Occurrences() as occurrences:
        # Provenance and the new-series cap (store.provenance, features.validation.NewSeriesCap).
        batch_id = open_batch(conn, kind.value, source) if kind != Kind.services else None
        cap = (NewSeriesCap(known_series(conn), limits.new_series_per_batch,
                            limits.new_series_per_day - new_series_since(conn)) if kind == Kind.usage else None)

        def prepare(chunk: Chunk) -> _Prepared:
            """Everything but the writes (run a chunk ahead, in a thread, while the database merges)."""
            frame = _with_columns(chunk.frame, columns)
            validated = validate_frame(frame, kind, source, limits=limits, nan_is_blank=nan_is_blank)
            if cap is not None:
                validated = cap.apply(validated)
            for rejected in validated.rejected:
                rejected.index += chunk.first_row
            if kind == Kind.feedback:
                validated = _redact(validated)
            rows = (_usage_rows(validated.good, occurrences) if kind == Kind.usage
                    else _feedback_rows(validated.good) if kind == Kind.feedback else validated.good)
            return _Prepared(len(frame), chunk.read, len(validated.good), rows, validated.rejected)

        for ready in _one_ahead(chunks, prepare):
            if kind == Kind.usage:
                accepted = add_usage(conn, ready.rows, batch_id) if not ready.rows.empty else 0
                dups = ready.good - accepted
            elif kind == Kind.feedback:
                accepted = add_feedback(conn, ready.rows, batch_id) if not ready.rows.empty else 0
                dups = ready.good - accepted
            else:
                accepted, dups = _store_services(conn, ready.rows)
            _quarantine(conn, kind, source, ready.rejected)
            report.received += ready.received
            report.accepted += accepted
            report.duplicates += dups
            report.rejected_count += len(ready.rejected)
            room = len(ready.rejected) if keep_rejected is None else keep_rejected - len(report.rejected)
            report.rejected.extend(ready.rejected[: max(room, 0)])
            if progress:
                progress(report.received, max(report.received, round(report.received / max(ready.read, 1e-9))))
        if batch_id is not None:
            close_batch(conn, batch_id, report.accepted, len(cap.opened) if cap is not None else 0)
            if cap is not None:
                record_series(conn, cap.opened)
            report.batch_id = batch_id
    log.info("ingested", extra={"kind": kind.value, "accepted": report.accepted, "duplicates": report.duplicates,
                                "rejected": report.rejected_count})
    return report


@cache
def _bounded_heap() -> bool:
    """Keep glibc's heap from growing with the file (once per process; False where malloc is not glibc's).

    By default glibc raises its mmap threshold to the largest block freed (up to 32 MiB), after which a chunk's
    arrays come from the heap and leave it fragmented: a SQLite ingest's peak RSS grew 403 -> 437 MiB over
    3.3 M rows. A fixed 1 MiB threshold returns large blocks to the system when freed, and two arenas (the
    thread that prepares chunks and the one that writes) keep freed memory reusable between them.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(mallopt(_M_ARENA_MAX, 2))


def _with_columns(frame: pd.DataFrame, seen: list[str]) -> pd.DataFrame:
    """JSON Lines chunks may lack a column later rows carry: keep every column seen so far (blank where absent)."""
    missing = [c for c in seen if c not in frame.columns]
    seen.extend(c for c in frame.columns if c not in seen)
    return frame.reindex(columns=[*frame.columns, *missing]) if missing else frame


def _redact(validated: Validated) -> Validated:
    """Personal data leaves feedback before anything is stored, embedded or shown (quarantine too)."""
    good = validated.good.copy()
    good["text"] = redact_many(good["text"].tolist())  # the NER runs over the batch, not text by text
    for rejected in validated.rejected:
        if isinstance(rejected.row.get("text"), str):
            rejected.row["text"] = redact_pii(rejected.row["text"])
    return Validated(good, validated.rejected)


class _Occurrences:
    """How many equal usage rows came before in this input, across chunks, in bounded memory.

    Counts are kept by 64-bit digest of a row's content in a private scratch SQLite file (deleted at the end),
    not in Python: a 10-million-row file has ~10 million distinct rows, and their counts would otherwise grow
    the process by ~250 MB. The page cache is capped (`_SCRATCH_CACHE_KIB`). A digest collision only shifts a
    row's occurrence number, the same way on every ingest of the file.
    """

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="needcast-ingest-")
        # One thread at a time uses it (the one preparing chunks), but not the one that opened it.
        self._db = sqlite3.connect(Path(self._folder.name) / "seen.db", check_same_thread=False)
        self._db.executescript(f"PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
                               f"PRAGMA cache_size=-{_SCRATCH_CACHE_KIB}; "
                               "CREATE TABLE seen (digest INTEGER PRIMARY KEY, n INTEGER NOT NULL); "
                               "CREATE TEMP TABLE chunk (digest INTEGER, n INTEGER)")

    def close(self) -> None:
        self._db.close()
        self._folder.cleanup()

    def __enter__(self) -> _Occurrences:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def number(self, content: pd.Series) -> np.ndarray:
        """0-based occurrence of each row's content in the input so far (this chunk included, in order)."""
        digests = pd.util.hash_pandas_object(content, index=False).to_numpy().view(np.int64)
        within = pd.Series(digests).groupby(digests, sort=False).cumcount().to_numpy()
        unique, inverse, counts = np.unique(digests, return_inverse=True, return_counts=True)
        db = self._db
        db.execute("DELETE FROM chunk")
        db.executemany("INSERT INTO chunk VALUES (?, ?)", zip(unique.tolist(), counts.tolist(), strict=True))
        # What came before: only the digests seen in earlier chunks come back (few: a file rarely repeats rows).
        seen = db.execute("SELECT c.digest, s.n FROM chunk c JOIN seen s ON s.digest = c.digest").fetchall()
        db.execute("INSERT INTO seen SELECT digest, n FROM chunk WHERE true ORDER BY digest "
                   "ON CONFLICT (digest) DO UPDATE SET n = n + excluded.n")
        db.commit()
        before = np.zeros(len(unique), dtype=np.int64)
        if seen:
            found = np.array(seen, dtype=np.int64)
            before[np.searchsorted(unique, found[:, 0])] = found[:, 1]
        return before[inverse] + within


@dataclass
class _Prepared:
    """One validated chunk, ready to write: `rows` as the writer takes them, `good` the count of good rows."""

    received: int
    read: float
    good: int
    rows: pd.DataFrame
    rejected: list[RejectedRow]


_END = object()


def _one_ahead(items: Iterable[Chunk], work: Callable[[Chunk], _Prepared]) -> Iterator[_Prepared]:
    """`work` of each item in order, the next item's computed in a thread while the caller writes this one.

    Parsing, validation and hashing (Python) overlap the database's merge (SQLite and psycopg release the GIL
    while they work), so a 2-core machine runs both at once; at most two chunks are held.
    """
    source = iter(items)

    def step() -> _Prepared | object:
        item = next(source, _END)
        return _END if item is _END else work(item)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-prepare") as pool:
        future = pool.submit(step)
        while (ready := future.result()) is not _END:
            future = pool.submit(step)
            yield ready


def _usage_rows(good: pd.DataFrame, occurrences: _Occurrences) -> pd.DataFrame:
    """The rows `store.writes.add_usage` takes: each with its identity hash."""
    if good.empty:
        return pd.DataFrame()
    days = good["date"].to_numpy().astype("datetime64[D]")
    counts = good["count"].astype(np.int64)
    # A row's identity is its content plus how many equal rows came before it in the same input,
    # so a file of identical one-count rows keeps them all and the same file again adds nothing.
    parts = [pa.array(days.astype(str)), *(pa.array(good[c].to_numpy(), pa.string()) for c in SERIES_KEY),
             pa.array(counts.to_numpy()).cast(pa.string())]
    content = pc.binary_join_element_wise(*parts, "\x1f").to_pandas()  # day, series key, count
    occurrence = occurrences.number(content)
    # 128 bits of sha256 (a collision ~1e-21 likely at 1e9 rows), raw: the primary key of `usage_sources` (rev. 0006h).
    hashes = [hashlib.sha256(f"{c}\x1f{n}".encode()).digest()[:16]
              for c, n in zip(content.tolist(), occurrence.tolist(), strict=True)]
    return pd.DataFrame({"row_hash": hashes, "date": days, **{c: good[c].to_numpy() for c in SERIES_KEY},
                         "count": counts.to_numpy()})


def _feedback_rows(good: pd.DataFrame) -> pd.DataFrame:
    """The rows `store.writes.add_feedback` takes: text hashed, an id for each, the first row of an id only."""
    if good.empty:
        return pd.DataFrame()
    good = good.copy()
    good["text_hash"] = [hashlib.sha256(t.encode()).hexdigest() for t in good["text"].tolist()]
    # Without a source id, the id is the content's hash, so the same row twice is still one row.
    missing_id = good["id"].isna()
    identity = good.loc[missing_id, ["created_at", "text_hash", "segment", "service"]]
    good.loc[missing_id, "id"] = ["h-" + _sha(*row)[:24] for row in identity.itertuples(index=False)]
    # The first row of an id wins; later ones, here or in a later chunk, are duplicates.
    first = good[~good["id"].duplicated()]
    return first[[c.name for c in contract_for(Kind.feedback).columns] + ["text_hash"]]


def _store_services(conn: Connection, good: pd.DataFrame) -> tuple[int, int]:
    """The catalogue is replaced row by row: a newer name or description wins, equal rows are duplicates."""
    s = tables.services
    good = good.drop_duplicates("service", keep="last")
    stored = {r.service: r for r in conn.execute(select(s)).all()}
    cols = ["service", "name", "description", "life_event", "handle_minutes"]
    accepted = dups = 0
    for row in good[cols].to_dict("records"):
        row = {k: (None if pd.isna(v) else v) for k, v in row.items()}
        old = stored.get(row["service"])
        if old is None:
            conn.execute(s.insert().values(**row))
            accepted += 1
        elif tuple(old) != tuple(row[c] for c in cols):
            conn.execute(s.update().where(s.c.service == row["service"]).values(**row))
            accepted += 1
        else:
            dups += 1
    return accepted, dups


def _quarantine(conn: Connection, kind: Kind, source: str, rejected: list[RejectedRow]) -> None:
    """Keep rejected rows with their reasons; the same row of the same source again is kept once."""
    if not rejected:
        return
    q = tables.quarantine
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = []
    for r in rejected:
        row_hash = _sha(*sorted(f"{k}={v}" for k, v in r.row.items()))
        rows.append({
            "kind": kind.value, "source": source, "row_number": r.index + 1, "row_hash": row_hash,
            "errors": [{"field": e.field, "message": e.message} for e in r.errors], "row": r.row,
            "received_at": now,
        })
    if conn.dialect.name in ("sqlite", "postgresql"):
        from sqlalchemy.dialects import postgresql, sqlite

        dialect_insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
        conn.execute(dialect_insert(q).on_conflict_do_nothing(), rows)
        return
    numbers = sorted({r["row_number"] for r in rows})
    existing = set(conn.execute(select(q.c.row_number, q.c.row_hash).where(
        q.c.kind == kind.value, q.c.source == source, q.c.row_number.in_(numbers))).all())
    fresh = [r for r in rows if (r["row_number"], r["row_hash"]) not in existing]
    if fresh:
        conn.execute(q.insert(), fresh)
