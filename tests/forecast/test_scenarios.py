"""What-if scenarios computed with a real champion: the event changes only its own days, and the history cut to
the forecast's reach gives the same forecast as the whole history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from features.contract import Kind
from features.events import Event, EventKind, ingest_events
from features.ingest import ingest_frame
from features.series import series_frame
from forecast.scenarios import ChampionForecaster, predict_pair, prediction_history, selection_inputs, what_if
from forecast.served import load_champion_forecaster
from needcast.jobs import run_training
from needcast.settings import get_settings
from store.engine import get_engine
from tests.conftest import isolate, make_usage
from training.config import DemandConfig
from training.registry import configure

SMALL = DemandConfig(lgbm={"objective": "tweedie", "n_estimators": 30, "num_leaves": 15, "learning_rate": 0.1,
                           "verbosity": -1, "random_state": 0, "n_jobs": 1})


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """A champion trained with event features (a past campaign of svc1), and its store."""
    with pytest.MonkeyPatch.context() as mp:
        settings = isolate(tmp_path_factory.mktemp("scenarios"), mp)
        engine = get_engine(settings.db_url)
        usage = make_usage(days=460, regions=("north", "south"))
        campaign = (usage["service"] == "svc1") & usage["date"].between("2026-03-02", "2026-03-15")
        usage.loc[campaign, "count"] = usage.loc[campaign, "count"] * 3
        ingest_frame(engine, usage.astype({"count": str}), Kind.usage)
        ingest_events(engine, pd.DataFrame([{"name": "past campaign", "start": "2026-03-02", "end": "2026-03-15",
                                             "kind": "campaign", "services": "svc1", "segments": "",
                                             "regions": ""}]), "events.csv")
        run_training(settings, config=SMALL, with_needs=False)
        client = configure(settings.mlflow_tracking_uri)
        info, forecaster = load_champion_forecaster(client)
        yield engine, forecaster, ChampionForecaster(client), str(info.version)
    get_settings.cache_clear()


def _event(start: dt.date, days: int = 14) -> Event:
    return Event(name="planned", start=start, end=start + dt.timedelta(days=days - 1), kind=EventKind.campaign,
                 services=("svc1",), segments=(), regions=())


def test_the_event_moves_its_own_days_only(champion) -> None:
    engine, forecaster, holder, version = champion
    assert holder.get(version).config.use_events
    usage, feedback, events = selection_inputs(engine, forecaster, segment="seg0")
    start = usage["date"].max().date() + dt.timedelta(days=8)
    scenario = what_if(forecaster, usage, events, _event(start), segment="seg0", feedback=feedback)
    assert scenario.event_aware
    keys = ["service", "segment", "region", "date"]
    both = scenario.without.merge(scenario.with_event, on=keys, suffixes=("_without", "_with"))
    assert len(both) == len(scenario.without) == 3 * 2 * forecaster.config.h  # 3 services, 2 regions
    before = both["date"] < pd.Timestamp(start)
    # Before the event nothing changes; the campaign's service rises during it (as the past campaign did).
    assert np.allclose(both.loc[before, "mean_without"], both.loc[before, "mean_with"])
    during = both["date"].between(pd.Timestamp(start), pd.Timestamp(start + dt.timedelta(days=13)))
    svc1 = both[during & (both["service"] == "svc1")]
    assert svc1["mean_with"].sum() > svc1["mean_without"].sum()
    others = both[during & (both["service"] != "svc1")]
    assert np.allclose(others["mean_without"], others["mean_with"], rtol=0.05)


def test_history_cut_to_the_forecasts_reach_gives_the_same_forecast(champion) -> None:
    engine, forecaster, _, _ = champion
    usage, feedback, events = selection_inputs(engine, forecaster, segment="seg1")
    # A series that went quiet long ago and then came back once: its zero-filled days must survive the cut.
    quiet = pd.DataFrame({"service": "svc9", "segment": "seg1", "region": "north",
                          "date": pd.to_datetime(["2025-04-01", "2026-06-20"]), "count": [5.0, 2.0]})
    usage = pd.concat([usage, quiet], ignore_index=True)
    until = usage["date"].max()
    cut = prediction_history(usage, forecaster.config, until)
    assert len(cut) < len(usage) and cut["date"].min() > usage["date"].min()
    full_pair = predict_pair(forecaster, series_frame(usage, "D", data_until=until), feedback, events, events)
    cut_pair = predict_pair(forecaster, series_frame(cut, "D", data_until=until), feedback, events, events)
    for full, short in zip(full_pair, cut_pair, strict=True):
        pd.testing.assert_frame_equal(full.reset_index(drop=True), short.reset_index(drop=True))

