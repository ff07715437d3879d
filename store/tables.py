"""The database schema (SQLAlchemy Core), portable between SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from features.contract import CHANNEL_CHARS, KEY_CHARS, NAME_CHARS

metadata = MetaData()
COUNT = BigInteger().with_variant(Integer, "sqlite")
"""Request counts: 64-bit (SQLite's INTEGER already is); a day's sum of many large rows fits."""

usage = Table(
    "usage",
    metadata,
    Column("date", Date, primary_key=True),
    Column("service", String(KEY_CHARS), primary_key=True),
    Column("segment", String(KEY_CHARS), primary_key=True),
    Column("region", String(KEY_CHARS), primary_key=True),
    Column("count", COUNT, nullable=False),
)
"""Daily demand: one row per series and day (rows of one key and day add up)."""

usage_sources = Table(
    "usage_sources",
    metadata,
    # Revision 0006h: the first 16 bytes of the row's sha256 (`features.ingest`), raw (was 64 hex characters).
    Column("row_hash", LargeBinary(16), primary_key=True),
    # Set by the database (bulk loads included); rows from before revision 0002 carry the upgrade's time.
    Column("ingested_at", DateTime, nullable=False, index=True, server_default=text("CURRENT_TIMESTAMP")),
    # Revision 0005i: which ingest brought the row and its day, so a deleted source or day can come back.
    Column("batch_id", String(32), index=True),
    Column("date", Date),
)
"""Hashes of usage rows ingested within the retention period, so re-ingesting a file adds nothing."""

feedback = Table(
    "feedback",
    metadata,
    Column("id", String(KEY_CHARS), primary_key=True),
    Column("created_at", DateTime, nullable=False, index=True),
    Column("text", Text, nullable=False),
    Column("text_hash", String(64), nullable=False, index=True),
    Column("segment", String(KEY_CHARS)),
    Column("service", String(KEY_CHARS)),
    Column("region", String(KEY_CHARS)),
    Column("rating", Integer),
    Column("channel", String(CHANNEL_CHARS)),
    Column("batch_id", String(32), index=True),  # revision 0005i: the ingest that brought it
)
"""Feedback with personal data already redacted; `id` is the source's id or a content hash."""

services = Table(
    "services",
    metadata,
    Column("service", String(KEY_CHARS), primary_key=True),
    Column("name", String(NAME_CHARS), nullable=False),
    Column("description", Text),
    Column("life_event", String(KEY_CHARS)),
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
    Column("received_at", DateTime, nullable=False, index=True),
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
    # Added after the first release: nullable or defaulted.
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

JOB_SINGLE_FLIGHT = ("(kind = 'train' AND state IN ('queued', 'running')) "
                     "OR (kind IN ('refresh', 'prune') AND state = 'queued')")
"""Rows the single-flight index covers: one train job queued or running, one refresh and one prune waiting."""

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(20), nullable=False, server_default="train"),  # train, refresh, embed, prune
    Column("state", String(20), nullable=False),  # queued, running, succeeded, failed
    Column("progress", String(300), nullable=False),
    Column("params", JSON, nullable=False),
    Column("pid", Integer),  # of the worker running it
    Column("worker", String(200)),  # host name of that worker
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime, nullable=False, index=True),
    Column("started_at", DateTime),
    Column("heartbeat_at", DateTime),
    Column("finished_at", DateTime),
    Column("result", JSON),
    Index("ix_jobs_state_created_at", "state", "created_at"),
    Index("uq_jobs_single_flight", "kind", unique=True, sqlite_where=text(JOB_SINGLE_FLIGHT),
          postgresql_where=text(JOB_SINGLE_FLIGHT)),
)
"""The durable job queue: the API and the schedule enqueue, `needcast worker` claims and runs (jobs/)."""

training_jobs = jobs
"""The table's name before revision 0003."""

segment_names = Table(
    "segment_names",
    metadata,
    Column("segment", String(200), primary_key=True),
    Column("name_ru", String(500)),
    Column("name_en", String(500)),
)
"""The segment catalogue: a name per language (a missing one falls back to the other, then to the code)."""

