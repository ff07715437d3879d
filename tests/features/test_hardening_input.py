"""Bad input stores nothing wrong (issue 11, findings 1, 2, 3, 6 and 7 on the input side): each test feeds what
broke the previous release and checks that good rows land, bad rows are refused with a reason, nothing is lost."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

import store.engine as store_engine
from api.app import create_app
from api.routes.ingest import rows_frame
from features.contract import InputLimits, Kind
from features.ingest import ingest_frame
from features.readers import read_table
from features.series import series_frame
from features.validation import validate_frame
from needcast.cli import app as cli
from needcast.settings import Settings
from store import tables
from store.engine import get_engine
from store.reads import load_feedback, load_usage

INGEST = {"Authorization": "Bearer ingest-key"}
TODAY = date.today()


@pytest.fixture
def engine(settings: Settings):
    return get_engine(settings.db_url)


@pytest.fixture
def client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings))


def _usage(**overrides) -> dict:
    return {"date": "2026-01-05", "service": "passport_issue", "segment": "youth", "region": "center", "count": 3,
            **overrides}


def _stored_total(engine) -> float:
    return float(load_usage(engine)["count"].sum())


def _reasons(body: dict) -> dict[int, list[str]]:
    return {r["index"]: [f"{e['field']}: {e['message']}" for e in r["errors"]] for r in body["rejected"]}


# Finding 1: counts that overflowed to -9223372036854775808.

@pytest.mark.parametrize("count", [1e30, 2**63, 2**62, 10**9 + 1, -1, "1e30", "9223372036854775808"])
def test_a_count_beyond_the_limit_is_refused_over_http(client: TestClient, engine, count) -> None:
    body = client.post("/v1/usage", headers=INGEST, json=[_usage(count=count), _usage(date="2026-01-06")]).json()
    assert body["accepted"] == 1
    assert list(_reasons(body)) == [0] and "count" in _reasons(body)[0][0]
    usage = load_usage(engine)
    assert usage["count"].tolist() == [3.0] and (usage["count"] >= 0).all()


def test_two_huge_counts_of_one_day_never_wrap(engine) -> None:
    frame = pd.DataFrame([_usage(count=2**62), _usage(count=2**62), _usage(count=10**9), _usage(count=10**9)])
    report = ingest_frame(engine, frame, Kind.usage)
    assert (report.accepted, report.rejected_count) == (2, 2)
    assert load_usage(engine)["count"].tolist() == [2e9]  # two rows at the limit add up, in 64 bits


def test_the_count_limit_is_configurable(engine) -> None:
    frame = pd.DataFrame([_usage(count=50), _usage(count=51, date="2026-01-06")])
    report = ingest_frame(engine, frame, Kind.usage, limits=InputLimits(max_count=50))
    assert report.accepted == 1 and "must be from 0 to 50" in report.rejected[0].errors[0].message


# Finding 2: dates that poisoned every refresh or moved `data_until`.

@pytest.mark.parametrize("day", ["1677-09-22", "2262-04-11", "2100-01-01", "1999-12-31",
                                 (TODAY + timedelta(days=2)).isoformat(), "3000-01-01"])
def test_a_usage_date_outside_the_window_is_refused(client: TestClient, engine, day: str) -> None:
    body = client.post("/v1/usage", headers=INGEST, json=[_usage(date=day), _usage()]).json()
    assert body["accepted"] == 1 and _reasons(body)[0][0].startswith("date: ")
    usage = load_usage(engine)
    assert usage["date"].tolist() == [pd.Timestamp("2026-01-05")]
    series_frame(usage)  # what refresh builds first: it used to raise OverflowError


def test_tomorrow_is_accepted_and_the_window_is_configurable(engine) -> None:
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    assert ingest_frame(engine, pd.DataFrame([_usage(date=tomorrow)]), Kind.usage).accepted == 1
    limits = InputLimits(min_date=date(2020, 1, 1), days_ahead=0)
    report = ingest_frame(engine, pd.DataFrame([_usage(date="2019-12-31"), _usage(date=tomorrow, count=1)]),
                          Kind.usage, limits=limits)
    assert report.accepted == 0 and [e.field for r in report.rejected for e in r.errors] == ["date", "date"]


def test_feedback_from_the_future_is_refused(client: TestClient, engine) -> None:
    rows = [{"id": "far", "created_at": "2200-01-01T10:00:00", "text": "Очередь в МФЦ"},
            {"id": "ok", "created_at": "2026-01-05T10:00:00", "text": "Очередь в МФЦ"}]
    body = client.post("/v1/feedback", headers={"Authorization": "Bearer ingest-key"}, json=rows).json()
    assert body["accepted"] == 1 and _reasons(body)[0][0].startswith("created_at: after")
    assert load_feedback(engine)["id"].tolist() == ["ok"]


# Finding 3 (input side): texts kept whole in quarantine, unbounded ids, new series without end.

def test_a_huge_rejected_text_is_quarantined_as_an_excerpt_and_hash(engine, settings: Settings) -> None:
    text = "Позвоните +7 912 345-67-89. " + "очень длинный текст " * 100_000  # ~2 MB
    frame = pd.DataFrame([{"id": "big", "created_at": "2026-01-05", "text": text}])
    report = ingest_frame(engine, frame, Kind.feedback)
    assert report.accepted == 0 and "longer than 5000" in report.rejected[0].errors[0].message
    with engine.connect() as conn:
        stored = conn.execute(select(tables.quarantine.c.row)).scalar_one()
    kept = stored["text"]
    assert kept["chars"] == len(text) and kept["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert len(kept["excerpt"]) <= 201 and "912" not in kept["excerpt"]
    assert len(json.dumps(stored, ensure_ascii=False)) < 1000
    assert (settings.home / "needcast.db").stat().st_size < 1_000_000


def test_ids_longer_than_their_column_or_with_control_characters_are_refused(engine) -> None:
    frame = pd.DataFrame([_usage(service="s" * 201), _usage(segment="a\x1fb"), _usage(region="bad\x00"),
                          _usage()])
    report = ingest_frame(engine, frame, Kind.usage)
    assert report.accepted == 1
    assert [(r.index, r.errors[0].field) for r in report.rejected] == [(0, "service"), (1, "segment"), (2, "region")]


def test_new_series_are_capped_per_batch_and_per_day(engine) -> None:
    limits = InputLimits(new_series_per_batch=3, new_series_per_day=5)
    first = pd.DataFrame([_usage(service=f"s{i}") for i in range(5)] + [_usage(service="s0", date="2026-01-06")])
    report = ingest_frame(engine, first, Kind.usage, limits=limits)
    assert report.accepted == 4  # s0..s2 open, s0 again is a known series
    assert [r.index for r in report.rejected] == [3, 4]
    assert "NEEDCAST_MAX_NEW_SERIES_PER_BATCH" in report.rejected[0].errors[0].message
    second = pd.DataFrame([_usage(service=f"t{i}") for i in range(3)] + [_usage(service="s1", date="2026-01-07")])
    report = ingest_frame(engine, second, Kind.usage, limits=limits)
    assert report.accepted == 3 and [r.index for r in report.rejected] == [2]  # 2 of the day's 5 were left
    assert "NEEDCAST_MAX_NEW_SERIES_PER_DAY" in report.rejected[0].errors[0].message
    assert load_usage(engine)[["service"]].drop_duplicates().shape[0] == 5


def test_an_operators_file_is_not_capped_unless_asked(engine, settings: Settings, tmp_path: Path) -> None:
    rows = pd.DataFrame([_usage(service=f"svc{i}") for i in range(settings.max_new_series_per_batch + 5)])
    rows.to_csv(tmp_path / "bulk.csv", index=False)
    result = CliRunner().invoke(cli, ["ingest", "usage", str(tmp_path / "bulk.csv")])
    assert result.exit_code == 0, result.output
    assert load_usage(engine)["service"].nunique() == len(rows)
    more = pd.DataFrame([_usage(service=f"new{i}") for i in range(5)])
    more.to_csv(tmp_path / "more.csv", index=False)
    result = CliRunner().invoke(cli, ["ingest", "usage", str(tmp_path / "more.csv"), "--max-new-series", "2"])
    assert "NEEDCAST_MAX_NEW_SERIES_PER_BATCH" in result.output or "new series" in result.output
    assert load_usage(engine)["service"].nunique() == len(rows) + 2


def test_the_series_cap_reaches_the_http_answer(client: TestClient, engine, settings: Settings) -> None:
    rows = [_usage(service=f"svc{i}") for i in range(settings.max_new_series_per_batch + 2)]
    body = client.post("/v1/usage", headers=INGEST, json=rows).json()
    assert body["accepted"] == settings.max_new_series_per_batch and len(body["rejected"]) == 2
    assert "new series" in body["rejected"][0]["errors"][0]["message"]


# Finding 7 (input side): coerced JSON types, a cut CSV, a file of rejected rows exiting 0.

def test_wrong_json_types_are_refused_not_coerced(client: TestClient, engine) -> None:
    rows = [_usage(segment={"a": 1}), _usage(service=["x"]), _usage(count=True), _usage(count=2.5),
            _usage(date=20260105), _usage(region=1.5), _usage(count=2.0, region=77)]
    body = client.post("/v1/usage", headers=INGEST, json=rows).json()
    reasons = _reasons(body)
    assert reasons[0] == ["segment: must be a string, not object"]
    assert reasons[1] == ["service: must be a string, not array"]
    assert reasons[2] == ["count: must be a whole number, not boolean"]
    assert reasons[3] == ["count: not a whole number"]
    assert reasons[4] == ["date: must be an ISO 8601 date string, not number"]
    assert reasons[5] == ["region: must be a string, not number"]
    assert body["accepted"] == 1  # a whole 2.0 is 2; an integer id is its digits
    assert load_usage(engine)[["region", "count"]].values.tolist() == [["77", 2.0]]


def test_a_nan_count_is_refused_not_read_as_one(client: TestClient, engine) -> None:
    body = '[{"date": "2026-01-05", "service": "a", "segment": "b", "count": NaN}, ' \
           '{"date": "2026-01-05", "service": "a", "segment": "c"}]'
    answer = client.post("/v1/usage", headers={**INGEST, "Content-Type": "application/json"}, content=body)
    assert answer.status_code == 200, answer.text
    assert _reasons(answer.json()) == {0: ["count: must be a whole number, not NaN"]}
    usage = load_usage(engine)
    assert usage[["segment", "count"]].values.tolist() == [["c", 1.0]]  # an absent count is still 1


def test_json_rows_keep_absent_apart_from_sent() -> None:
    frame = rows_frame([{"date": "2026-01-05", "count": float("nan")}, {"service": "a"}], Kind.usage)
    assert frame["count"].tolist()[1] is None and frame["date"].tolist()[1] is None
    validated = validate_frame(frame, Kind.usage, nan_is_blank=False)
    assert {e.message for r in validated.rejected for e in r.errors if e.field == "count"} == {
        "must be a whole number, not NaN"}


@pytest.mark.parametrize("tail", ["2026-01-06,passport_issue,youth,center", "2026-01-06,passport_issue,youth,center,"])
def test_a_csv_cut_at_a_field_boundary_rejects_its_last_row(settings: Settings, engine, tmp_path: Path,
                                                            tail: str) -> None:
    path = tmp_path / "cut.csv"
    path.write_text("date,service,segment,region,count\n2026-01-05,passport_issue,youth,center,7\n" + tail)
    result = CliRunner().invoke(cli, ["ingest", "usage", str(path)])
    assert result.exit_code == 0, result.output
    assert "row 2 (line 3), column count: the file ends" in result.output
    assert load_usage(engine)["count"].tolist() == [7.0]  # not 7 + a defaulted 1


def test_a_complete_csv_without_a_final_line_break_is_read_whole(engine, tmp_path: Path) -> None:
    path = tmp_path / "whole.csv"
    path.write_text("date,service,segment,region,count\n2026-01-05,a,b,c,7\n2026-01-06,a,b,c,8")
    assert ingest_frame(engine, read_table(path), Kind.usage).accepted == 2


def test_a_file_whose_rows_are_all_rejected_exits_non_zero(settings: Settings, engine, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("date,service,segment,count\n1677-09-22,a,b,1\n2026-01-05,a,b,-4\n")
    result = CliRunner().invoke(cli, ["ingest", "usage", str(path)])
    assert result.exit_code == 1
    assert "all 2 rows rejected, nothing stored" in result.output
    assert load_usage(engine).empty


# Finding 6 (input side): a second ingest during a long one died with "database is locked"; kill -9.

def test_an_ingest_waits_for_a_writer_holding_the_lock_past_the_busy_timeout(
        settings: Settings, engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_engine, "SQLITE_BUSY_TIMEOUT_MS", 200)
    engine.dispose()  # new connections take the short timeout
    path = settings.home / "needcast.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO services (service, name, handle_minutes) VALUES ('x', 'X', 1)")
    release = threading.Timer(1.5, holder.execute, ["COMMIT"])
    release.start()
    try:
        report = ingest_frame(engine, pd.DataFrame([_usage()]), Kind.usage)
    finally:
        release.join()
        holder.close()
    assert report.accepted == 1 and _stored_total(engine) == 3


def test_two_ingests_at_once_both_land(settings: Settings, engine, tmp_path: Path) -> None:
    files = []
    youth = pd.DataFrame({"date": pd.date_range("2023-01-01", periods=1000).strftime("%Y-%m-%d"),
                          "service": "passport_issue", "segment": "youth", "count": 2})
    # The second file repeats 500 rows of the first: they race for the same new row hashes.
    for name, frame in (("a.csv", youth), ("b.csv", pd.concat([youth.assign(segment="pensioners"), youth[:500]]))):
        frame.to_csv(tmp_path / name, index=False)
        files.append(tmp_path / name)
    env = {**os.environ, "NEEDCAST_HOME": str(settings.home)}
    procs = [subprocess.Popen([sys.executable, "-m", "needcast", "ingest", "usage", str(f)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for f in files]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    usage = load_usage(engine)
    assert usage.groupby("segment")["count"].sum().to_dict() == {"pensioners": 2000.0, "youth": 2000.0}


def test_kill_9_during_an_ingest_leaves_nothing_partial(settings: Settings, engine, tmp_path: Path) -> None:
    rows = 200_000
    frame = pd.DataFrame({"date": pd.Timestamp("2020-01-01") + pd.to_timedelta(pd.RangeIndex(rows) % 2000, "D"),
                          "service": "svc" + (pd.RangeIndex(rows) % 50).astype(str), "segment": "youth",
                          "count": 1})
    path = tmp_path / "big.csv"
    frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
    env = {**os.environ, "NEEDCAST_HOME": str(settings.home)}
    wal = Path(f"{settings.home / 'needcast.db'}-wal")
    start = wal.stat().st_size if wal.exists() else 0
    proc = subprocess.Popen([sys.executable, "-m", "needcast", "ingest", "usage", str(path)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if wal.exists() and wal.stat().st_size > start + 256 * 1024:  # the transaction spills pages: mid-write
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the ingest finished before it could be killed: make the file bigger"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    engine.dispose()
    with engine.connect() as conn:
        for table in (tables.usage, tables.usage_sources, tables.usage_contributions, tables.ingest_batches):
            assert conn.execute(select(func.count()).select_from(table)).scalar() == 0, table.name
    again = subprocess.run([sys.executable, "-m", "needcast", "ingest", "usage", str(path)], env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert _stored_total(engine) == rows


def test_a_request_that_cannot_get_the_lock_answers_503_and_stores_nothing(
        settings: Settings, client: TestClient, engine, monkeypatch: pytest.MonkeyPatch) -> None:
    import api.routes.ingest as routes

    monkeypatch.setattr(routes, "LOCK_WAIT_S", 0.3)
    holder = sqlite3.connect(settings.home / "needcast.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        answer = client.post("/v1/usage", headers=INGEST, json=[_usage()])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert "locked by another writer" in answer.json()["detail"]
    assert load_usage(engine).empty
