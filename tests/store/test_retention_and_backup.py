"""Retention prunes what is past its time and nothing else; a restored backup serves the same forecasts."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import delete, func, select, update
from typer.testing import CliRunner

from features.contract import Kind
from features.ingest import ingest_frame
from forecast.served import load_served
from needcast.cli import app
from needcast.settings import Settings
from store import tables
from store.backup import BackupError, backup, restore
from store.engine import get_engine
from store.migrate import upgrade
from store.retention import prune
from tests.conftest import make_usage

PREVIOUS_RELEASE = Path(__file__).parents[1] / "fixtures" / "previous_release" / "needcast.db"


def _served_rows(engine, versions: list[str], days: int = 3) -> None:
    f, m = tables.served_forecasts, tables.served_meta
    with engine.begin() as conn:
        for v in versions:
            conn.execute(f.insert(), [{"model_version": v, "service": "s", "segment": "g", "region": "r",
                                       "date": date(2026, 1, 1) + timedelta(days=d), "p10": 1.0, "p50": 2.0,
                                       "p90": 3.0, "mean": 2.1} for d in range(days)])
            conn.execute(m.insert().values(key=f"forecast_meta:{v}", value={"version": v}))


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def test_prune_keeps_the_newest_versions_and_the_protected_one(settings: Settings) -> None:
    engine = get_engine(settings.db_url)
    _served_rows(engine, ["2", "9", "10", "11", "12"])
    report = prune(engine, keep_versions=2, retention_days=30, protect=("2",))
    assert report.kept_versions == ("2", "11", "12")
    with engine.connect() as conn:
        left = set(conn.execute(select(tables.served_forecasts.c.model_version).distinct()).scalars())
        meta = set(conn.execute(select(tables.served_meta.c.key)).scalars())
    assert left == {"2", "11", "12"}
    assert meta == {"forecast_meta:2", "forecast_meta:11", "forecast_meta:12"}
    assert (report.served_forecasts, report.served_meta) == (6, 2)


def test_prune_forgets_old_hashes_and_quarantine_only(settings: Settings) -> None:
    engine = get_engine(settings.db_url)
    usage = make_usage(days=20, services=1, segments=1).astype({"count": str})
    usage.loc[0, "count"] = "-3"
    first = ingest_frame(engine, usage, Kind.usage, source="u.csv")
    assert first.accepted == 19 and len(first.rejected) == 1
    long_ago = datetime(2020, 1, 1)
    with engine.begin() as conn:  # half of the hashes and the quarantined row are old
        old = list(conn.execute(select(tables.usage_sources.c.row_hash).limit(10)).scalars())
        conn.execute(update(tables.usage_sources).where(tables.usage_sources.c.row_hash.in_(old))
                     .values(ingested_at=long_ago))
        conn.execute(update(tables.quarantine).values(received_at=long_ago))
    report = prune(engine, keep_versions=3, retention_days=30)
    assert (report.usage_sources, report.quarantine) == (10, 1)
    assert _count(engine, tables.usage_sources) == 9
    assert _count(engine, tables.usage) == 19  # the data itself is never pruned
    # Within retention a re-ingest still adds nothing for the remembered rows.
    again = ingest_frame(engine, usage.iloc[1:], Kind.usage, source="u.csv")
    assert again.duplicates >= 9


def test_prune_command_uses_the_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = get_engine(settings.db_url)
    _served_rows(engine, ["1", "2", "3", "4"])
    monkeypatch.setenv("NEEDCAST_KEEP_MODEL_VERSIONS", "1")
    from needcast.settings import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["db", "prune"])
    assert result.exit_code == 0, result.output
    assert "kept 4" in result.output


def _previous_release_upgraded(settings: Settings):
    settings.home.mkdir(parents=True, exist_ok=True)
    shutil.copy(PREVIOUS_RELEASE, settings.home / "needcast.db")
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    return get_engine(settings.db_url)


def _assert_same(before, after) -> None:
    assert after is not None
    pd.testing.assert_frame_equal(before.table, after.table)
    assert before.meta == after.meta


def test_sqlite_backup_restores_the_same_served_forecasts(settings: Settings, tmp_path: Path) -> None:
    engine = _previous_release_upgraded(settings)
    served = load_served(engine, "1")
    assert served is not None and len(served.table) == 7
    result = CliRunner().invoke(app, ["db", "backup", str(tmp_path / "nightly.db")])
    assert result.exit_code == 0, result.output
    with engine.begin() as conn:  # an accident after the backup
        conn.execute(delete(tables.served_forecasts))
        conn.execute(delete(tables.usage))
    assert load_served(engine, "1") is None or load_served(engine, "1").table.empty
    result = CliRunner().invoke(app, ["db", "restore", str(tmp_path / "nightly.db"), "--yes"])
    assert result.exit_code == 0, result.output
    _assert_same(served, load_served(engine, "1"))
    assert _count(engine, tables.usage) == 399


def test_restore_refuses_a_file_that_is_not_a_backup(settings: Settings, tmp_path: Path) -> None:
    get_engine(settings.db_url)
    junk = tmp_path / "junk.db"
    junk.write_text("not a database")
    result = CliRunner().invoke(app, ["db", "restore", str(junk), "--yes"])
    assert result.exit_code == 1 and "not a valid SQLite backup" in result.output
    with pytest.raises(BackupError, match="no such backup"):
        restore(get_engine(settings.db_url), tmp_path / "missing.db")


def test_postgres_backup_restores_the_same_served_forecasts(pg_url: str, tmp_path: Path) -> None:
    engine = get_engine(pg_url)
    upgrade(engine)
    _served_rows(engine, ["7"], days=5)
    ingest_frame(engine, make_usage(days=30, services=1, segments=1), Kind.usage, source="u.csv")
    served = load_served(engine, "7")
    assert served is not None and len(served.table) == 5
    backup(engine, tmp_path / "pg.dump")
    with engine.begin() as conn:
        conn.execute(delete(tables.served_forecasts))
        conn.execute(delete(tables.usage))
    restore(engine, tmp_path / "pg.dump")
    _assert_same(served, load_served(engine, "7"))
    assert _count(engine, tables.usage) == 30
