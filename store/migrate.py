"""Schema versions: Alembic migrations applied once under a lock, and the check every process makes on start.

Policy: an empty database gets the whole schema (a fresh install needs no extra step); a database at an older
version is upgraded only by `needcast db upgrade` (an operator's step, after a backup), and every other process
refuses to start on it with a one-line reason. A database made before versioning (tables, no version) is
stamped as the baseline, which is the schema it has.
"""

from __future__ import annotations

import fcntl
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.schema import CreateColumn

__all__ = ["BASELINE", "SchemaError", "current_revision", "ensure_schema", "head_revision", "upgrade"]

BASELINE = "0001"
"""The first versioned schema: the schema of the release before migrations."""

_SCRIPTS = Path(__file__).with_name("migrations")
_LOCK_KEY = zlib.crc32(b"needcast-migrations")  # PostgreSQL advisory lock id, the same in every process


class SchemaError(RuntimeError):
    """The database schema does not match this needcast; the message says what to run."""


def _config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest revision this needcast knows (the history is linear: one head)."""
    heads = ScriptDirectory(str(_SCRIPTS)).get_heads()
    if len(heads) != 1:
        raise SchemaError(f"migration history has {len(heads)} heads ({', '.join(sorted(heads))}): make it linear")
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for an empty or unversioned database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _is_empty(conn: Connection) -> bool:
    return not inspect(conn).get_table_names()


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """A connection holding the cross-process migration lock (advisory lock on PostgreSQL, a file lock on SQLite)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
                conn.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        with engine.connect() as conn:
            yield conn
        return
    with open(f"{database}.migrate.lock", "a+") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _bring_to_baseline(conn: Connection) -> None:
    """What the last release before migrations did on every start: create missing tables, add added columns."""
    from store.migrations.baseline_schema import metadata as baseline

    baseline.create_all(conn)
    inspector = inspect(conn)
    quote = conn.dialect.identifier_preparer
    for table in baseline.sorted_tables:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:  # that release only added nullable or defaulted columns
                ddl = CreateColumn(column).compile(dialect=conn.dialect)
                conn.execute(text(f"ALTER TABLE {quote.format_table(table)} ADD COLUMN {ddl}"))


def _apply(conn: Connection, engine: Engine, target: str) -> None:
    cfg = _config(engine)
    cfg.attributes["connection"] = conn
    if MigrationContext.configure(conn).get_current_revision() is None and not _is_empty(conn):
        _bring_to_baseline(conn)  # made before versioning
        command.stamp(cfg, BASELINE)
    command.upgrade(cfg, target)
    conn.commit()


def upgrade(engine: Engine, target: str = "head") -> tuple[str | None, str]:
    """Bring the schema to `target` under the lock; returns (revision before, revision after)."""
    with _migration_lock(engine) as conn:
        before = MigrationContext.configure(conn).get_current_revision()
        _apply(conn, engine, target)
        after = MigrationContext.configure(conn).get_current_revision()
    return before, after or ""


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse to run on a database at another version."""
    head = head_revision()
    current = current_revision(engine)
    if current == head:
        return
    with _migration_lock(engine) as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        if current == head:
            return  # another process made it while this one waited for the lock
        if current is None and _is_empty(conn):
            _apply(conn, engine, "head")
            return
    script = ScriptDirectory(str(_SCRIPTS))
    if current is not None and current not in {rev.revision for rev in script.walk_revisions()}:
        raise SchemaError(f"database schema {current} is newer than this needcast ({head}): upgrade needcast")
    raise SchemaError(f"database schema is at {current or 'the unversioned release'}, this needcast needs {head}: "
                      "run `needcast db upgrade` (after a backup: `needcast db backup FILE`)")
