"""A way to undo (issue 11): stored usage or feedback removed by source, ingest, id or dates, audited; a source's
share of days other sources also fed is subtracted exactly, and the corrected file can come back."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select
from typer.testing import CliRunner

from api.app import create_app
from features.contract import Kind
from features.ingest import ingest_file, ingest_frame
from features.series import series_frame
from needcast.cli import app as cli
from needcast.settings import Settings
from store import tables
from store.deletes import DeleteCriteria, NoCriteriaError, delete_rows
from store.engine import get_engine
from store.provenance import source_key
from store.reads import load_feedback, load_usage

ADMIN = {"Authorization": "Bearer admin-key"}


@pytest.fixture
def engine(settings: Settings):
    return get_engine(settings.db_url)


def _write(path: Path, rows: list[tuple[str, str, int]]) -> Path:
    pd.DataFrame(rows, columns=["date", "segment", "count"]).assign(service="tax").to_csv(path, index=False)
    return path


def _days(engine) -> dict[tuple[str, str], float]:
    usage = load_usage(engine)
    return {(d.strftime("%Y-%m-%d"), g): c for d, g, c in usage[["date", "segment", "count"]].itertuples(index=False)}


def _audit(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(tables.deletions).order_by(tables.deletions.c.id)).mappings()]


def test_deleting_a_source_subtracts_its_share_of_shared_days(engine, tmp_path: Path) -> None:
    a = _write(tmp_path / "a.csv", [("2026-01-05", "youth", 3), ("2026-01-05", "youth", 1), ("2026-01-06", "youth", 2)])
    b = _write(tmp_path / "b.csv", [("2026-01-05", "youth", 5), ("2026-01-07", "youth", 4)])
    ingest_file(engine, a, Kind.usage)
    ingest_file(engine, b, Kind.usage)
    assert _days(engine) == {("2026-01-05", "youth"): 9, ("2026-01-06", "youth"): 2, ("2026-01-07", "youth"): 4}

    report = delete_rows(engine, "usage", DeleteCriteria(source=str(a)), actor="test")
    assert (report.rows, report.amount) == (2, 6)  # two series-days, 3 + 1 + 2 requests
    assert _days(engine) == {("2026-01-05", "youth"): 5, ("2026-01-07", "youth"): 4}

    again = ingest_file(engine, a, Kind.usage)  # its hashes went with it: the corrected file can come back
    assert again.accepted == 3
    assert _days(engine) == {("2026-01-05", "youth"): 9, ("2026-01-06", "youth"): 2, ("2026-01-07", "youth"): 4}
    delete_rows(engine, "usage", DeleteCriteria(source=str(b)), actor="test")
    delete_rows(engine, "usage", DeleteCriteria(source=str(a)), actor="test")
    assert load_usage(engine).empty
    with engine.connect() as conn:
        for table in (tables.usage_sources, tables.usage_contributions):
            assert conn.execute(select(func.count()).select_from(table)).scalar() == 0


def test_a_source_is_found_by_its_absolute_path_and_stored_only_as_a_hash(engine, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "a.csv", [("2026-01-05", "youth", 3)])
    ingest_file(engine, Path("a.csv"), Kind.usage)
    delete_rows(engine, "usage", DeleteCriteria(source=str(tmp_path / "a.csv")), actor="cli:someone")
    assert load_usage(engine).empty
    with engine.connect() as conn:
        keys = set(conn.execute(select(tables.ingest_batches.c.source_key)).scalars())
    assert keys == {source_key(str(tmp_path / "a.csv"))}
    [entry] = _audit(engine)
    assert entry["criteria"] == {"source": source_key("a.csv")} and "a.csv" not in str(entry)
    assert (entry["actor"], entry["kind"], entry["rows"], entry["amount"]) == ("cli:someone", "usage", 1, 3)


def test_deleting_one_ingest_by_its_id_and_a_date_range_within_a_source(engine, tmp_path: Path) -> None:
    first = ingest_frame(engine, pd.DataFrame({"date": ["2026-01-05", "2026-01-06"], "service": "tax",
                                               "segment": "youth", "count": [1, 2]}), Kind.usage)
    second = ingest_frame(engine, pd.DataFrame({"date": ["2026-01-05", "2026-01-06"], "service": "tax",
                                                "segment": "youth", "count": [10, 20]}), Kind.usage)
    delete_rows(engine, "usage", DeleteCriteria(id=second.batch_id, after=pd.Timestamp("2026-01-05").date()), "t")
    assert _days(engine) == {("2026-01-05", "youth"): 11, ("2026-01-06", "youth"): 2}
    delete_rows(engine, "usage", DeleteCriteria(id=first.batch_id), "t")
    assert _days(engine) == {("2026-01-05", "youth"): 10}


def test_rows_that_poison_refresh_can_be_removed_by_date(engine) -> None:
    # Stored by the previous release (no provenance): a day in 1677 breaks every refresh.
    with engine.begin() as conn:
        conn.execute(insert(tables.usage), [
            {"date": pd.Timestamp("1677-09-22").date(), "service": "tax", "segment": "youth", "region": "all",
             "count": 1},
            {"date": pd.Timestamp("2100-01-01").date(), "service": "tax", "segment": "youth", "region": "all",
             "count": 1}])
    ingest_frame(engine, pd.DataFrame({"date": ["2026-01-05"], "service": "tax", "segment": "youth"}), Kind.usage)
    with pytest.raises((OverflowError, ValueError)):
        series_frame(load_usage(engine))
    first = delete_rows(engine, "usage", DeleteCriteria(before=pd.Timestamp("2000-01-01").date()), "t")
    second = delete_rows(engine, "usage", DeleteCriteria(after=pd.Timestamp("2027-01-01").date()), "t")
    assert (first.rows, second.rows) == (1, 1)
    assert series_frame(load_usage(engine))["y"].sum() == 1


def test_nothing_is_deleted_without_a_criterion(engine) -> None:
    ingest_frame(engine, pd.DataFrame({"date": ["2026-01-05"], "service": "tax", "segment": "youth"}), Kind.usage)
    with pytest.raises(NoCriteriaError):
        delete_rows(engine, "usage", DeleteCriteria(), "t")
    assert len(load_usage(engine)) == 1 and _audit(engine) == []


def test_feedback_by_id_source_and_dates(engine, tmp_path: Path) -> None:
    path = tmp_path / "fb.csv"
    pd.DataFrame({"id": ["a", "b", "c"], "created_at": ["2026-01-04T23:00:00", "2026-01-05T10:00:00", "2026-01-06"],
                  "text": ["Очередь", "Запись", "Справка"]}).to_csv(path, index=False)
    ingest_file(engine, path, Kind.feedback)
    ingest_frame(engine, pd.DataFrame({"id": ["d"], "created_at": ["2026-01-05"], "text": ["Другое"]}),
                 Kind.feedback)
    assert delete_rows(engine, "feedback", DeleteCriteria(id="b"), "t").rows == 1
    assert delete_rows(engine, "feedback", DeleteCriteria(before=pd.Timestamp("2026-01-05").date()), "t").rows == 1
    assert delete_rows(engine, "feedback", DeleteCriteria(source=str(path)), "t").rows == 1
    assert load_feedback(engine)["id"].tolist() == ["d"]
    assert [e["rows"] for e in _audit(engine)] == [1, 1, 1]


def test_the_cli_deletes_audits_and_queues_a_refresh(settings: Settings, engine, tmp_path: Path) -> None:
    a = _write(tmp_path / "a.csv", [("2026-01-05", "youth", 3), ("2026-01-06", "youth", 2)])
    assert CliRunner().invoke(cli, ["ingest", "usage", str(a)]).exit_code == 0
    result = CliRunner().invoke(cli, ["delete", "usage", "--source", str(a)])
    assert result.exit_code == 0, result.output
    assert "2 rows deleted (5 requests subtracted)" in result.output and "refresh" in result.output
    assert load_usage(engine).empty
    with engine.connect() as conn:
        assert conn.execute(select(tables.jobs.c.kind).where(tables.jobs.c.state == "queued")).scalar() == "refresh"
    refused = CliRunner().invoke(cli, ["delete", "usage"])
    assert refused.exit_code == 1 and "at least one of --source, --before, --after, --id" in refused.output
    bad_day = CliRunner().invoke(cli, ["delete", "feedback", "--before", "yesterday"])
    assert bad_day.exit_code == 1 and "--before: 'yesterday' is not a date" in bad_day.output


def test_the_admin_api_deletes_and_other_roles_may_not(settings: Settings, engine) -> None:
    client = TestClient(create_app(settings))
    posted = client.post("/v1/usage", headers={"Authorization": "Bearer ingest-key"}, json=[
        {"date": "2026-01-05", "service": "tax", "segment": "youth", "count": 4}]).json()
    assert posted["batch"]
    assert client.delete("/v1/usage", params={"id": posted["batch"]},
                         headers={"Authorization": "Bearer ingest-key"}).status_code == 403
    assert client.delete("/v1/usage", headers=ADMIN).status_code == 400
    assert client.delete("/v1/usage", params={"before": "not-a-day"}, headers=ADMIN).status_code == 422
    answer = client.delete("/v1/usage", params={"id": posted["batch"]}, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["rows"], body["amount"]) == (1, 4) and body["refresh_job"]
    assert load_usage(engine).empty
    [entry] = _audit(engine)
    assert entry["actor"].startswith("api:admin:") and "admin-key" not in entry["actor"]
