"""Schema migrations: upgrade from the previous release, refuse old schemas, make the schema once under a lock."""

from __future__ import annotations

import shutil
import sqlite3
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select, text
from typer.testing import CliRunner

from needcast.cli import app
from needcast.settings import Settings
from store import tables
from store.engine import get_engine, make_engine
from store.migrate import BASELINE, SchemaError, current_revision, ensure_schema, head_revision, upgrade
from store.reads import load_events, load_feedback, load_usage

PREVIOUS_RELEASE = Path(__file__).parents[1] / "fixtures" / "previous_release" / "needcast.db"
TABLES = ("usage", "usage_sources", "feedback", "services", "quarantine", "embeddings", "events", "api_keys",
          "served_forecasts", "served_meta", "training_jobs")
RENAMED = {"training_jobs": "jobs"}  # revision 0003: the job queue


def _counts_sqlite(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        present = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        named = {t: t if t in present else RENAMED.get(t, t) for t in TABLES}
        return {t: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for t, n in named.items() if n in present}


@pytest.fixture
def previous_db(settings: Settings) -> Path:
    """The previous release's database, copied where the settings look for it."""
    settings.home.mkdir(parents=True, exist_ok=True)
    target = settings.home / "needcast.db"
    shutil.copy(PREVIOUS_RELEASE, target)
    return target


def test_every_row_of_the_previous_release_survives_the_upgrade(previous_db: Path, settings: Settings) -> None:
    before = _counts_sqlite(previous_db)
    assert set(before) == set(TABLES) and all(before.values())

    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert _counts_sqlite(previous_db) == before
    engine = get_engine(settings.db_url)  # the version check passes now
    assert current_revision(engine) == head_revision()
    assert len(load_usage(engine)) == before["usage"]
    assert len(load_feedback(engine)) == before["feedback"]
    assert load_events(engine)["name"].tolist() == ["Campaign"]
    with engine.connect() as conn:  # hashes written before revision 0002 carry the upgrade's time
        assert conn.execute(select(func.count()).where(tables.usage_sources.c.ingested_at.is_(None))).scalar() == 0
    listed = CliRunner().invoke(app, ["quarantine"])
    assert listed.exit_code == 0 and "must be >= 0" in listed.output


def test_an_old_schema_is_refused_with_one_line(previous_db: Path, settings: Settings) -> None:
    with pytest.raises(SchemaError, match="needcast db upgrade"):
        ensure_schema(make_engine(settings.db_url))
    result = CliRunner().invoke(app, ["db", "current"])
    assert result.exit_code == 0 and "unversioned" in result.output and head_revision() in result.output


def test_a_newer_schema_is_refused(settings: Settings) -> None:
    engine = get_engine(settings.db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaError, match="newer than this needcast"):
        ensure_schema(make_engine(settings.db_url))


def test_the_history_is_linear_and_starts_at_the_baseline() -> None:
    from alembic.script import ScriptDirectory

    import store.migrate as migrate

    script = ScriptDirectory(str(migrate._SCRIPTS))
    revisions = list(script.walk_revisions())
    assert len(script.get_heads()) == 1
    assert revisions[-1].revision == BASELINE and revisions[-1].down_revision is None


def _schema_diff(engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), tables.metadata)


def test_the_migrations_build_exactly_the_declared_tables(tmp_path: Path) -> None:
    # Every change to store/tables.py comes with a revision: the migrated schema equals the declared one.
    engine = make_engine(f"sqlite:///{tmp_path}/fresh.db")
    upgrade(engine)
    assert _schema_diff(engine) == []


def _start_worker(url: str) -> str:
    engine = make_engine(url)
    ensure_schema(engine)
    revision = current_revision(engine)
    engine.dispose()
    return revision or ""


def _start_at_once(url: str, workers: int = 4) -> list[str]:
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_start_worker, [url] * workers))


