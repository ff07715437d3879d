"""Training reads its window of usage, not the whole history: rows older than it cannot change the fit's input."""

from __future__ import annotations

import pandas as pd
import pytest

from features.contract import Kind
from features.ingest import ingest_frame
from features.series import series_frame
from jobs.tasks import training_usage
from needcast.settings import Settings
from store.engine import get_engine
from store.reads import load_usage
from tests.conftest import make_usage
from training.config import DemandConfig
from training.demand_model import model_frame
from training.demand_training import history_start

CONFIG = DemandConfig()


def _usage() -> pd.DataFrame:
    frame = make_usage(days=1000, services=2, segments=1)
    return frame[frame["count"] > 0].astype({"count": str}).reset_index(drop=True)


def _old_rows() -> pd.DataFrame:
    """One row of a stored series and one of a series seen only then, both years before the window."""
    return pd.DataFrame({"date": ["2019-03-04", "2019-03-05"], "service": ["svc0", "svc9"],
                         "segment": ["seg0", "seg0"], "region": ["all", "all"], "count": ["7", "3"]})


def test_the_window_reaches_the_longest_feature_and_the_backtest_plus_a_year() -> None:
    last = pd.Timestamp("2026-06-30")
    start = history_start(last, CONFIG)
    # Daily: lag 371 + a 28-day mean (last year's level), 4 backtest windows of 28 days, 365 days to learn from.
    assert (last - start).days == 371 + 28 + 4 * 28 + 365
    weekly = history_start(last, DemandConfig(freq="W"))
    assert weekly.dayofweek == 0 and (last - weekly).days >= (53 + 4 * 8) * 7 + 365


@pytest.mark.parametrize("freq", ["D", "W"])
def test_an_old_row_outside_the_window_does_not_change_the_fit_inputs(settings: Settings, freq: str) -> None:
    config = DemandConfig(freq=freq)
    engine = get_engine(settings.db_url)
    ingest_frame(engine, _usage(), Kind.usage)
    before = training_usage(engine, config)
    frame_before = model_frame(series_frame(before, freq), None, config)

    ingest_frame(engine, _old_rows(), Kind.usage)
    after = training_usage(engine, config)
    frame_after = model_frame(series_frame(after, freq), None, config)

    assert len(frame_after) == len(frame_before)
    assert after["date"].min() >= history_start(after["date"].max(), config)
    # The whole history does hold them: read whole, the old row stretches its series back years.
    whole = series_frame(load_usage(engine), freq)
    assert len(whole) > len(frame_before) + 365 // (7 if freq == "W" else 1)


def test_no_usage_is_a_lookup_error(settings: Settings) -> None:
    with pytest.raises(LookupError, match="ingest usage"):
        training_usage(get_engine(settings.db_url), CONFIG)
