"""Registered events: validation with the field at fault, storage round trip, older databases, per-day features."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import JSON, Column, Date, Integer, MetaData, String, Table, create_engine, inspect

from features.demand_features import future_grid, with_exogenous
from features.event_features import EVENT_COLUMNS, event_features
from features.events import EventKind, InvalidEventError, add_event, parse_event, remove_event
from features.series import series_frame
from store.engine import get_engine, make_engine
from store.migrate import upgrade
from store.reads import load_events
from tests.conftest import make_usage


@pytest.mark.parametrize("kwargs,field,reason", [
    ({"end": "2026-01-31"}, "end", "2026-01-31 is before start 2026-02-01"),
    ({"start": "01.02.2026"}, "start", "not a date in ISO format"),
    ({"end": "2026-02-30"}, "end", "not a date in ISO format"),
    ({"name": "  "}, "name", "must not be empty"),
    ({"kind": "party"}, "kind", "not one of campaign, law_change"),
    ({"services": ["a", " "]}, "service", "an empty id"),
])
def test_invalid_events_name_the_field_and_reason(kwargs: dict, field: str, reason: str) -> None:
    given = {"name": "Рассылка", "start": "2026-02-01", "end": "2026-02-14", **kwargs}
    with pytest.raises(InvalidEventError, match=reason) as caught:
        parse_event(**given)
    assert caught.value.field == field


def test_events_are_stored_listed_and_removed(tmp_path: Path) -> None:
    engine = get_engine(f"sqlite:///{tmp_path}/db.sqlite")
    law = parse_event("Закон о едином пособии", date(2026, 3, 1), "2026-12-31", "law_change",
                      services=[" child_benefit ", "child_benefit"], segments=["families"])
    first = add_event(engine, law)
    add_event(engine, parse_event("Portal outage", "2026-01-10", "2026-01-10", regions=["north"]))
    events = load_events(engine)
    assert list(events["name"]) == ["Portal outage", "Закон о едином пособии"]  # earliest first
    stored = events.iloc[1]
    assert stored["kind"] == EventKind.law_change and stored["services"] == ["child_benefit"]
    assert stored["segments"] == ["families"] and stored["regions"] == []
    assert stored["start"] == pd.Timestamp("2026-03-01") and law.days == 306
    assert events.iloc[0]["regions"] == ["north"] and events.iloc[0]["services"] == []
    assert remove_event(engine, first) and not remove_event(engine, first)
    assert list(load_events(engine)["name"]) == ["Portal outage"]


def first_release_events(url: str) -> None:
    """The events table as the first release created it (no kind, regions, created_at), with one event."""
    old = Table("events", MetaData(), Column("id", Integer, primary_key=True), Column("name", String(300)),
                Column("start", Date, nullable=False), Column("end", Date, nullable=False),
                Column("services", JSON, nullable=False), Column("segments", JSON, nullable=False))
    engine = create_engine(url)
    old.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(old.insert().values(name="old", start=date(2025, 5, 1), end=date(2025, 5, 14), services=[],
                                         segments=["youth"]))
    engine.dispose()


def check_new_event_columns(url: str) -> None:
    """`needcast db upgrade` adds the new columns; old and new events read back alike."""
    upgrade(make_engine(url))
    engine = get_engine(url)
    assert {"kind", "regions", "created_at"} <= {c["name"] for c in inspect(engine).get_columns("events")}
    add_event(engine, parse_event("new", "2026-05-01", "2026-05-02", regions=["north"]))
    events = load_events(engine)
    assert list(events["kind"]) == ["other", "campaign"] and events["regions"].tolist() == [[], ["north"]]
    assert events.iloc[0]["segments"] == ["youth"]


def test_an_older_database_gets_the_new_event_columns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.sqlite"
    first_release_events(url)
    check_new_event_columns(url)


def _series(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["service", "segment", "region", "ds"])
    return frame.assign(ds=pd.to_datetime(frame["ds"]), unique_id=frame.index.astype(str))


def _events(*rows: tuple[str, str, list, list]) -> pd.DataFrame:
    return pd.DataFrame([{"start": pd.Timestamp(s), "end": pd.Timestamp(e), "services": sv, "segments": sg,
                          "regions": []} for s, e, sv, sg in rows])


def test_daily_event_features_follow_scope_and_dates() -> None:
    series = _series([("a", "x", "r", "2026-03-01"), ("a", "x", "r", "2026-03-05"), ("a", "x", "r", "2026-03-20"),
                      ("b", "x", "r", "2026-03-05"), ("a", "y", "r", "2026-03-05")])
    events = _events(("2026-03-03", "2026-03-10", ["a"], ["x"]), ("2026-03-05", "2026-03-06", [], ["x"]))
    got = event_features(series, events, "D")
    assert got["event_days"].tolist() == [0, 2, 0, 1, 0]  # two events overlap on a/x; b/x only the second
    assert got["event_day"].tolist() == [-1, 0, -1, 0, -1]  # days since the latest start
    assert got["event_recent_days"].tolist() == [0, 2, 10, 0, 0]  # event days in the 28 days before
    assert event_features(series, None, "D")[EVENT_COLUMNS].eq(0).sum().sum() == 2 * len(series)


def test_weekly_event_features_count_days_in_the_week() -> None:
    series = _series([("a", "x", "r", "2026-03-02"), ("a", "x", "r", "2026-03-09")])  # Mondays
    got = event_features(series, _events(("2026-03-06", "2026-03-10", [], [])), "W")
    assert got["event_days"].tolist() == [3, 2] and got["event_day"].tolist() == [0, 3]


def test_planned_events_reach_the_future_rows() -> None:
    series = series_frame(make_usage(days=120))
    origin = series["ds"].max()
    planned = _events((str((origin + pd.Timedelta(days=5)).date()), str((origin + pd.Timedelta(days=9)).date()),
                       ["svc0"], []))
    grid = with_exogenous(future_grid(series, "D", 28), None, "D", 28, use_feedback=False, events=planned,
                          use_events=True)
    touched = grid[grid["event_days"] > 0]
    assert len(touched) == 5 * 2 and set(touched["service"]) == {"svc0"}  # 5 days x 2 segments
