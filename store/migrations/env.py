"""Alembic environment: runs on the connection needcast hands over (under its migration lock)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from store.tables import metadata

config = context.config


def _run(connection) -> None:
    # Batch mode: SQLite alters a table by copying it, so later revisions can change columns portably.
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        with create_engine(config.get_main_option("sqlalchemy.url")).connect() as conn:
            _run(conn)
