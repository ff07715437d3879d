"""Database engine: one per URL, schema created on first use."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.schema import CreateColumn

from features.tables import metadata


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """An engine for `url` with the schema in place (SQLite file's folder created)."""
    if url.startswith("sqlite:///"):
        from pathlib import Path

        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    metadata.create_all(engine)
    _add_missing_columns(engine)
    return engine


def _add_missing_columns(engine: Engine) -> None:
    """Add columns a table gained after the database was created (they are nullable or have a default)."""
    inspector = inspect(engine)
    quote = engine.dialect.identifier_preparer
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present:
                    ddl = CreateColumn(column).compile(dialect=engine.dialect)
                    conn.execute(text(f"ALTER TABLE {quote.format_table(table)} ADD COLUMN {ddl}"))


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets the API read while a training job writes.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
