"""Ingestion: good rows land, bad rows are quarantined with reasons, re-ingesting adds nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from features.contract import Kind
from features.errors import MissingColumnsError
from features.ingest import ingest_frame
from features.readers import read_table
from store import tables
from store.engine import get_engine
from store.reads import load_usage


@pytest.fixture
def engine(tmp_path: Path):
    return get_engine(f"sqlite:///{tmp_path}/t.db")


USAGE_CSV = """date,service,segment,region,count,extra
2026-01-05,passport_issue,youth,center,3,x
2026-01-05,passport_issue,youth,center,2,x
2026-01-05T10:30:00,passport_issue,youth,center,,x
2026-01-06,passport_issue,pensioners,,4,x
not-a-date,passport_issue,youth,center,1,x
2026-01-07,,youth,center,1,x
2026-01-07,passport_issue,youth,center,-2,x
2026-01-07,passport_issue,youth,center,1.5,x
"""


def test_usage_good_rows_land_and_bad_rows_are_quarantined(engine, tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(USAGE_CSV)
    report = ingest_frame(engine, read_table(path), Kind.usage, source=str(path))
    assert (report.received, report.accepted, report.duplicates) == (8, 4, 0)
    reasons = {(r.index + 1, e.field) for r in report.rejected for e in r.errors}
    assert reasons == {(5, "date"), (6, "service"), (7, "count"), (8, "count")}
    usage = load_usage(engine)
    day = usage[(usage["segment"] == "youth") & (usage["date"] == "2026-01-05")]
    assert day["count"].tolist() == [6.0]  # 3 + 2 + a missing count defaulting to 1
    assert usage.loc[usage["segment"] == "pensioners", "region"].tolist() == ["all"]
    with engine.connect() as conn:
        stored = conn.execute(select(tables.quarantine)).mappings().all()
    assert {(r["row_number"], r["errors"][0]["field"]) for r in stored} == reasons


def test_reingesting_the_same_file_changes_nothing(engine, tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(USAGE_CSV)
    ingest_frame(engine, read_table(path), Kind.usage, source=str(path))
    before = load_usage(engine)
    again = ingest_frame(engine, read_table(path), Kind.usage, source=str(path))
    assert (again.accepted, again.duplicates) == (0, 4)
    pd.testing.assert_frame_equal(load_usage(engine), before)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tables.quarantine)).scalar() == 4


def test_new_rows_for_a_stored_day_add_up(engine) -> None:
    first = pd.DataFrame({"date": ["2026-02-02"], "service": ["a"], "segment": ["b"], "count": ["2"]})
    second = pd.DataFrame({"date": ["2026-02-02", "2026-02-02"], "service": ["a", "a"], "segment": ["b", "b"],
                           "count": ["2", "5"]})
    ingest_frame(engine, first, Kind.usage)
    report = ingest_frame(engine, second, Kind.usage)
    # The first row of `second` equals the stored one: identical content is one row, not two.
    assert (report.accepted, report.duplicates) == (1, 1)
    assert load_usage(engine)["count"].tolist() == [7.0]


def test_missing_required_column_names_it_and_the_columns_found(engine) -> None:
    frame = pd.DataFrame({"date": ["2026-01-01"], "segment": ["youth"]})
    with pytest.raises(MissingColumnsError, match=r"service.*found: date, segment"):
        ingest_frame(engine, frame, Kind.usage, source="f.csv")


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet", ".jsonl"])
def test_every_format_reads_the_same_rows(engine, tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame({"date": ["2026-03-01", "2026-03-02"], "service": ["a", "a"],
                          "segment": ["b", "b"], "count": [1, 2]})
    path = tmp_path / f"usage{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_csv(path, index=False)
    report = ingest_frame(engine, read_table(path), Kind.usage)
    assert report.accepted == 2
    assert load_usage(engine)["count"].sum() == 3


def test_feedback_is_redacted_deduplicated_by_id_and_validated(engine) -> None:
    rows = pd.DataFrame({
        "id": ["a1", "a2", "a1", "a3", "a4"],
        "created_at": ["2026-01-01T09:00:00", "2026-01-02", "2026-01-01T09:00:00", "2026-01-02", "bad"],
        "text": ["Звоните мне: +7 912 345-67-89, почта ivan.petrov@mail.ru", "Очередь в МФЦ", "dup", "", "x"],
        "rating": ["2", "5", "2", "3", "9"],
        "segment": ["pensioners", "youth", "pensioners", "youth", "youth"],
    })
    report = ingest_frame(engine, rows, Kind.feedback)
    assert (report.accepted, report.duplicates) == (2, 1)
    assert {(r.index, e.field) for r in report.rejected for e in r.errors} == {
        (3, "text"), (4, "created_at"), (4, "rating")}
    with engine.connect() as conn:
        texts = dict(conn.execute(select(tables.feedback.c.id, tables.feedback.c.text)).all())
    assert "912" not in texts["a1"] and "mail.ru" not in texts["a1"]
    assert "[ТЕЛЕФОН]" in texts["a1"] and "[EMAIL]" in texts["a1"]
    again = ingest_frame(engine, rows, Kind.feedback)
    assert (again.accepted, again.duplicates) == (0, 3)


def test_services_catalogue_defaults_and_idempotence(engine) -> None:
    rows = pd.DataFrame({"service": ["passport_issue", "x"], "name": ["Выдача паспорта", ""],
                         "handle_minutes": ["", "abc"]})
    report = ingest_frame(engine, rows, Kind.services)
    assert report.accepted == 1 and len(report.rejected) == 1
    assert {e.field for e in report.rejected[0].errors} == {"name", "handle_minutes"}
    with engine.connect() as conn:
        assert conn.execute(select(tables.services.c.handle_minutes)).scalar() == 15.0
    assert ingest_frame(engine, rows, Kind.services).accepted == 0