region_names = Table(
    "region_names",
    metadata,
    Column("region", String(200), primary_key=True),
    Column("name_ru", String(500)),
    Column("name_en", String(500)),
    Column("parent", String(200)),  # the region this one belongs to (a hierarchy), or NULL
)
"""The region catalogue, with an optional parent region."""

scenarios = Table(
    "scenarios",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime, nullable=False),
    Column("created_by", String(100), nullable=False),  # the caller's role or key id
    Column("model_version", String(50), nullable=False),
    Column("event", JSON, nullable=False),  # the hypothetical event
    Column("selection", JSON, nullable=False),  # service, segment, region the scenario was computed for
    Column("result", JSON, nullable=False),  # per date: with and without the event
)
"""What-if scenarios planners computed: a planned event applied by the champion, with and without it."""

need_status = Table(
    "need_status",
    metadata,
    Column("topic_id", Integer, primary_key=True),
    Column("segment", String(200), primary_key=True),
    Column("status", String(20), nullable=False),  # new, acknowledged, in_work, resolved, dismissed
    Column("owner", String(200)),
    Column("updated_at", DateTime, nullable=False),
    Column("updated_by", String(100), nullable=False),
    Column("resolved_at", DateTime),
    Column("recent_count_at_change", Integer),  # the need's recent volume when it was resolved or dismissed
    Column("mean_rating_at_change", Float),  # and its mean rating then
)
"""Where each emerging need (topic in a segment) stands in the planners' work."""

need_status_log = Table(
    "need_status_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("topic_id", Integer, nullable=False, index=True),
    Column("segment", String(200), nullable=False),
    Column("at", DateTime, nullable=False),
    Column("by", String(100), nullable=False),
    Column("status", String(20)),  # the new status, or NULL for a comment alone
    Column("owner", String(200)),
    Column("comment", Text),
)
"""The audit trail of need statuses, owners and comments (who = the API key's role or id, when)."""

ingest_batches = Table(
    "ingest_batches",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("source_key", String(64), nullable=False, index=True),  # sha256 of the source: no path is kept
    Column("received_at", DateTime, nullable=False, index=True),
    Column("accepted", Integer, nullable=False, server_default="0"),
    Column("new_series", Integer, nullable=False, server_default="0"),
)
"""One row per ingest (a file or a request), so its rows can be found and removed again (revision 0005i)."""

usage_contributions = Table(
    "usage_contributions",
    metadata,
    Column("batch_id", String(32), primary_key=True),
    Column("date", Date, primary_key=True),
    Column("service", String(KEY_CHARS), primary_key=True),
    Column("segment", String(KEY_CHARS), primary_key=True),
    Column("region", String(KEY_CHARS), primary_key=True),
    Column("count", COUNT, nullable=False),
)
"""What each ingest added to each day of each series: deleting a source subtracts exactly this (revision 0005i)."""

usage_series = Table(
    "usage_series",
    metadata,
    Column("service", String(KEY_CHARS), primary_key=True),
    Column("segment", String(KEY_CHARS), primary_key=True),
    Column("region", String(KEY_CHARS), primary_key=True),
    Column("first_ingested_at", DateTime, nullable=False),
)
"""Every series an ingest opened (a lookup by key, unlike `usage`, whose key starts with the date), for the cap on
new series per batch and day (revision 0005i)."""

deletions = Table(
    "deletions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False, index=True),
    Column("actor", String(100), nullable=False),  # cli:<os user> or api:<role>:<key id>
    Column("kind", String(20), nullable=False),  # usage or feedback
    Column("criteria", JSON, nullable=False),  # source key, before, after, id
    Column("rows", Integer, nullable=False),  # stored rows removed (usage: series-days emptied or reduced)
    Column("amount", COUNT, nullable=False),  # usage: requests subtracted; feedback: texts removed
)
"""The audit trail of `needcast delete` and `DELETE /v1/usage|feedback` (revision 0005i)."""
