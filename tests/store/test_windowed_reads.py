"""Windowed reads: a date window and a subset of series come back exactly, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from sqlalchemy import Engine

from features.contract import SERIES_KEY, Kind
from features.ingest import ingest_frame
from store.engine import get_engine
from store.reads import load_feedback, load_usage
from tests.conftest import make_usage, skip_unless_required
from tests.postgres import postgres_server


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A database holding `usage()` and `feedback()`."""
    if request.param == "sqlite":
        engine = get_engine(f"sqlite:///{tmp_path_factory.mktemp('reads')}/t.db")
        _fill(engine)
        yield engine
        return
    with postgres_server() as url:
        if url is None:
            skip_unless_required("PostgreSQL is not installed (initdb/pg_ctl not found); .ci/run installs it")
        engine = get_engine(url)
        _fill(engine)
        yield engine


def usage() -> pd.DataFrame:
    frame = make_usage(days=60, services=3, segments=2, regions=("north", "south"))
    return frame[frame["count"] > 0].reset_index(drop=True)  # zeros dropped, as in real exports


def feedback() -> pd.DataFrame:
    return pd.DataFrame({
        "id": ["a", "b", "c", "d"],
        "created_at": ["2026-06-01T00:00:00", "2026-06-02T23:59:59", "2026-06-03T08:00:00", "2026-06-04T12:00:00"],
        "text": ['"quoted", with a comma', "line\nbreak", "short", "plain"],
        "rating": ["1", "", "5", "3"],
        "segment": ["youth", None, "youth", "pensioners"],
    })


def _fill(engine: Engine) -> None:
    ingest_frame(engine, usage().astype({"count": str}), Kind.usage)
    ingest_frame(engine, feedback(), Kind.feedback)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["date", *SERIES_KEY]).reset_index(drop=True)


def test_the_whole_history_comes_back_with_its_types(engine: Engine) -> None:
    expected = usage().assign(count=lambda f: f["count"].astype(float))
    got = load_usage(engine)
    assert got.dtypes.astype(str).to_dict() == {"date": "datetime64[ns]", "service": "object",
                                                "segment": "object", "region": "object", "count": "float64"}
    pd.testing.assert_frame_equal(_sorted(got), _sorted(expected))


@pytest.mark.parametrize(("since", "until"), [("2026-06-01", "2026-06-10"), (None, "2026-05-03"),
                                              ("2026-06-29", None), ("2027-01-01", None)])
def test_a_date_window_is_inclusive(engine: Engine, since: str | None, until: str | None) -> None:
    expected = usage()
    if since:
        expected = expected[expected["date"] >= since]
    if until:
        expected = expected[expected["date"] <= until]
    got = load_usage(engine, since=since, until=until)
    assert len(got) == len(expected)
    pd.testing.assert_frame_equal(_sorted(got), _sorted(expected.assign(count=expected["count"].astype(float))))


def test_a_subset_of_series_in_a_window(engine: Engine) -> None:
    keys = [("svc0", "seg1", "north"), ("svc2", "seg0", "south"), ("svc9", "seg0", "south")]  # the last: none
    expected = usage().merge(pd.DataFrame(keys, columns=SERIES_KEY))
    expected = expected[expected["date"] >= "2026-06-15"]
    for series in (keys, pd.DataFrame(keys, columns=SERIES_KEY)):
        got = load_usage(engine, since="2026-06-15", series=series)
        assert set(map(tuple, got[SERIES_KEY].to_numpy())) == set(keys[:2])
        pd.testing.assert_frame_equal(_sorted(got), _sorted(expected.assign(count=expected["count"].astype(float))))
    assert load_usage(engine, series=[]).empty


def test_feedback_window_keeps_texts_and_nulls(engine: Engine) -> None:
    got = load_feedback(engine, ["id", "created_at", "text", "rating", "segment"], since="2026-06-02",
                        until="2026-06-03").sort_values("id").reset_index(drop=True)
    assert got["id"].tolist() == ["b", "c"]  # the whole last day, to 23:59:59
    assert got["text"].tolist() == ["line\nbreak", "short"]
    assert got["rating"].isna().tolist() == [True, False] and got["rating"].dtype == float
    assert got["segment"].tolist() == [None, "youth"]
    everything = load_feedback(engine).set_index("id")
    assert everything.loc["a", "text"] == '"quoted", with a comma'
    assert str(everything["created_at"].dtype) == "datetime64[ns]"
