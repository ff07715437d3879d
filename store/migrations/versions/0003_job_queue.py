"""The job queue: `training_jobs` becomes `jobs` (train, refresh, embed, prune) with a worker lease and single
flight.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The same predicate as store.tables.JOB_SINGLE_FLIGHT, written out: a revision must not change with the code.
SINGLE_FLIGHT = ("(kind = 'train' AND state IN ('queued', 'running')) "
                 "OR (kind IN ('refresh', 'prune') AND state = 'queued')")


def upgrade() -> None:
    # Jobs of the previous release ran as their own processes, which the upgrade (services stopped) has ended;
    # two of them active at once (that release's race) would also break the unique index below.
    op.execute("UPDATE training_jobs SET state = 'failed', progress = 'interrupted by the upgrade to the job queue' "
               "WHERE state IN ('queued', 'running')")
    with op.batch_alter_table("training_jobs") as batch:
        batch.drop_index("ix_training_jobs_created_at")
    op.rename_table("training_jobs", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=20), nullable=False, server_default="train"))
        batch.add_column(sa.Column("worker", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("started_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(), nullable=True))
    op.create_index("ix_jobs_created_at", "jobs", ["created_at"])
    op.create_index("ix_jobs_state_created_at", "jobs", ["state", "created_at"])
    op.create_index("uq_jobs_single_flight", "jobs", ["kind"], unique=True,
                    sqlite_where=sa.text(SINGLE_FLIGHT), postgresql_where=sa.text(SINGLE_FLIGHT))


def downgrade() -> None:
    op.drop_index("uq_jobs_single_flight", table_name="jobs")
    op.drop_index("ix_jobs_state_created_at", table_name="jobs")
    op.drop_index("ix_jobs_created_at", table_name="jobs")
    op.execute("DELETE FROM jobs WHERE kind <> 'train'")
    with op.batch_alter_table("jobs") as batch:
        for column in ("heartbeat_at", "started_at", "attempts", "worker", "kind"):
            batch.drop_column(column)
    op.rename_table("jobs", "training_jobs")
    op.create_index("ix_training_jobs_created_at", "training_jobs", ["created_at"])
