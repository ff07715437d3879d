"""Ingest provenance and deletions: which ingest brought each usage hash, contribution and feedback row; the series
ever opened; an audit of deletions; usage counts 64-bit on PostgreSQL (a day's sum of large counts overflowed a
32-bit INTEGER).

Revision ID: 0005i
Revises: 0004w
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005i"
down_revision = "0004w"
branch_labels = None
depends_on = None

_COUNT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":  # SQLite's INTEGER is 64-bit already
        op.alter_column("usage", "count", type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False)
    # Nullable columns without a default: SQLite adds them in place, no table copy.
    with op.batch_alter_table("usage_sources") as batch:
        batch.add_column(sa.Column("batch_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("date", sa.Date(), nullable=True))
        batch.create_index("ix_usage_sources_batch_id", ["batch_id"])
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("batch_id", sa.String(length=32), nullable=True))
        batch.create_index("ix_feedback_batch_id", ["batch_id"])
    op.create_table(
        "ingest_batches",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("source_key", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("accepted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("new_series", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ingest_batches_source_key", "ingest_batches", ["source_key"])
    op.create_index("ix_ingest_batches_received_at", "ingest_batches", ["received_at"])
    op.create_table(
        "usage_contributions",
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("segment", sa.String(length=200), nullable=False),
        sa.Column("region", sa.String(length=200), nullable=False),
        sa.Column("count", _COUNT, nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "date", "service", "segment", "region"),
    )
    op.create_table(
        "usage_series",
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("segment", sa.String(length=200), nullable=False),
        sa.Column("region", sa.String(length=200), nullable=False),
        sa.Column("first_ingested_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("service", "segment", "region"),
    )
    op.execute("INSERT INTO usage_series (service, segment, region, first_ingested_at) "
               "SELECT DISTINCT service, segment, region, CURRENT_TIMESTAMP FROM usage")
    op.create_table(
        "deletions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("amount", _COUNT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_deletions_at", "deletions", ["at"])


def downgrade() -> None:
    op.drop_index("ix_deletions_at", table_name="deletions")
    op.drop_table("deletions")
    op.drop_table("usage_series")
    op.drop_table("usage_contributions")
    op.drop_index("ix_ingest_batches_received_at", table_name="ingest_batches")
    op.drop_index("ix_ingest_batches_source_key", table_name="ingest_batches")
    op.drop_table("ingest_batches")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_index("ix_feedback_batch_id")
        batch.drop_column("batch_id")
    with op.batch_alter_table("usage_sources") as batch:
        batch.drop_index("ix_usage_sources_batch_id")
        batch.drop_column("date")
        batch.drop_column("batch_id")
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("usage", "count", type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=False)
