"""Streaming ingest: tiny chunks store exactly what one chunk stores (SQLite and PostgreSQL); re-ingest adds nothing."""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine, func, make_url, select, text

from features.contract import Kind
from features.ingest import IngestReport, ingest_file, ingest_frame
from features.readers import iter_chunks, read_table
from store import tables
from store.deletes import DeleteCriteria, delete_rows
from store.engine import get_engine
from store.reads import load_feedback, load_usage
from tests.conftest import skip_unless_required
from tests.postgres import postgres_server

FORMATS = [".csv", ".csv.gz", ".parquet", ".jsonl"]
_names = itertools.count()


@pytest.fixture(scope="module")
def pg_admin_url() -> Iterator[str]:
    with postgres_server() as url:
        if url is None:
            skip_unless_required("PostgreSQL is not installed (initdb/pg_ctl not found); .ci/run installs it")
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def new_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Engine]:
    """Makes empty databases of one dialect."""
    if request.param == "sqlite":
        return lambda: get_engine(f"sqlite:///{tmp_path}/db{next(_names)}.sqlite")
    admin_url = request.getfixturevalue("pg_admin_url")

    def make() -> Engine:
        name = f"streaming_{next(_names)}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        return get_engine(make_url(admin_url).set(database=name).render_as_string(hide_password=False))

    return make


def usage_rows() -> pd.DataFrame:
    """Usage with what chunking could get wrong: equal rows across chunk borders, bad rows, two days of a key."""
    rows = [
        ("2026-01-05", "passport", "youth", "center", "3"),
        ("2026-01-05", "passport", "youth", "center", "1"),
        ("2026-01-05", "passport", "youth", "center", "1"),  # equal rows: each one counts
        ("bad-date", "passport", "youth", "center", "1"),
        ("2026-01-05T12:00:00", "passport", "youth", "center", "1"),
        ("2026-01-06", "passport", "pensioners", "", "4"),
        ("2026-01-06", "", "pensioners", "north", "4"),
        ("2026-01-05", "passport", "youth", "center", "1"),
        ("2026-01-07", "passport", "youth", "center", "-1"),
        ("2026-01-06", "passport", "pensioners", "", "4"),
        ("2026-01-07", "tax", "business", "north", ""),
        ("2026-01-07", "tax", "business", "north", "2.5"),
        ("2026-01-08", "tax", "business", "north", "7"),
    ]
    return pd.DataFrame(rows, columns=["date", "service", "segment", "region", "count"])


def feedback_rows() -> pd.DataFrame:
    rows = [
        ("f1", "2026-01-05T09:00:00", "Позвоните мне: +7 912 345-67-89", "2"),
        ("f2", "2026-01-05", "Очередь в МФЦ, ждал два часа", "1"),
        ("f1", "2026-01-06", "the same id again", "5"),
        ("", "2026-01-06", "Без идентификатора", "4"),
        ("", "2026-01-06", "Без идентификатора", "4"),  # the same content without an id: one row
        ("f3", "not a date", "x", "3"),
        ("f4", "2026-01-07", "", "3"),
        ("f5", "2026-01-07", "Спасибо, всё быстро", "9"),
        ("f2", "2026-01-08", "f2 again, in a later chunk", ""),
        ("f6", "2026-01-08", "Запись к врачу невозможна", ""),
    ]
    return pd.DataFrame(rows, columns=["id", "created_at", "text", "rating"])


