"""Where stored rows came from: one `ingest_batches` row per ingest, so a source can be found and removed again.

A source is kept only as the sha256 of its absolute path (or of an API label such as `api:usage`): the path of
a file may name a person, its hash does not, and `needcast delete --source FILE` finds it again.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, func, insert, select, update

from store import tables

__all__ = [
    "batches_of", "close_batch", "known_series", "new_series_since", "open_batch", "record_series", "source_key",
    "start_of_day",
]


def source_key(source: str) -> str:
    """The stored identity of a source: sha256 of a file's absolute path, or of an `api:...` label as given."""
    canonical = source
    if not source.startswith("api:"):
        try:
            canonical = str(Path(source).expanduser().resolve())
        except (OSError, RuntimeError, ValueError):  # an embedded NUL, a symlink loop: not a file, a label
            canonical = source
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def start_of_day(now: datetime | None = None) -> datetime:
    """Midnight UTC of `now` (naive, as stored)."""
    now = now or _now()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def open_batch(conn: Connection, kind: str, source: str, now: datetime | None = None) -> str:
    """Register one ingest (inside its transaction) and return its id."""
    batch_id = uuid.uuid4().hex
    conn.execute(insert(tables.ingest_batches).values(
        id=batch_id, kind=kind, source_key=source_key(source), received_at=now or _now(), accepted=0, new_series=0))
    return batch_id


def close_batch(conn: Connection, batch_id: str, accepted: int, new_series: int) -> None:
    conn.execute(update(tables.ingest_batches).where(tables.ingest_batches.c.id == batch_id)
                 .values(accepted=accepted, new_series=new_series))


def known_series(conn: Connection) -> set[tuple[str, str, str]]:
    """Every (service, segment, region) an ingest opened (`usage_series`: one row per series, not per day)."""
    t = tables.usage_series
    return set(map(tuple, conn.execute(select(t.c.service, t.c.segment, t.c.region)).all()))


def record_series(conn: Connection, keys: set[tuple[str, str, str]], now: datetime | None = None) -> None:
    """Remember series an ingest opened (they are new: `known_series` did not hold them)."""
    if keys:
        at = now or _now()
        conn.execute(insert(tables.usage_series), [
            {"service": s, "segment": g, "region": r, "first_ingested_at": at} for s, g, r in sorted(keys)])


def new_series_since(conn: Connection, since: datetime | None = None) -> int:
    """How many series ingests opened since `since` (default: midnight UTC today)."""
    b = tables.ingest_batches
    since = since if since is not None else start_of_day()
    total = conn.execute(select(func.coalesce(func.sum(b.c.new_series), 0)).where(b.c.received_at >= since)).scalar()
    return int(total or 0)


def batches_of(conn: Connection, kind: str, source: str | None = None, batch_id: str | None = None) -> list[str]:
    """Ids of the ingests of `kind` from `source` and/or with id `batch_id`."""
    b = tables.ingest_batches
    stmt = select(b.c.id).where(b.c.kind == kind)
    if source is not None:
        stmt = stmt.where(b.c.source_key == source_key(source))
    if batch_id is not None:
        stmt = stmt.where(b.c.id == batch_id)
    return list(conn.execute(stmt).scalars())
