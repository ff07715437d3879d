"""Read what the store holds into plain frames: windowed, columnar, without a Python object per stored row.

Usage and feedback are read through one SQL query each. PostgreSQL streams the result with `COPY (query) TO
STDOUT` into pyarrow's CSV reader (columnar all the way); SQLite's cursor is fetched in batches whose string
columns are deduplicated as they come, so a long read holds one string object per distinct value, not per row.
`since` / `until` (inclusive days) and `series` (a subset of (service, segment, region)) are pushed into SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, func, select

from features.contract import SERIES_KEY
from store import tables

__all__ = ["load_events", "load_feedback", "load_series_keys", "load_services", "load_usage", "usage_last_day"]

Day = date | datetime | str | pd.Timestamp
Series = pd.DataFrame | Iterable[tuple[str, str, str]]
_SERIES_STAGE = "needcast_series_filter"
_FETCH_ROWS = 200_000


def load_usage(engine: Engine, since: Day | None = None, until: Day | None = None,
               series: Series | None = None) -> pd.DataFrame:
    """Daily usage: date, service, segment, region, count (float; only stored days), in no particular order.

    `since` / `until`: first and last day to read (inclusive; None: unbounded). `series`: only these
    (service, segment, region) keys, as a frame with those columns or as tuples (None: every series).
    """
    where, params = _day_window('"date"', since, until, "%Y-%m-%d")
    columns = ["date", *SERIES_KEY, "count"]
    sql = f'SELECT "date", service, segment, region, "count" FROM usage u{{join}} {where}'
    with engine.connect() as conn:
        return _read(conn, sql, params, columns, {"date": "date", "count": "float"}, series)


def load_feedback(engine: Engine, columns: list[str] | None = None, since: Day | None = None,
                  until: Day | None = None) -> pd.DataFrame:
    """Stored (already redacted) feedback (every column but its provenance, `batch_id`, unless asked for).

    `since` / `until`: first and last day of `created_at` to read (inclusive; None: unbounded).
    """
    t = tables.feedback
    columns = columns or [c.name for c in t.columns if c.name != "batch_id"]
    unknown = [c for c in columns if c not in t.c]
    if unknown:
        raise KeyError(f"feedback has no column(s) {', '.join(unknown)}")
    until_next = None if until is None else pd.Timestamp(until).normalize() + pd.Timedelta(days=1)
    where, params = _day_window("created_at", since, until_next, "%Y-%m-%d %H:%M:%S.%f", until_exclusive=True)
    sql = f"SELECT {', '.join(f'{_q(c)}' for c in columns)} FROM feedback {where}"
    kinds = {"created_at": "datetime", "rating": "float"}
    with engine.connect() as conn:
        return _read(conn, sql.replace("{join}", ""), params, columns, {c: kinds[c] for c in columns if c in kinds})


def _q(column: str) -> str:
    return f'"{column}"'


def _day_window(column: str, since: Day | None, until: Day | None, stored: str,
                until_exclusive: bool = False) -> tuple[str, dict[str, str]]:
    """A WHERE clause on `column`; bounds as text in the column's SQLite format `stored` (PostgreSQL casts it)."""
    clauses, params = [], {}
    if since is not None:
        clauses.append(f"{column} >= :since")
        params["since"] = pd.Timestamp(since).normalize().strftime(stored)
    if until is not None:
        clauses.append(f"{column} {'<' if until_exclusive else '<='} :until")
        params["until"] = pd.Timestamp(until).normalize().strftime(stored)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def _read(conn: Connection, sql: str, params: dict[str, str], columns: list[str], kinds: dict[str, str],
          series: Series | None = None) -> pd.DataFrame:
    """Run `sql` (named `:params`; `{join}` marks where a series filter joins) into a frame of `columns`."""
    postgres = conn.dialect.name == "postgresql"
    join = ""
    if series is not None:
        keys = series[SERIES_KEY] if isinstance(series, pd.DataFrame) else pd.DataFrame(list(series),
                                                                                       columns=SERIES_KEY)
        from store.writes import stage_rows

        stage_rows(conn, _SERIES_STAGE, dict.fromkeys(SERIES_KEY, "text"), keys.drop_duplicates())
        join = f" JOIN {_SERIES_STAGE} f USING (service, segment, region)"
    sql = sql.replace("{join}", join)
    if postgres:
        frame = _copy_out(conn, re.sub(r":(\w+)", r"%(\1)s", sql), params, columns, kinds)
    else:
        frame = _fetch(conn, sql, params, columns)
    if series is not None:
        conn.rollback()  # drops the filter stage's rows (PostgreSQL: the table itself)
    for column, kind in kinds.items():
        if kind in ("date", "datetime"):
            frame[column] = pd.to_datetime(frame[column], format="ISO8601").astype("datetime64[ns]")
        elif kind == "float":  # an all-NULL column comes back as object from some drivers
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


def _copy_out(conn: Connection, sql: str, params: dict[str, str], columns: list[str],
              kinds: dict[str, str]) -> pd.DataFrame:
    """PostgreSQL: the query's CSV through COPY, parsed by pyarrow (NULL: an unquoted empty field)."""
    import pyarrow as pa
    from pyarrow import csv

    blocks = []
    with conn.connection.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", params) as copy:
        for block in copy:
            blocks.append(bytes(block))
    if not blocks:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    types = {c: pa.string() for c in columns if c not in kinds}
    types.update({c: pa.float64() for c, k in kinds.items() if k == "float"})
    table = csv.read_csv(
        pa.py_buffer(b"".join(blocks)),
        read_options=csv.ReadOptions(column_names=columns),
        convert_options=csv.ConvertOptions(column_types=types, strings_can_be_null=True,
                                           quoted_strings_can_be_null=False),
    )
    return table.to_pandas()


def _fetch(conn: Connection, sql: str, params: dict[str, str], columns: list[str]) -> pd.DataFrame:
    """SQLite: the cursor in batches; each batch's string columns share one object per distinct value."""
    cursor = conn.connection.cursor()
    parts: list[pd.DataFrame] = []
    try:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(_FETCH_ROWS):
            part = pd.DataFrame.from_records(batch, columns=columns)
            del batch
            for column in columns:
                if part[column].dtype == object:
                    codes, uniques = pd.factorize(part[column], use_na_sentinel=True)
                    # NULL (code -1) takes the appended None
                    part[column] = np.append(np.asarray(uniques, dtype=object), None).take(codes)
            parts.append(part)
    finally:
        cursor.close()
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


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
