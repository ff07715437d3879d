"""Property: no row the edge accepts can break what follows (issue 11). Generated rows, hostile ones included
(huge and negative counts, NaN, booleans, objects, dates of any century, control characters, long ids), go
through validation; every accepted row is stored exactly, and the stored data builds series and trains a model."""

from __future__ import annotations

import math
import re
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.routes.ingest import rows_frame
from features.contract import KEY_CHARS, InputLimits, Kind
from features.ingest import ingest_frame
from features.series import series_frame
from features.validation import validate_frame
from store import tables
from store.engine import get_engine
from store.reads import load_usage
from tests.conftest import make_usage
from training.backtest import run_backtest
from training.config import DemandConfig
from training.demand_model import model_frame

LIMITS = InputLimits()
FIRST, LAST = LIMITS.min_date, LIMITS.max_date()

_day = st.dates(min_value=date(1500, 1, 1), max_value=date(2600, 12, 31))
dates = st.one_of(
    st.dates(min_value=FIRST, max_value=LAST).map(date.isoformat),
    st.dates(min_value=FIRST, max_value=LAST).map(lambda d: f"{d.isoformat()}T23:30:00-05:00"),
    _day.map(date.isoformat), st.text(max_size=12), st.integers(), st.floats(), st.none(), st.just({"a": 1}),
)
counts = st.one_of(
    st.integers(0, LIMITS.max_count), st.integers(-(2**70), 2**70), st.floats(), st.booleans(), st.none(),
    st.integers(0, 100).map(str), st.text(max_size=8), st.just([1]),
)
ids = st.one_of(
    st.sampled_from(["a", "b", "c"]), st.text(max_size=6), st.integers(-5, 5), st.floats(), st.none(),
    st.booleans(), st.just({"a": 1}), st.text(alphabet="xy\x1f\x00", min_size=KEY_CHARS - 2, max_size=KEY_CHARS + 2),
)
usage_rows = st.lists(
    st.fixed_dictionaries({"date": dates, "service": ids, "segment": ids},
                          optional={"region": ids, "count": counts}),
    min_size=1, max_size=25,
)


def _check_good(good: pd.DataFrame) -> None:
    """What every accepted usage row must be, whatever was sent."""
    assert good["count"].notna().all() and good["count"].between(0, LIMITS.max_count).all()
    days = good["date"].dt.normalize()
    assert days.between(pd.Timestamp(FIRST), pd.Timestamp(LAST)).all()
    for column in ("service", "segment", "region"):
        values = good[column]
        assert values.map(lambda v: isinstance(v, str) and 0 < len(v) <= KEY_CHARS).all()
        assert not values.map(lambda v: bool(re.search(r"[\x00-\x1f\x7f]", v))).any()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=usage_rows, from_json=st.booleans())
def test_accepted_rows_are_well_formed_and_build_series(rows: list[dict], from_json: bool) -> None:
    frame = rows_frame(rows, Kind.usage) if from_json else pd.DataFrame(rows)
    validated = validate_frame(frame, Kind.usage, nan_is_blank=not from_json)
    assert len(validated.good) + len(validated.rejected) == len(rows)
    assert all(r.errors for r in validated.rejected)
    if validated.good.empty:
        return
    _check_good(validated.good)
    series = series_frame(validated.good.assign(count=validated.good["count"].astype(float)))
    assert np.isfinite(series["y"]).all() and (series["y"] >= 0).all()


TINY = DemandConfig(horizon=7, backtest_windows=1, backtest_refit=False, lags=(1, 7), rolling_windows=(7,),
                    yearly_level=False, use_events=False,
                    lgbm={"objective": "tweedie", "n_estimators": 5, "num_leaves": 4, "min_child_samples": 1,
                          "verbosity": -1, "n_jobs": 1})


@pytest.fixture(scope="module")
def base_history() -> pd.DataFrame:
    return make_usage(days=60, end=(date.today() - timedelta(days=1)).isoformat(), services=2, segments=1)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(rows=usage_rows)
def test_accepted_rows_are_stored_exactly_and_train(rows: list[dict], tmp_path_factory, base_history) -> None:
    engine = get_engine(f"sqlite:///{tmp_path_factory.mktemp('prop')}/p.db")
    base = ingest_frame(engine, base_history.assign(date=base_history["date"].dt.strftime("%Y-%m-%d")),
                        Kind.usage)
    assert base.rejected_count == 0
    frame = rows_frame(rows, Kind.usage)
    expected = validate_frame(frame, Kind.usage, nan_is_blank=False).good
    report = ingest_frame(engine, frame, Kind.usage, nan_is_blank=False)
    assert report.accepted + report.duplicates + report.rejected_count == len(rows)
    usage = load_usage(engine)
    # Nothing stored wrong: the stored total is the base plus exactly what was accepted (duplicates excepted).
    with engine.connect() as conn:
        contributed = conn.execute(tables.usage_contributions.select()).mappings().all()
    assert usage["count"].sum() == sum(r["count"] for r in contributed)
    assert usage["count"].sum() <= base_history["count"].sum() + expected["count"].sum()
    assert (usage["count"] >= 0).all() and usage["count"].max() <= 25 * LIMITS.max_count
    series = series_frame(usage)
    result = run_backtest(model_frame(series, None, TINY), TINY)
    assert math.isfinite(result.metrics["wape"]) or series["y"].sum() == 0
    engine.dispose()


texts = st.one_of(st.text(min_size=1, max_size=40), st.text(alphabet="аб \x00\x07\n", max_size=10), st.none(),
                  st.integers(), st.just({"t": "x"}), st.text(alphabet="я", min_size=4999, max_size=5001))
feedback_rows = st.lists(
    st.fixed_dictionaries({"created_at": dates, "text": texts},
                          optional={"id": ids, "segment": ids, "rating": counts, "channel": ids}),
    min_size=1, max_size=20,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=feedback_rows)
def test_accepted_feedback_is_well_formed(rows: list[dict]) -> None:
    validated = validate_frame(rows_frame(rows, Kind.feedback), Kind.feedback, nan_is_blank=False)
    assert len(validated.good) + len(validated.rejected) == len(rows)
    good = validated.good
    if good.empty:
        return
    assert good["created_at"].dt.normalize().between(pd.Timestamp(FIRST), pd.Timestamp(LAST)).all()
    assert good["text"].map(lambda t: isinstance(t, str) and 1 <= len(t) <= 5000 and "\x00" not in t).all()
    assert good["rating"].dropna().between(1, 5).all()
    for column in ("id", "segment", "channel"):
        assert good[column].dropna().map(lambda v: isinstance(v, str) and len(v) <= KEY_CHARS).all()
