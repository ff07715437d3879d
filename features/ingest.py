"""Land validated rows in the store in one transaction; quarantine bad rows; re-ingesting adds nothing."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Connection, Engine, bindparam, select, update

from features import tables
from features.contract import SERIES_KEY, Kind
from features.redaction import redact_pii
from features.validation import RejectedRow, Validated, validate_frame

__all__ = ["IngestReport", "ingest_frame"]

log = logging.getLogger(__name__)
_CHUNK = 2000  # rows per IN (...) lookup: under every database's parameter limit
Progress = Callable[[int, int], None]


@dataclass
class IngestReport:
    """What one ingestion did."""

    kind: str
    source: str
    received: int
    accepted: int
    duplicates: int
    rejected: list[RejectedRow] = field(default_factory=list)


def _sha(*parts: object) -> str:
    return hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts).encode()).hexdigest()


def _existing(conn: Connection, column, values: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(values), _CHUNK):
        chunk = values[start : start + _CHUNK]
        found.update(conn.execute(select(column).where(column.in_(chunk))).scalars())
    return found


def ingest_frame(
    engine: Engine,
    frame: pd.DataFrame,
    kind: Kind | str,
    source: str = "api",
    progress: Progress | None = None,
) -> IngestReport:
    """Validate `frame`, store good rows and quarantine bad ones, all in one transaction."""
    kind = Kind(kind)
    validated = validate_frame(frame, kind, source)
    if kind == Kind.feedback:
        validated = _redact(validated)
    with engine.begin() as conn:
        if kind == Kind.usage:
            accepted, dups = _store_usage(conn, validated.good, progress)
        elif kind == Kind.feedback:
            accepted, dups = _store_feedback(conn, validated.good, progress)
        else:
            accepted, dups = _store_services(conn, validated.good)
        _quarantine(conn, kind, source, validated.rejected)
    log.info(
        "ingested", extra={"kind": kind.value, "accepted": accepted, "duplicates": dups,
                           "rejected": len(validated.rejected)}
    )
    return IngestReport(kind.value, source, len(frame), accepted, dups, validated.rejected)


def _redact(validated: Validated) -> Validated:
    """Personal data leaves feedback before anything is stored, embedded or shown (quarantine too)."""
    good = validated.good.copy()
    good["text"] = good["text"].map(redact_pii)
    for rejected in validated.rejected:
        if isinstance(rejected.row.get("text"), str):
            rejected.row["text"] = redact_pii(rejected.row["text"])
    return Validated(good, validated.rejected)


def _store_usage(conn: Connection, good: pd.DataFrame, progress: Progress | None) -> tuple[int, int]:
    if good.empty:
        return 0, 0
    good = good.assign(date=good["date"].dt.normalize(), count=good["count"].astype(int))
    # A row's identity is its content plus how many equal rows came before it in the same input,
    # so a file of identical one-count rows keeps them all and the same file again adds nothing.
    content = good["date"].dt.strftime("%Y-%m-%d") + "\x1f" + good[SERIES_KEY].agg("\x1f".join, axis=1)
    content = content + "\x1f" + good["count"].astype(str)
    occurrence = content.groupby(content).cumcount().astype(str)
    hashes = (content + "\x1f" + occurrence).map(lambda s: hashlib.sha256(s.encode()).hexdigest())
    seen = _existing(conn, tables.usage_sources.c.row_hash, hashes.tolist())
    fresh = ~hashes.isin(seen)
    new_rows = good[fresh.to_numpy()]
    if not new_rows.empty:
        conn.execute(tables.usage_sources.insert(), [{"row_hash": h} for h in hashes[fresh]])
        daily = new_rows.groupby(["date", *SERIES_KEY], as_index=False)["count"].sum()
        _add_daily_counts(conn, daily, progress)
    return int(fresh.sum()), int((~fresh).sum())


def _add_daily_counts(conn: Connection, daily: pd.DataFrame, progress: Progress | None) -> None:
    """Add counts to stored days (portable read-merge-write instead of a dialect-specific upsert)."""
    u = tables.usage
    lo, hi = daily["date"].min().date(), daily["date"].max().date()
    stored = pd.DataFrame(
        conn.execute(select(u).where(u.c.date.between(lo, hi))).mappings().all(),
        columns=["date", *SERIES_KEY, "count"],
    )
    stored["date"] = pd.to_datetime(stored["date"])
    merged = daily.merge(stored, on=["date", *SERIES_KEY], how="left", suffixes=("", "_old"), indicator=True)
    inserts = merged[merged["_merge"] == "left_only"]
    updates = merged[merged["_merge"] == "both"]
    total = len(merged)
    step = 20_000
    for start in range(0, len(inserts), step):
        part = inserts.iloc[start : start + step]
        rows = [
            {"date": d.date(), "service": s, "segment": g, "region": r, "count": int(c)}
            for d, s, g, r, c in part[["date", *SERIES_KEY, "count"]].itertuples(index=False)
        ]
        conn.execute(u.insert(), rows)
        if progress:
            progress(min(start + step, len(inserts)), total)
    if not updates.empty:
        stmt = (
            update(u)
            .where(u.c.date == bindparam("b_date"), u.c.service == bindparam("b_service"),
                   u.c.segment == bindparam("b_segment"), u.c.region == bindparam("b_region"))
            .values(count=bindparam("b_count"))
        )
        conn.execute(
            stmt,
            [
                {"b_date": d.date(), "b_service": s, "b_segment": g, "b_region": r, "b_count": int(c + o)}
                for d, s, g, r, c, o in updates[["date", *SERIES_KEY, "count", "count_old"]].itertuples(index=False)
            ],
        )
    if progress:
        progress(total, total)


def _store_feedback(conn: Connection, good: pd.DataFrame, progress: Progress | None) -> tuple[int, int]:
    if good.empty:
        return 0, 0
    good = good.copy()
    good["text_hash"] = good["text"].map(lambda t: hashlib.sha256(t.encode()).hexdigest())
    # Without a source id, the id is the content's hash, so the same row twice is still one row.
    missing_id = good["id"].isna()
    identity = good.loc[missing_id, ["created_at", "text_hash", "segment", "service"]]
    good.loc[missing_id, "id"] = ["h-" + _sha(*row)[:24] for row in identity.itertuples(index=False)]
    first = ~good["id"].duplicated()
    seen = _existing(conn, tables.feedback.c.id, good.loc[first, "id"].tolist())
    fresh = first & ~good["id"].isin(seen)
    rows = good[fresh.to_numpy()]
    records = [
        {
            "id": r.id, "created_at": r.created_at.to_pydatetime(), "text": r.text, "text_hash": r.text_hash,
            "segment": r.segment, "service": r.service, "region": r.region,
            "rating": None if pd.isna(r.rating) else int(r.rating), "channel": r.channel,
        }
        for r in rows.itertuples(index=False)
    ]
    for start in range(0, len(records), 5000):
        conn.execute(tables.feedback.insert(), records[start : start + 5000])
        if progress:
            progress(min(start + 5000, len(records)), len(records))
    return len(records), int((~fresh).sum())


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
    existing = set(
        conn.execute(
            select(q.c.row_number, q.c.row_hash).where(q.c.kind == kind.value, q.c.source == source)
        ).all()
    )
    fresh = [r for r in rows if (r["row_number"], r["row_hash"]) not in existing]
    if fresh:
        conn.execute(q.insert(), fresh)
