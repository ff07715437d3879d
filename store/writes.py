"""Bulk writes of validated rows: a chunk is staged in a temporary table, then merged by a few SQL statements.

PostgreSQL loads the stage with `COPY ... FROM STDIN`; the row hashes that are new come back from their
`INSERT ... ON CONFLICT`, summed per day and series into a second temporary table that the upserts read.
SQLite loads the stage with one `executemany` and merges with `INSERT ... ON CONFLICT` too. Only the chunk's
own keys are looked up (through the primary keys), never every stored row of its date span. Every function runs
inside the caller's transaction.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
from pyarrow import csv
from sqlalchemy import Connection, text

__all__ = ["add_feedback", "add_usage", "stage_rows"]

_USAGE_STAGE = "needcast_usage_stage"
_FEEDBACK_STAGE = "needcast_feedback_stage"
_USAGE_SUMS = "needcast_usage_sums"
_USAGE_COLUMNS = {"row_hash": "bytea", "date": "date", "service": "text", "segment": "text", "region": "text",
                  "count": "bigint"}
_FEEDBACK_COLUMNS = {"id": "text", "created_at": "timestamp", "text": "text", "text_hash": "text",
                     "segment": "text", "service": "text", "region": "text", "rating": "bigint", "channel": "text",
                     "batch_id": "text"}  # batch_id: provenance (store.provenance)
_KEY = '"date", service, segment, region'
SQLITE_CACHE_KIB = 65_536
"""SQLite page cache of a connection that bulk-writes (a constant: RSS stays flat as tables grow)."""


def add_usage(conn: Connection, rows: pd.DataFrame, batch_id: str) -> int:
    """Add the rows whose `row_hash` is new: their counts go to their day (summed with what is stored) and their
    hashes to `usage_sources`. `rows`: row_hash (16 bytes, unique within the ingest), date (datetime64), service,
    segment, region, count. Each hash records its ingest (`batch_id`, from `store.provenance.open_batch`) and day,
    and what the ingest added to each day goes to `usage_contributions` (so `store.deletes` can subtract it).
    Returns how many rows were new."""
    if rows.empty:
        return 0
    hashes = rows["row_hash"]
    if conn.dialect.name == "postgresql":  # COPY's text form of bytea
        hashes = pd.Series(["\\x" + h.hex() for h in hashes.tolist()], index=rows.index)
    _stage(conn, _USAGE_STAGE, _USAGE_COLUMNS, rows.assign(date=_day_text(rows["date"]), row_hash=hashes),
           analyze=False)  # the merge's plans do not depend on the stage's statistics
    merge_counts = (
        f'INSERT INTO usage ({_KEY}, "count") SELECT {_KEY}, SUM("count") FROM {{source}} WHERE true '
        f'GROUP BY {_KEY} ON CONFLICT ({_KEY}) DO UPDATE SET "count" = usage."count" + excluded."count"'
    )
    contribute = (  # provenance (store.provenance, store.deletes)
        f'INSERT INTO usage_contributions (batch_id, {_KEY}, "count") SELECT :batch, {_KEY}, SUM("count") '
        f'FROM {{source}} WHERE true GROUP BY {_KEY} ON CONFLICT (batch_id, {_KEY}) '
        'DO UPDATE SET "count" = usage_contributions."count" + excluded."count"'
    )
    params = {"batch": batch_id}
    if conn.dialect.name == "postgresql":
        return _merge_usage_postgresql(conn, batch_id, len(rows))
    conn.exec_driver_sql(f"DELETE FROM {_USAGE_STAGE} WHERE EXISTS "
                         f"(SELECT 1 FROM usage_sources u WHERE u.row_hash = {_USAGE_STAGE}.row_hash)")
    new = int(conn.exec_driver_sql(f"SELECT count(*) FROM {_USAGE_STAGE}").scalar_one())
    if new:
        conn.execute(text(f'INSERT INTO usage_sources (row_hash, batch_id, "date") '
                          f'SELECT row_hash, :batch, "date" FROM {_USAGE_STAGE} ORDER BY row_hash'), params)
        conn.exec_driver_sql(merge_counts.format(source=_USAGE_STAGE))
        if batch_id:
            conn.execute(text(contribute.format(source=_USAGE_STAGE)), params)
    return new


def _merge_usage_postgresql(conn: Connection, batch_id: str, staged: int) -> int:
    """PostgreSQL: new hashes to `usage_sources`; the new rows summed once per day and series into a temporary
    table, which the writes to `usage` and `usage_contributions` read in key order. Returns the new rows.

    Summing once (not once per target table) and writing in key order (B-tree pages filled in turn) halved the
    server's time per chunk. The hashes of one ingest are unique (`features.ingest`), so when its insert into
    `usage_sources` adds every staged row (the usual case) the stage is summed as it is, without joining the
    new hashes back; otherwise the rows stored by other ingests are deleted from the stage first. Days without
    stored rows get plain inserts (`_add_sums`). The first two: 23% less server CPU at 1.1 M rows
    (docs/benchmarks.md, "Scale").
    """
    conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")  # the chunk's aggregates stay in memory
    # The stage is not analysed (`add_usage`): estimated without statistics, the chunk's statements passed
    # `jit_above_cost`, and JIT compilation cost ~0.3 s a chunk for nothing.
    conn.exec_driver_sql("SET LOCAL jit = off")
    params = {"batch": batch_id}
    new = conn.execute(text(f'INSERT INTO usage_sources (row_hash, batch_id, "date") SELECT row_hash, :batch, "date" '
                            f"FROM {_USAGE_STAGE} ORDER BY row_hash ON CONFLICT DO NOTHING"), params).rowcount
    if new == 0:
        return 0
    if new < staged:  # some rows were stored before, by other ingests: they leave the stage
        conn.execute(text(f"DELETE FROM {_USAGE_STAGE} s USING usage_sources u WHERE u.row_hash = s.row_hash "
                          "AND u.batch_id IS DISTINCT FROM :batch"), params)
    conn.exec_driver_sql(f'CREATE TEMP TABLE IF NOT EXISTS {_USAGE_SUMS} ("date" date, service text, '
                         'segment text, region text, "count" bigint) ON COMMIT DROP')
    conn.exec_driver_sql(f"TRUNCATE {_USAGE_SUMS}")
    # Written in key order, read back in that order (a fresh temporary table): the upserts need no sort.
    conn.exec_driver_sql(f'INSERT INTO {_USAGE_SUMS} SELECT {_KEY}, SUM("count") FROM {_USAGE_STAGE} '
                         f"GROUP BY {_KEY} ORDER BY {_KEY}")
    _add_sums(conn, "usage", _KEY, _KEY, 'SELECT 1 FROM usage u WHERE u."date" = d."date"', params)
    _add_sums(conn, "usage_contributions", f"batch_id, {_KEY}", f":batch, {_KEY}",  # provenance (store.deletes)
              'SELECT 1 FROM usage_contributions c WHERE c.batch_id = :batch AND c."date" = d."date"', params)
    return new


def _add_sums(conn: Connection, table: str, key: str, values: str, stored: str, params: dict[str, object]) -> None:
    """Add the chunk's sums to `table` (`values`: the select list of its `key` columns): a plain insert for the
    days where `stored` (a query of day `d`) finds no row, an upsert for the others.

    Most days of a bulk load, and of a daily export, are new to `usage`, and every day is new to the
    contributions of a new ingest but the one split across chunks: their rows cannot conflict (input writers
    hold the write lock, `store.engine.write_transaction`), and a plain insert costs ~35% less than an upsert.
    """
    days = conn.execute(text(f'SELECT d."date" FROM (SELECT DISTINCT "date" FROM {_USAGE_SUMS}) d '
                             f"WHERE EXISTS ({stored})"), params).scalars().all()
    insert = f'INSERT INTO {table} ({key}, "count") SELECT {values}, "count" FROM {_USAGE_SUMS}'
    if not days:
        conn.execute(text(insert), params)
        return
    conn.execute(text(f'{insert} WHERE NOT ("date" = ANY(:days))'), {**params, "days": days})
    conn.execute(text(f'{insert} WHERE "date" = ANY(:days) ON CONFLICT ({key}) '
                      f'DO UPDATE SET "count" = {table}."count" + excluded."count"'), {**params, "days": days})


def add_feedback(conn: Connection, rows: pd.DataFrame, batch_id: str | None = None) -> int:
    """Insert feedback rows whose `id` is not stored yet (ids unique within `rows`), recording `batch_id` (the
    ingest that brought them); returns how many were new."""
    if rows.empty:
        return 0
    created = rows["created_at"].dt.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's own SQLite format
    _stage(conn, _FEEDBACK_STAGE, _FEEDBACK_COLUMNS, rows.assign(created_at=created, batch_id=batch_id))
    cols = ", ".join(_FEEDBACK_COLUMNS)
    result = conn.exec_driver_sql(f"INSERT INTO feedback ({cols}) SELECT {cols} FROM {_FEEDBACK_STAGE} WHERE true "
                                  "ON CONFLICT (id) DO NOTHING")
    return int(result.rowcount)


def _day_text(dates: pd.Series) -> pd.Series:
    """ISO days as text: what SQLAlchemy stores for a Date on SQLite, and what COPY reads on PostgreSQL."""
    return pd.Series(dates.to_numpy().astype("datetime64[D]").astype(str), index=dates.index)


def _stage(conn: Connection, name: str, columns: dict[str, str], rows: pd.DataFrame, analyze: bool = True) -> None:
    """Empty the temporary table `name` (created on first use in this transaction) and load `rows` into it
    (PostgreSQL: `analyze` it, for the plans of the statements that join it)."""
    rows = rows[list(columns)]
    quoted = ", ".join(f'"{c}"' for c in columns)
    if conn.dialect.name == "postgresql":
        typed = ", ".join(f'"{c}" {t}' for c, t in columns.items())
        conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({typed}) ON COMMIT DROP")
        conn.exec_driver_sql(f"TRUNCATE {name}")
        # pyarrow writes CSV ~5x faster than pandas: strings quoted, NULL an unquoted empty field (COPY's NULL).
        buffer = pa.BufferOutputStream()
        csv.write_csv(pa.Table.from_pandas(rows, preserve_index=False), buffer,
                      csv.WriteOptions(include_header=False))
        with conn.connection.cursor() as cursor, cursor.copy(f"COPY {name} ({quoted}) FROM STDIN (FORMAT csv)") as copy:
            copy.write(memoryview(buffer.getvalue()))
        if analyze:
            conn.exec_driver_sql(f"ANALYZE {name}")
        return
    # A merge walks the primary keys of tables of millions of rows: with SQLite's default 2 MB page cache it
    # re-reads pages through the OS at every chunk (~4 GB of reads for a million rows); 64 MB keeps them.
    conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    # Untyped SQLite columns keep values exactly as given (no affinity conversion).
    conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({quoted})")
    conn.exec_driver_sql(f"DELETE FROM {name}")
    values = [rows[c].astype(object).where(rows[c].notna(), None).tolist() for c in columns]
    placeholders = ", ".join("?" for _ in columns)
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(f"INSERT INTO {name} VALUES ({placeholders})", list(zip(*values, strict=True)))
    finally:
        cursor.close()


stage_rows = _stage
"""Load rows into a temporary table of this transaction (reads use it to join a subset of series)."""