def write(frame: pd.DataFrame, path: Path) -> Path:
    if path.name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    elif path.name.endswith(".jsonl"):
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    elif path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            frame.to_csv(f, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def stored(engine: Engine, kind: Kind) -> tuple[pd.DataFrame, list[tuple]]:
    """What a database holds for `kind`: the rows (sorted) and the quarantine (row number, errors, row)."""
    frame = load_usage(engine) if kind == Kind.usage else load_feedback(engine).drop(columns="batch_id",
                                                                                     errors="ignore")
    frame = frame.sort_values(list(frame.columns[:2])).reset_index(drop=True)
    q = tables.quarantine
    with engine.connect() as conn:
        quarantined = conn.execute(select(q.c.row_number, q.c.errors, q.c.row).order_by(q.c.row_number)).all()
    return frame, [(n, e, sorted(r.items())) for n, e, r in quarantined]


def summary(report: IngestReport) -> tuple:
    return (report.received, report.accepted, report.duplicates, report.rejected_count,
            [(r.index, [(e.field, e.message) for e in r.errors]) for r in report.rejected])


@pytest.mark.parametrize("suffix", FORMATS)
@pytest.mark.parametrize("kind", [Kind.usage, Kind.feedback])
def test_tiny_chunks_store_exactly_what_one_chunk_stores(new_engine, tmp_path: Path, suffix: str,
                                                         kind: Kind) -> None:
    path = write(usage_rows() if kind == Kind.usage else feedback_rows(), tmp_path / f"in{suffix}")
    rows = 13 if kind == Kind.usage else 10
    assert [len(c.frame) for c in iter_chunks(path, rows=3)] == [3] * (rows // 3) + [rows % 3]
    whole, chunked = new_engine(), new_engine()
    one = ingest_frame(whole, read_table(path), kind, source="in")
    tiny = ingest_file(chunked, path, kind, source="in", chunk_rows=3)
    assert summary(tiny) == summary(one)
    assert (one.accepted, one.duplicates, one.rejected_count) == ((9, 0, 4) if kind == Kind.usage else (4, 3, 3))
    expected = stored(whole, kind)
    pd.testing.assert_frame_equal(stored(chunked, kind)[0], expected[0])
    assert stored(chunked, kind)[1] == expected[1]

    again = ingest_file(chunked, path, kind, source="in", chunk_rows=2)
    assert (again.accepted, again.duplicates) == (0, one.accepted + one.duplicates)
    pd.testing.assert_frame_equal(stored(chunked, kind)[0], expected[0])
    assert stored(chunked, kind)[1] == expected[1]


def test_usage_counts_add_up_and_bad_rows_keep_their_file_numbers(new_engine, tmp_path: Path) -> None:
    engine = new_engine()
    report = ingest_file(engine, write(usage_rows(), tmp_path / "u.csv"), Kind.usage, chunk_rows=2)
    assert {(r.index + 1, e.field) for r in report.rejected for e in r.errors} == {
        (4, "date"), (7, "service"), (9, "count"), (12, "count")}
    usage = load_usage(engine).set_index(["date", "service", "segment", "region"])["count"]
    assert usage[(pd.Timestamp("2026-01-05"), "passport", "youth", "center")] == 3 + 1 + 1 + 1 + 1
    assert usage[(pd.Timestamp("2026-01-06"), "passport", "pensioners", "all")] == 8
    assert usage[(pd.Timestamp("2026-01-07"), "tax", "business", "north")] == 1  # a blank count is one request
    # Four equal one-count rows of that day are stored; an export with five of them adds exactly one.
    more = usage_rows().iloc[[1] * 5]
    added = ingest_file(engine, write(more, tmp_path / "more.csv"), Kind.usage, chunk_rows=2)
    assert (added.accepted, added.duplicates) == (1, 4)
    usage = load_usage(engine).set_index(["date", "service", "segment", "region"])["count"]
    assert usage[(pd.Timestamp("2026-01-05"), "passport", "youth", "center")] == 8


def test_each_ingest_records_what_it_added_and_deleting_it_takes_back_exactly_that(new_engine,
                                                                                  tmp_path: Path) -> None:
    """A second file that repeats part of the first and splits its days across chunks (the writes' paths for
    repeated rows, days already stored and days split across chunks) adds only its new rows, each ingest's
    contributions sum to what it added, and deleting the second ingest restores the first one's counts."""
    engine = new_engine()
    first = usage_rows().iloc[[0, 1, 5, 12]]
    later = pd.DataFrame([("2026-01-08", "tax", "business", "north", "2"),  # a stored day, a new row
                          ("2026-01-09", "tax", "business", "north", "5"),
                          ("2026-01-09", "passport", "youth", "center", "6")],
                         columns=first.columns)
    second = pd.concat([usage_rows().iloc[[0, 1]], later, usage_rows().iloc[[5, 12]], later.iloc[[1]]])
    one = ingest_file(engine, write(first, tmp_path / "one.csv"), Kind.usage, chunk_rows=2)
    before = load_usage(engine)
    two = ingest_file(engine, write(second, tmp_path / "two.csv"), Kind.usage, chunk_rows=2)
    assert (two.accepted, two.duplicates) == (4, 4)
    key = ["date", "service", "segment", "region"]
    usage = load_usage(engine).set_index(key)["count"]
    assert usage[(pd.Timestamp("2026-01-08"), "tax", "business", "north")] == 7 + 2
    assert usage[(pd.Timestamp("2026-01-09"), "tax", "business", "north")] == 5 + 5
    c = tables.usage_contributions
    with engine.connect() as conn:
        added = dict(conn.execute(select(c.c.batch_id, func.sum(c.c.count)).group_by(c.c.batch_id)).all())
    assert added == {one.batch_id: 3 + 1 + 4 + 7, two.batch_id: 2 + 5 + 6 + 5}
    delete_rows(engine, "usage", DeleteCriteria(id=two.batch_id), actor="test")
    after = load_usage(engine).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(after, before.sort_values(key).reset_index(drop=True))


def test_feedback_chunks_redact_and_keep_the_first_row_of_an_id(new_engine, tmp_path: Path) -> None:
    engine = new_engine()
    report = ingest_file(engine, write(feedback_rows(), tmp_path / "f.jsonl"), Kind.feedback, chunk_rows=2)
    assert (report.accepted, report.duplicates) == (4, 3)
    texts = load_feedback(engine).set_index("id")["text"]
    assert "912" not in texts["f1"] and "[ТЕЛЕФОН]" in texts["f1"]
    assert texts["f2"].startswith("Очередь")


def test_a_missing_required_column_stores_nothing(tmp_path: Path) -> None:
    engine = get_engine(f"sqlite:///{tmp_path}/t.db")
    path = write(usage_rows().drop(columns="segment"), tmp_path / "u.csv")
    with pytest.raises(ValueError, match="segment"):
        ingest_file(engine, path, Kind.usage, chunk_rows=2)
    assert load_usage(engine).empty


def test_progress_reaches_the_whole_file(tmp_path: Path) -> None:
    engine = get_engine(f"sqlite:///{tmp_path}/t.db")
    seen: list[tuple[int, int]] = []
    ingest_file(engine, write(usage_rows(), tmp_path / "u.parquet"), Kind.usage, chunk_rows=4,
                progress=lambda done, total: seen.append((done, total)))
    assert [done for done, _ in seen] == [4, 8, 12, 13]
    assert seen[-1] == (13, 13)


def test_the_report_keeps_the_first_rejected_rows_and_counts_all(tmp_path: Path) -> None:
    engine = get_engine(f"sqlite:///{tmp_path}/t.db")
    report = ingest_file(engine, write(usage_rows(), tmp_path / "u.csv"), Kind.usage, chunk_rows=2,
                         keep_rejected=2)
    assert report.rejected_count == 4 and [r.index for r in report.rejected] == [3, 6]


def test_the_cli_streams_and_reports_rows_and_lines_of_the_file(settings, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from features import readers
    from needcast.cli import app

    monkeypatch.setattr(readers, "CHUNK_ROWS", 2)
    path = write(usage_rows(), tmp_path / "u.csv")
    result = CliRunner().invoke(app, ["ingest", "usage", str(path)])
    assert result.exit_code == 0, result.output
    for row, column in [(4, "date"), (7, "service"), (9, "count"), (12, "count")]:
        assert f"{path}: row {row} (line {row + 1}), column {column}:" in result.output
    assert "13 rows read, 9 accepted, 0 duplicates, 4 rejected" in result.output
    assert load_usage(get_engine(settings.db_url))["count"].sum() == 7 + 8 + 1 + 7
