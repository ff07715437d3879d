"""Read what the store holds into plain frames: windowed, columnar, without a Python object per stored row.

Usage and feedback are read through one SQL query each. PostgreSQL streams the result with `COPY (query) TO
STDOUT` into pyarrow's CSV reader (columnar all the way); SQLite's cursor is fetched in batches whose string
columns are deduplicated as they come, so a long read holds one string object per distinct value, not per row.
`since` / `until` (inclusive days) and `series` (a subset of (service, segment, region)) are pushed into SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, func, select

from features.contract import SERIES_KEY
from store import tables

__all__ = ["load_events", "load_feedback", "load_series_keys", "load_series_spans", "load_served_forecasts",
           "load_services", "load_usage", "usage_groups", "usage_last_day"]

Day = date | datetime | str | pd.Timestamp
Series = pd.DataFrame | Iterable[tuple[str, str, str]]
_SERIES_STAGE = "needcast_series_filter"
_FETCH_ROWS = 200_000
_GROUP_STAGE = "needcast_series_groups"
_USAGE_COLUMNS = ["date", *SERIES_KEY, "count"]
_USAGE_KINDS = {"date": "date", "count": "float"}
_GROUP_CHUNK_BYTES = 64 << 20  # CSV parsed at a time by `usage_groups`: ~2 M usage rows


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


def usage_groups(engine: Engine, groups: pd.DataFrame, since: Day | None = None,
                 chunk_bytes: int = _GROUP_CHUNK_BYTES) -> Iterator[tuple[int, pd.DataFrame]]:
    """(group, usage of its series) for every group 0, 1, ... of `groups` (service, segment, region, group), in
    order, each from `since` on (as `load_usage`; a group without rows: an empty frame).

    PostgreSQL: one query, sorted by group on the server and streamed (COPY); a group is yielded once the stream
    has passed it, so memory holds about one group and the table is scanned once, not once per group. SQLite:
    one `load_usage(series=...)` per group.
    """
    numbers = groups["group"].to_numpy()
    if engine.dialect.name != "postgresql":
        for number in range(int(numbers.max()) + 1 if len(numbers) else 0):
            yield number, load_usage(engine, since=since, series=groups[numbers == number])
        return
    expected = 0
    for number, part in _sorted_groups(engine, groups, since, chunk_bytes):
        for missing in range(expected, number):  # groups with no row in the window
            yield missing, _typed(_empty(_USAGE_COLUMNS), _USAGE_KINDS)
        yield number, part
        expected = number + 1
    for missing in range(expected, int(numbers.max()) + 1 if len(numbers) else 0):
        yield missing, _typed(_empty(_USAGE_COLUMNS), _USAGE_KINDS)


def _sorted_groups(engine: Engine, groups: pd.DataFrame, since: Day | None,
                   chunk_bytes: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """PostgreSQL: the groups that have rows, from one COPY sorted by group, parsed `chunk_bytes` at a time."""
    from store.writes import stage_rows

    where, params = _day_window('u."date"', since, None, "%Y-%m-%d")
    sql = (f'SELECT f."group", u."date", u.service, u.segment, u.region, u."count" FROM usage u '
           f'JOIN {_GROUP_STAGE} f USING (service, segment, region) {where} ORDER BY f."group"')
    copy_sql = "COPY (" + re.sub(r":(\w+)", r"%(\1)s", sql) + ") TO STDOUT (FORMAT csv)"
    columns, kinds = ["group", *_USAGE_COLUMNS], {"group": "int", **_USAGE_KINDS}
    held = pd.DataFrame()
    with engine.connect() as conn:
        # Sorting a region's window (tens of millions of rows) in 4 MB runs spills far more than in 256 MB.
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        stage_rows(conn, _GROUP_STAGE, {**dict.fromkeys(SERIES_KEY, "text"), "group": "bigint"},
                   groups[[*SERIES_KEY, "group"]].drop_duplicates())
        with conn.connection.cursor() as cursor, cursor.copy(copy_sql, params) as copy:
            blocks: list[bytes] = []
            size, rest = 0, b""
            for block in copy:
                blocks.append(bytes(block))
                size += len(block)
                if size < chunk_bytes:
                    continue
                data = rest + b"".join(blocks)
                cut = data.rfind(b"\n") + 1
                rest, blocks, size = data[cut:], [], 0
                held = pd.concat([held, _typed(_parse_csv(data[:cut], columns, kinds), kinds)], ignore_index=True)
                newest = held["group"].max()
                yield from _by_group(held[held["group"] < newest])
                held = held[held["group"] == newest]
            data = rest + b"".join(blocks)
            if data:
                held = pd.concat([held, _typed(_parse_csv(data, columns, kinds), kinds)], ignore_index=True)
        conn.rollback()
    yield from _by_group(held)


def _by_group(frame: pd.DataFrame) -> Iterator[tuple[int, pd.DataFrame]]:
    for number, part in frame.groupby("group", sort=True):
        yield int(number), part.drop(columns="group").reset_index(drop=True)


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


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


def load_served_forecasts(engine: Engine, version: str) -> pd.DataFrame:
    """The stored forecasts of one model version: service, segment, region, date, p10, p50, p90, mean (columnar,
    as `load_usage`: a served table holds every series' horizon, millions of rows for a region)."""
    columns = ["service", "segment", "region", "date", "p10", "p50", "p90", "mean"]
    sql = f"SELECT {', '.join(_q(c) for c in columns)} FROM served_forecasts WHERE model_version = :version"
    kinds = {"date": "date", **dict.fromkeys(["p10", "p50", "p90", "mean"], "float")}
    with engine.connect() as conn:
        return _read(conn, sql, {"version": version}, columns, kinds)


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
    return _typed(frame, kinds)


def _typed(frame: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    for column, kind in kinds.items():
        if kind in ("date", "datetime"):
            frame[column] = pd.to_datetime(frame[column], format="ISO8601").astype("datetime64[ns]")
        elif kind == "float":  # an all-NULL column comes back as object from some drivers
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


def _copy_out(conn: Connection, sql: str, params: dict[str, str], columns: list[str],
              kinds: dict[str, str]) -> pd.DataFrame:
    """PostgreSQL: the query's CSV through COPY, parsed by pyarrow (NULL: an unquoted empty field)."""
    blocks = []
    with conn.connection.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", params) as copy:
        for block in copy:
            blocks.append(bytes(block))
    if not blocks:
        return _empty(columns)
    return _parse_csv(b"".join(blocks), columns, kinds)


def _parse_csv(data: bytes, columns: list[str], kinds: dict[str, str]) -> pd.DataFrame:
    import pyarrow as pa
    from pyarrow import csv

    types = {c: pa.string() for c in columns if c not in kinds}
    types.update({c: pa.float64() for c, k in kinds.items() if k == "float"})
    types.update({c: pa.int64() for c, k in kinds.items() if k == "int"})
    table = csv.read_csv(
        pa.py_buffer(data),
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
        return _empty(columns)
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


def load_series_spans(engine: Engine) -> pd.DataFrame:
    """service, segment, region, first, last: each stored series' first and last day (datetime64), in key order.

    One `GROUP BY` in the database: a run lists its series (and where each starts) without reading their rows.
    """
    t = tables.usage
    keys = [t.c[c] for c in SERIES_KEY]
    query = select(*keys, func.min(t.c.date), func.max(t.c.date)).group_by(*keys).order_by(*keys)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # A hash of 100,000 series takes ~20 MB: beyond the default 4 MB the server sorts every row instead.
            conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
        rows = conn.execute(query).all()
    frame = pd.DataFrame(rows, columns=[*SERIES_KEY, "first", "last"])
    for column in ("first", "last"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    return frame


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
