"""The same storage code on PostgreSQL: ingestion, quarantine, embeddings-free paths and served forecasts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, func, make_url, select, text

from api.keys import Role, create_key, resolve_role
from features.contract import Kind
from features.ingest import ingest_frame
from needcast.jobs import run_training
from store import tables
from store.engine import get_engine
from store.reads import load_feedback, load_usage
from tests.conftest import make_usage, skip_unless_required
from tests.features.test_event_store import check_new_event_columns, first_release_events
from tests.postgres import postgres_server


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_server() as url:
        if url is None:
            skip_unless_required("PostgreSQL is not installed (initdb/pg_ctl not found); .ci/run installs it")
        yield url


def test_ingestion_is_idempotent_on_postgres(pg_url: str) -> None:
    engine = get_engine(pg_url)
    usage = make_usage(days=200).astype({"count": str})
    usage.loc[3, "count"] = "-1"
    first = ingest_frame(engine, usage, Kind.usage, source="u.csv")
    again = ingest_frame(engine, usage, Kind.usage, source="u.csv")
    assert first.accepted == len(usage) - 1 and len(first.rejected) == 1
    assert (again.accepted, again.duplicates) == (0, len(usage) - 1)
    stored = load_usage(engine)
    assert stored["count"].sum() == pd.to_numeric(usage["count"]).clip(lower=0).sum()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tables.quarantine)).scalar() == 1

    feedback = pd.DataFrame({"id": ["f1", "f2"], "created_at": ["2026-06-01T10:00:00", "2026-06-02"],
                             "text": ["Позвоните 8 912 345 67 89", "Спасибо"], "rating": ["1", "5"]})
    assert ingest_frame(engine, feedback, Kind.feedback).accepted == 2
    assert ingest_frame(engine, feedback, Kind.feedback).duplicates == 2
    assert "[ТЕЛЕФОН]" in load_feedback(engine).set_index("id").loc["f1", "text"]

    key = create_key(engine, Role.planner)
    assert resolve_role(engine, [], key) == Role.planner


def test_event_columns_added_to_an_older_database_on_postgres(pg_url: str) -> None:
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE needcast_first_release"))
    admin.dispose()
    url = make_url(pg_url).set(database="needcast_first_release").render_as_string(hide_password=False)
    first_release_events(url)
    check_new_event_columns(url)


def test_training_and_served_forecasts_on_postgres(pg_url: str, settings, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEEDCAST_DATABASE_URL", pg_url)
    from needcast.settings import get_settings

    get_settings.cache_clear()
    result = run_training(get_settings())
    assert result.demand.promoted and result.refreshed
    with get_engine(pg_url).connect() as conn:
        rows = conn.execute(select(func.count()).select_from(tables.served_forecasts)).scalar()
    assert rows == 28 * load_usage(get_engine(pg_url)).groupby(["service", "segment", "region"]).ngroups
