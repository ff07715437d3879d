"""Usage row hashes as 16 raw bytes (the first 128 bits of their sha256) instead of 64 hex characters: the
primary key of `usage_sources` is ~40% smaller, and every ingest inserts one entry per row into it.

A stored hex hash becomes the bytes of its first 32 characters, which is what an ingest now computes for the
same row, so re-ingesting a file from before the upgrade still adds nothing. Any other value (not a hex
sha256) keeps its UTF-8 bytes. Downgrading keeps the 16 bytes as 32 hex characters: rows ingested before
cannot be matched by the older release's 64-character hashes again.

Revision ID: 0006h
Revises: 0005i
Create Date: 2026-12-02
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0006h"
down_revision = "0005i"
branch_labels = None
depends_on = None

_HEX = re.compile(r"[0-9a-f]{64}")
_BATCH = 50_000


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE usage_sources ALTER COLUMN row_hash TYPE bytea USING CASE "
                   "WHEN row_hash ~ '^[0-9a-f]{64}$' THEN decode(substr(row_hash, 1, 32), 'hex') "
                   "ELSE convert_to(row_hash, 'UTF8') END")
        return
    # SQLite (before 3.41) has no unhex(): values are converted here, in batches, then the column retyped.
    sources = sa.table("usage_sources", sa.column("row_hash"))
    last = ""
    while True:
        values = bind.execute(sa.select(sources.c.row_hash).where(sources.c.row_hash > last)
                              .where(sa.func.typeof(sources.c.row_hash) == "text")
                              .order_by(sources.c.row_hash).limit(_BATCH)).scalars().all()
        if not values:
            break
        bind.execute(sa.update(sources).where(sources.c.row_hash == sa.bindparam("old"))
                     .values(row_hash=sa.bindparam("new")),
                     [{"old": v, "new": bytes.fromhex(v[:32]) if _HEX.fullmatch(v) else v.encode()} for v in values])
        last = values[-1]
    with op.batch_alter_table("usage_sources") as batch:
        batch.alter_column("row_hash", type_=sa.LargeBinary(length=16), existing_type=sa.String(length=64),
                           existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE usage_sources ALTER COLUMN row_hash TYPE varchar(64) USING encode(row_hash, 'hex')")
        return
    op.execute("UPDATE usage_sources SET row_hash = lower(hex(row_hash))")
    with op.batch_alter_table("usage_sources") as batch:
        batch.alter_column("row_hash", type_=sa.String(length=64), existing_type=sa.LargeBinary(length=16),
                           existing_nullable=False)
