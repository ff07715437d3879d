"""Read what the store holds into plain frames (the I/O edge of the feature side)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, func, select

from features import tables
from features.contract import SERIES_KEY

__all__ = ["load_events", "load_feedback", "load_series_keys", "load_services", "load_usage", "usage_last_day"]


def load_usage(engine: Engine) -> pd.DataFrame:
    """Daily usage: date, service, segment, region, count (only stored days)."""
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(select(tables.usage)).mappings().all(),
                             columns=["date", *SERIES_KEY, "count"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["count"] = frame["count"].astype(float)
    return frame


def load_feedback(engine: Engine, columns: list[str] | None = None) -> pd.DataFrame:
    """Stored (already redacted) feedback."""
    t = tables.feedback
    cols = [t.c[c] for c in columns] if columns else [t]
    with engine.connect() as conn:
        rows = conn.execute(select(*cols)).mappings().all()
    frame = pd.DataFrame(rows, columns=columns or [c.name for c in t.columns])
    if "created_at" in frame:
        frame["created_at"] = pd.to_datetime(frame["created_at"])
    if "rating" in frame:  # an all-None column comes back as object from some drivers
        frame["rating"] = pd.to_numeric(frame["rating"], errors="coerce").astype(float)
    return frame


def usage_last_day(engine: Engine) -> pd.Timestamp | None:
    """The last day with stored usage, or None when there is none."""
    with engine.connect() as conn:
        last = conn.execute(select(func.max(tables.usage.c.date))).scalar()
    return None if last is None else pd.Timestamp(last)


def load_series_keys(engine: Engine) -> pd.DataFrame:
    """The distinct (service, segment, region) of stored usage."""
    t = tables.usage
    with engine.connect() as conn:
        rows = conn.execute(select(*(t.c[c] for c in SERIES_KEY)).distinct()).all()
    return pd.DataFrame(rows, columns=SERIES_KEY)


def load_services(engine: Engine) -> pd.DataFrame:
    """The service catalogue."""
    with engine.connect() as conn:
        rows = conn.execute(select(tables.services)).mappings().all()
    return pd.DataFrame(rows, columns=[c.name for c in tables.services.columns])


def load_events(engine: Engine) -> pd.DataFrame:
    """Registered known events (past and future), by start; `services`, `segments`, `regions` are lists (empty: all)."""
    t = tables.events
    with engine.connect() as conn:
        rows = conn.execute(select(t).order_by(t.c.start, t.c.id)).mappings().all()
    frame = pd.DataFrame(rows, columns=[c.name for c in t.columns])
    for col in ("start", "end"):
        frame[col] = pd.to_datetime(frame[col])
    for col in ("services", "segments", "regions"):
        frame[col] = [list(v) if v else [] for v in frame[col]]
    return frame
