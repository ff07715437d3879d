"""When each usage row hash was ingested, so source hashes and quarantine can be pruned after a retention period.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database-side default, so bulk loads (COPY) stamp rows too; hashes from before this revision get the
    # upgrade's time: their retention clock starts now. SQLite adds such a column only by copying the table.
    with op.batch_alter_table("usage_sources", recreate="always") as batch:
        batch.add_column(sa.Column("ingested_at", sa.DateTime(), nullable=False,
                                   server_default=sa.text("CURRENT_TIMESTAMP")))
        batch.create_index("ix_usage_sources_ingested_at", ["ingested_at"])
    with op.batch_alter_table("quarantine") as batch:
        batch.create_index("ix_quarantine_received_at", ["received_at"])
    with op.batch_alter_table("training_jobs") as batch:
        batch.create_index("ix_training_jobs_created_at", ["created_at"])


def downgrade() -> None:
    with op.batch_alter_table("training_jobs") as batch:
        batch.drop_index("ix_training_jobs_created_at")
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_index("ix_quarantine_received_at")
    with op.batch_alter_table("usage_sources") as batch:
        batch.drop_index("ix_usage_sources_ingested_at")
        batch.drop_column("ingested_at")
