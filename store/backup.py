"""Backup and restore of the needcast database: SQLite's online backup, PostgreSQL's pg_dump / pg_restore.

Hand-written only as the glue: the copying itself is SQLite's backup API and PostgreSQL's own tools, which keep
a consistent snapshot while the service runs.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

__all__ = ["BackupError", "backup", "restore"]


class BackupError(RuntimeError):
    """A backup or restore that could not be done; the message says why in one line."""


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return Path(database)


def _libpq_url(engine: Engine) -> str:
    """The URL PostgreSQL's tools understand (no SQLAlchemy driver suffix)."""
    return make_url(engine.url).set(drivername="postgresql").render_as_string(hide_password=False)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
            return str(candidate)
        raise BackupError(f"{name} not found: install the PostgreSQL client tools")
    return path


def _run(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise BackupError(f"{Path(args[0]).name} failed: {lines[-1] if lines else f'exit {done.returncode}'}")


def backup(engine: Engine, target: Path) -> Path:
    """Write a consistent copy of the database to `target` (SQLite file, or pg_dump's custom format)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if engine.dialect.name == "sqlite":
        source = sqlite3.connect(_sqlite_path(engine))
        copy = sqlite3.connect(target)
        try:
            with copy:
                source.backup(copy)  # a consistent snapshot even while others write
        finally:
            copy.close()
            source.close()
        return target
    if engine.dialect.name == "postgresql":
        _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(target), _libpq_url(engine)])
        return target
    raise BackupError(f"backup of {engine.dialect.name} is not supported")


def restore(engine: Engine, source: Path) -> None:
    """Replace the database's content with the backup at `source` (stop the service and worker first)."""
    if not source.is_file():
        raise BackupError(f"{source}: no such backup file")
    engine.dispose()
    if engine.dialect.name == "sqlite":
        backup_db = sqlite3.connect(source)
        try:
            if backup_db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"{source}: not a valid SQLite backup")
            live = sqlite3.connect(_sqlite_path(engine))
            try:
                with live:
                    backup_db.backup(live)
            finally:
                live.close()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{source}: not a valid SQLite backup ({exc})") from None
        finally:
            backup_db.close()
        return
    if engine.dialect.name == "postgresql":
        _run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
              "--dbname", _libpq_url(engine), str(source)])
        return
    raise BackupError(f"restore of {engine.dialect.name} is not supported")
