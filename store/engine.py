"""Database engine: one per URL, checked against the schema version on first use."""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError

from store.migrate import ensure_schema

SQLITE_BUSY_TIMEOUT_MS = 60_000
"""How long an SQLite writer waits for another one (a long ingest) before giving up."""

WRITE_WAIT_S = 1800.0
"""How long `write_transaction` keeps waiting for the write lock (retrying past the busy timeout)."""
_WRITE_LOCK_KEY = zlib.crc32(b"needcast-writes")  # PostgreSQL advisory lock id of the input writers


_WRITE_QUEUES: dict[str, threading.Lock] = {}
_WRITE_QUEUES_GUARD = threading.Lock()


def _write_queue(engine: Engine) -> threading.Lock:
    """This process's queue for the SQLite file's write lock: its writers take turns in the order they came.

    SQLite's busy handler polls with growing sleeps, so a writer that came late often wins over one that waited:
    with six threads writing, some waited 9 s for a lock held 50 ms at a time (median 0.1 s); queued first in
    the process, the longest wait was 0.28 s. Other processes (the worker, a CLI ingest) still meet the busy
    handler, but as one writer per process.
    """
    key = engine.url.render_as_string(hide_password=True)
    with _WRITE_QUEUES_GUARD:
        return _WRITE_QUEUES.setdefault(key, threading.Lock())


class StoreBusyError(RuntimeError):
    """Another writer held the database for longer than the caller would wait."""


def make_engine(url: str) -> Engine:
    """A new engine for `url` (SQLite file's folder created), without touching the schema."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """The engine for `url`: an empty database gets the schema; another version raises `SchemaError`."""
    engine = make_engine(url)
    ensure_schema(engine)
    return engine


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets the API read while a training job writes; the busy timeout makes writers queue, not fail.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.close()


@contextmanager
def write_transaction(engine: Engine, wait_s: float = WRITE_WAIT_S) -> Iterator[Connection]:
    """A transaction that holds the write lock from its first statement: input writers queue, none dies.

    SQLite: `BEGIN IMMEDIATE` (a deferred transaction that read first cannot upgrade once another writer
    committed: "database is locked" at once), retried past the busy timeout until `wait_s`. PostgreSQL: a
    transaction-scoped advisory lock, so two ingests of overlapping rows never race on the same new key.
    Raises StoreBusyError when the lock did not come within `wait_s`. Writers of one process take turns in
    order (`_write_queue`) before they meet SQLite's lock.
    """
    deadline = time.monotonic() + wait_s
    queue = _write_queue(engine) if engine.dialect.name == "sqlite" else None
    if queue is not None and not queue.acquire(timeout=max(0.0, wait_s)):
        raise StoreBusyError(f"the database stayed locked by another writer for {wait_s:.0f} s; "
                             "try again when it is done")
    try:
        with _transaction(engine, deadline, wait_s) as conn:
            yield conn
    finally:
        if queue is not None:
            queue.release()


@contextmanager
def _transaction(engine: Engine, deadline: float, wait_s: float) -> Iterator[Connection]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            while True:
                left_ms = max(1, int((deadline - time.monotonic()) * 1000))
                conn.exec_driver_sql(f"PRAGMA busy_timeout={min(left_ms, SQLITE_BUSY_TIMEOUT_MS)}")
                try:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                    break
                except OperationalError as exc:
                    conn.rollback()
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise
                    if time.monotonic() >= deadline:
                        raise StoreBusyError(f"the database stayed locked by another writer for {wait_s:.0f} s; "
                                             "try again when it is done") from exc
                    time.sleep(0.05)
                finally:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        elif engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _WRITE_LOCK_KEY})
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
