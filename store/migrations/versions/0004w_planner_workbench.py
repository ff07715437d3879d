"""The planner's workbench: segment and region names, what-if scenarios, need statuses with their audit trail.

Revision ID: 0004w
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004w"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "segment_names",
        sa.Column("segment", sa.String(200), primary_key=True),
        sa.Column("name_ru", sa.String(500)),
        sa.Column("name_en", sa.String(500)),
    )
    op.create_table(
        "region_names",
        sa.Column("region", sa.String(200), primary_key=True),
        sa.Column("name_ru", sa.String(500)),
        sa.Column("name_en", sa.String(500)),
        sa.Column("parent", sa.String(200)),
    )
    op.create_table(
        "scenarios",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("model_version", sa.String(50), nullable=False),
        sa.Column("event", sa.JSON, nullable=False),
        sa.Column("selection", sa.JSON, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
    )
    op.create_table(
        "need_status",
        sa.Column("topic_id", sa.Integer, primary_key=True),
        sa.Column("segment", sa.String(200), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("owner", sa.String(200)),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("updated_by", sa.String(100), nullable=False),
        sa.Column("resolved_at", sa.DateTime),
        sa.Column("recent_count_at_change", sa.Integer),
        sa.Column("mean_rating_at_change", sa.Float),
    )
    op.create_table(
        "need_status_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("topic_id", sa.Integer, nullable=False),
        sa.Column("segment", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("by", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20)),
        sa.Column("owner", sa.String(200)),
        sa.Column("comment", sa.Text),
    )
    op.create_index("ix_need_status_log_topic_id", "need_status_log", ["topic_id"])


def downgrade() -> None:
    op.drop_index("ix_need_status_log_topic_id", table_name="need_status_log")
    for table in ("need_status_log", "need_status", "scenarios", "region_names", "segment_names"):
        op.drop_table(table)
