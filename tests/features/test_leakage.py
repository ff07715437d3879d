"""No leakage: features for day t use only data up to the forecast origin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.demand_features import future_grid, with_exogenous
from features.feedback_features import FEEDBACK_COLUMNS, feedback_features, frequent_topics, topic_share_columns
from features.series import series_frame
from tests.conftest import make_usage
from training.config import DemandConfig
from training.demand_model import make_mlforecast, model_frame

TOPICS = (7, 3)
COLUMNS = FEEDBACK_COLUMNS + topic_share_columns(len(TOPICS))


def _feedback(start: str, end: str, seed: int, rating_low: int = 1) -> pd.DataFrame:
    """Random feedback; a needs-topic id on most rows (NaN: texts the needs model did not label)."""
    rng = np.random.default_rng(seed)
    n = 3000
    stamps = pd.to_datetime(rng.integers(pd.Timestamp(start).value, pd.Timestamp(end).value, n))
    return pd.DataFrame({"created_at": stamps, "service": rng.choice(["svc0", "svc1"], n),
                         "segment": rng.choice(["seg0", "seg1"], n),
                         "rating": rng.integers(rating_low, 6, n).astype(float),
                         "topic": rng.choice([3.0, 7.0, 11.0, np.nan], n)})


@pytest.mark.parametrize("freq,horizon", [("D", 28), ("W", 8)])
def test_feedback_features_up_to_origin_plus_horizon_ignore_later_feedback(freq: str, horizon: int) -> None:
    usage = make_usage(days=400)
    series = series_frame(usage, freq)
    origin = series["ds"].max() - pd.Timedelta(days=70)
    # The origin is the last period with data; for weeks, data runs to that week's Sunday.
    last_day = origin + pd.Timedelta(days=6 if freq == "W" else 0)
    before = _feedback("2025-06-01", str(last_day.date()), seed=1)
    after = _feedback(str((last_day + pd.Timedelta(days=1)).date()), "2026-07-30", seed=2)
    step = pd.Timedelta(days=7 if freq == "W" else 1)
    usable = series[series["ds"] <= origin + step * horizon]
    # Later feedback differs in volume, ratings and topics alike.
    with_after = feedback_features(usable, pd.concat([before, after]), horizon, freq, topics=TOPICS)
    without = feedback_features(usable, before, horizon, freq, topics=TOPICS)
    assert list(with_after.columns) == ["unique_id", "ds", *COLUMNS]
    assert with_after[topic_share_columns(len(TOPICS))].notna().any().all()
    pd.testing.assert_frame_equal(with_after, without)
    # ...while the same features further ahead do see the later feedback.
    later = series[series["ds"] > origin + step * horizon]
    if not later.empty:
        diff = feedback_features(later, pd.concat([before, after]), horizon, freq, topics=TOPICS)
        same = feedback_features(later, before, horizon, freq, topics=TOPICS)
        for col in COLUMNS:
            assert not diff[col].equals(same[col]), col


def test_topic_shares_count_labelled_feedback_of_the_series_in_the_window() -> None:
    series = pd.DataFrame({"unique_id": ["a", "a"], "ds": pd.to_datetime(["2026-03-10", "2026-03-20"]),
                           "service": "svc0", "segment": "seg0"})
    feedback = pd.DataFrame({
        "created_at": pd.to_datetime(["2026-03-08", "2026-03-08", "2026-03-09", "2026-03-09", "2026-03-09"]),
        "service": ["svc0", "svc0", "svc0", "svc0", "svc1"], "segment": "seg0", "rating": np.nan,
        "topic": [7.0, 3.0, 7.0, np.nan, 7.0],
    })
    out = feedback_features(series, feedback, horizon=1, freq="D", window_days=5, topics=TOPICS)
    # 2026-03-10 sees the days up to 03-09: three labelled texts of svc0/seg0, two of topic 7, one of topic 3.
    assert out.loc[0, "fb_topic_share_0"] == pytest.approx(2 / 3)
    assert out.loc[0, "fb_topic_share_1"] == pytest.approx(1 / 3)
    assert out.loc[1, topic_share_columns(2)].isna().all()  # nothing labelled in the window
    assert frequent_topics(feedback, k=2) == (7, 3)
    assert frequent_topics(feedback.drop(columns="topic")) == ()
    unlabelled = feedback_features(series, feedback.drop(columns="topic"), 1, "D", 5, topics=TOPICS)
    assert unlabelled[topic_share_columns(2)].isna().all().all()


def test_lag_features_for_day_t_are_the_same_with_or_without_later_data() -> None:
    config = DemandConfig(use_feedback=False)
    series = series_frame(make_usage(days=500))
    origin = series["ds"].max() - pd.Timedelta(days=40)
    full = model_frame(series, None, config)
    cut = model_frame(series[series["ds"] <= origin].reset_index(drop=True), None, config)
    mlf = make_mlforecast(config)
    features_full = mlf.preprocess(full, static_features=["service", "segment", "region"])
    features_cut = make_mlforecast(config).preprocess(cut, static_features=["service", "segment", "region"])
    left = features_full[features_full["ds"] <= origin].reset_index(drop=True)
    pd.testing.assert_frame_equal(left, features_cut.reset_index(drop=True), check_categorical=False)


def test_future_exogenous_rows_use_only_feedback_before_origin() -> None:
    series = series_frame(make_usage(days=400))
    origin = series["ds"].max()
    before = _feedback("2025-06-01", str(origin.date()), seed=3)
    after = _feedback(str((origin + pd.Timedelta(days=1)).date()), "2026-09-30", seed=4)
    grid = future_grid(series, "D", 28)
    a = with_exogenous(grid, pd.concat([before, after]), "D", 28, use_feedback=True, feedback_topics=TOPICS)
    b = with_exogenous(grid, before, "D", 28, use_feedback=True, feedback_topics=TOPICS)
    pd.testing.assert_frame_equal(a, b)
    assert a["fb_volume"].gt(0).any() and a["fb_topic_share_0"].gt(0).any()