def test_processes_starting_at_once_on_an_empty_sqlite_make_the_schema_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/race.db"
    assert _start_at_once(url) == [head_revision()] * 4
    with make_engine(url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def _fresh_pg_database(pg_url: str, name: str) -> str:
    admin = make_engine(pg_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return pg_url.rsplit("/", 1)[0] + f"/{name}"


def test_workers_starting_at_once_on_an_empty_postgres_make_the_schema_once(pg_url: str) -> None:
    url = _fresh_pg_database(pg_url, "race")
    assert _start_at_once(url) == [head_revision()] * 4
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    assert {RENAMED.get(t, t) for t in TABLES} <= set(inspect(engine).get_table_names())
    assert _schema_diff(engine) == []


def test_postgres_upgrades_from_the_baseline_keeping_rows(pg_url: str) -> None:
    url = _fresh_pg_database(pg_url, "from_baseline")
    engine = make_engine(url)
    upgrade(engine, BASELINE)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO usage_sources (row_hash) VALUES ('a'), ('b')"))
        conn.execute(text("INSERT INTO usage (date, service, segment, region, count) "
                          "VALUES ('2024-01-01', 's', 'g', 'r', 3)"))
    with pytest.raises(SchemaError, match="needcast db upgrade"):
        ensure_schema(make_engine(url))
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM usage_sources WHERE ingested_at IS NOT NULL")).scalar() == 2
        assert conn.execute(text("SELECT count FROM usage")).scalar() == 3
    assert current_revision(engine) == head_revision()


def test_serve_refuses_an_old_schema_with_one_line(previous_db: Path, settings: Settings) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "from needcast.cli import main; main()", "serve", "--port", "1"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "needcast db upgrade" in done.stderr


def test_the_baseline_revision_is_the_frozen_previous_schema(tmp_path: Path) -> None:
    from store.migrations.baseline_schema import metadata as baseline

    engine = make_engine(f"sqlite:///{tmp_path}/baseline.db")
    upgrade(engine, BASELINE)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), baseline)
    assert [d for d in diff if d[0] != "remove_table" or d[1].name != "alembic_version"] == []


def _old_release_hash(day: str, service: str, segment: str, region: str, count: int, occurrence: int) -> str:
    """A usage row's hash as revision 0005i stored it: 64 hex characters of the sha256 of its identity."""
    import hashlib

    identity = "\x1f".join([day, service, segment, region, str(count), str(occurrence)])
    return hashlib.sha256(identity.encode()).hexdigest()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_hex_hashes_become_bytes_and_a_file_ingested_before_the_upgrade_adds_nothing(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    import pandas as pd

    from features.ingest import ingest_frame

    url = (f"sqlite:///{tmp_path}/hashes.db" if backend == "sqlite"
           else _fresh_pg_database(request.getfixturevalue("pg_url"), "hashes"))
    engine = make_engine(url)
    upgrade(engine, "0005i")
    old = _old_release_hash("2024-01-01", "s", "g", "r", 3, 0)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO usage_sources (row_hash) VALUES (:h), ('legacy')"), {"h": old})
        conn.execute(text("INSERT INTO usage (date, service, segment, region, count) "
                          "VALUES ('2024-01-01', 's', 'g', 'r', 3)"))
    upgrade(engine)
    assert _schema_diff(engine) == []
    column = next(c for c in inspect(engine).get_columns("usage_sources") if c["name"] == "row_hash")
    assert column["type"].python_type is bytes
    with engine.connect() as conn:
        stored = set(conn.execute(select(tables.usage_sources.c.row_hash)).scalars())
    assert stored == {bytes.fromhex(old[:32]), b"legacy"}

    row = pd.DataFrame({"date": ["2024-01-01", "2024-01-02"], "service": ["s", "s"], "segment": ["g", "g"],
                        "region": ["r", "r"], "count": [3, 5]})
    report = ingest_frame(engine, row, "usage", source="again")
    assert (report.accepted, report.duplicates) == (1, 1)  # the row ingested before the upgrade is known
    usage = load_usage(engine)
    assert usage["count"].tolist() == [3, 5]
    engine.dispose()
