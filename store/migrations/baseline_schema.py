"""The schema of the last release before migrations, frozen: what revision 0001 stands for.

A database from before versioning is brought to it (missing tables created, columns that release added at start
added) before it is stamped 0001, as that release itself did on every start. Never edit: later changes are
revisions.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

usage = Table(
    "usage",
    metadata,
    Column("date", Date, primary_key=True),
    Column("service", String(200), primary_key=True),
    Column("segment", String(200), primary_key=True),
    Column("region", String(200), primary_key=True),
    Column("count", Integer, nullable=False),
)
"""Daily demand: one row per series and day (rows of one key and day add up)."""

usage_sources = Table(
    "usage_sources",
    metadata,
    Column("row_hash", String(64), primary_key=True),
)
"""Hashes of every usage row ever ingested, so re-ingesting a file adds nothing."""

feedback = Table(
    "feedback",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("created_at", DateTime, nullable=False, index=True),
    Column("text", Text, nullable=False),
    Column("text_hash", String(64), nullable=False, index=True),
    Column("segment", String(200)),
    Column("service", String(200)),
    Column("region", String(200)),
    Column("rating", Integer),
    Column("channel", String(100)),
)
"""Feedback with personal data already redacted; `id` is the source's id or a content hash."""

services = Table(
    "services",
    metadata,
    Column("service", String(200), primary_key=True),
    Column("name", String(500), nullable=False),
    Column("description", Text),
    Column("life_event", String(200)),
    Column("handle_minutes", Float, nullable=False),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),
    Column("source", String(1000), nullable=False),
    Column("row_number", Integer, nullable=False),
    Column("errors", JSON, nullable=False),
    Column("row", JSON, nullable=False),
    Column("received_at", DateTime, nullable=False),
    Column("row_hash", String(64), nullable=False),
    UniqueConstraint("kind", "source", "row_number", "row_hash"),
)
"""Rejected rows with their reasons; feedback rows are stored redacted."""

embeddings = Table(
    "embeddings",
    metadata,
    Column("model_id", String(300), primary_key=True),
    Column("text_hash", String(64), primary_key=True),
    Column("dim", Integer, nullable=False),
    Column("vector", LargeBinary, nullable=False),
)
"""Cache of text embeddings keyed by (model id, sha256 of the redacted text); float32 bytes."""

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(300), nullable=False),
    Column("start", Date, nullable=False),
    Column("end", Date, nullable=False),
    Column("services", JSON, nullable=False),
    Column("segments", JSON, nullable=False),
    # Added after the first release: nullable or defaulted, so that release added them to older databases on start.
    Column("kind", String(50), nullable=False, server_default="other"),
    Column("regions", JSON),  # NULL or an empty list: every region
    Column("created_at", DateTime),
)
"""Known events (campaigns, law changes) a planner registers, past and future; empty lists mean all."""

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("role", String(20), nullable=False),
    Column("created_at", DateTime, nullable=False),
)
"""API keys, stored as sha256 hashes only."""

served_forecasts = Table(
    "served_forecasts",
    metadata,
    Column("model_version", String(50), primary_key=True),
    Column("service", String(200), primary_key=True),
    Column("segment", String(200), primary_key=True),
    Column("region", String(200), primary_key=True),
    Column("date", Date, primary_key=True),
    Column("p10", Float, nullable=False),
    Column("p50", Float, nullable=False),
    Column("p90", Float, nullable=False),
    Column("mean", Float, nullable=False),  # expected value: what sums across series
)
"""Forecasts precomputed by training / refresh for the served model version."""

served_meta = Table(
    "served_meta",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", JSON, nullable=False),
)
"""Small documents the service serves from memory: forecast metadata, needs, suggestions."""

training_jobs = Table(
    "training_jobs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("state", String(20), nullable=False),  # queued, running, succeeded, failed
    Column("progress", String(300), nullable=False),
    Column("params", JSON, nullable=False),
    Column("pid", Integer),
    Column("created_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("result", JSON),
)
"""Training jobs started through the API; the job runs as a `needcast train --job-id` process."""
