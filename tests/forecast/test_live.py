"""The live champion in a serving process: it follows the alias, and a broken new champion does not stop it."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from features.contract import Kind
from features.ingest import ingest_frame
from forecast.live import LiveModels
from forecast.served import refresh_forecasts
from needcast.jobs import run_training
from needcast.settings import Settings
from store.engine import get_engine
from tests.conftest import make_usage
from tests.fixtures.release import RELEASE_MODEL, register_release_model
from training.config import DemandConfig
from training.registry import DEMAND_MODEL, champion_info, configure, set_champion

FAST = DemandConfig(backtest_windows=2, lgbm={**DemandConfig().lgbm, "n_estimators": 40})


def test_a_broken_champion_keeps_the_previous_one_serving(settings: Settings,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    engine = get_engine(settings.db_url)
    ingest_frame(engine, make_usage(days=420).astype({"count": str}), Kind.usage)
    run_training(settings, config=FAST)
    client = configure(settings.mlflow_tracking_uri)
    live = LiveModels(engine, client)
    assert live.sync() and live.forecasts.version == "1"
    before = live.forecasts.table.copy()

    # Fault injected: a version whose model files are missing becomes champion (as a slip in the MLflow UI could).
    good = client.get_model_version(DEMAND_MODEL, "1")
    broken = client.create_model_version(DEMAND_MODEL, source=settings.mlflow_artifact_root + "/missing",
                                         run_id=good.run_id)
    set_champion(client, DEMAND_MODEL, broken.version)
    with caplog.at_level(logging.ERROR, logger="forecast.live"):
        assert not live.sync()
    assert live.ready and live.forecasts.version == "1" and live.forecasts.table.equals(before)
    # A serving process computes no forecasts: it waits for the worker's (which cannot load that version either).
    assert live.pending and str(broken.version) in live.pending and live.champion_version == str(broken.version)

    # The alias moved back to a servable version: the next check serves it and clears the error.
    set_champion(client, DEMAND_MODEL, "1")
    assert champion_info(client).version == "1"
    live.sync()
    assert live.forecasts.version == "1" and live.last_error is None and live.pending is None


def test_a_version_saved_by_the_previous_release_is_refreshed_and_served(settings: Settings) -> None:
    engine = get_engine(settings.db_url)
    usage = pd.read_csv(RELEASE_MODEL / "usage.csv.gz")
    ingest_frame(engine, usage.astype({"count": str}), Kind.usage)
    version = register_release_model(settings.mlflow_tracking_uri)
    client = configure(settings.mlflow_tracking_uri)
    set_champion(client, DEMAND_MODEL, version)

    served = refresh_forecasts(engine, client)
    assert served.meta["model_format"] == "legacy-pickle" and served.dependence is None
    expected = pd.read_csv(RELEASE_MODEL / "expected_forecast.csv")
    assert served.table["mean"].sum() == pytest.approx(expected["mean"].sum(), rel=1e-6)
    live = LiveModels(engine, client)
    assert live.sync() and live.forecasts.version == version and len(live.forecasts.table) == len(expected)
