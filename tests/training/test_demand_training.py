"""Training with real LightGBM and MLflow: the first run becomes champion, a worse one stays a challenger."""

from __future__ import annotations

import mlflow
import pandas as pd

from features.series import series_frame
from needcast.settings import Settings
from tests.conftest import make_usage
from training.backtest import run_backtest
from training.config import DemandConfig
from training.demand_model import model_frame
from training.demand_training import train_demand
from training.registry import CHAMPION, DEMAND_MODEL, champion_info, configure

WORSE = DemandConfig(lgbm={"n_estimators": 2, "num_leaves": 2, "learning_rate": 0.01, "verbosity": -1})


def test_backtest_beats_seasonal_naive_with_calibrated_intervals() -> None:
    config = DemandConfig(use_feedback=False)
    result = run_backtest(model_frame(series_frame(make_usage(days=600)), None, config), config)
    assert result.metrics["wape"] < 0.9 * result.naive_metrics["wape"]
    assert 0.70 <= result.metrics["coverage"] <= 0.95
    cv = result.cv
    assert (cv["p10"] <= cv["p50"]).all() and (cv["p50"] <= cv["p90"]).all() and (cv["p10"] >= 0).all()
    assert cv["cutoff"].nunique() == config.backtest_windows


def test_champion_moves_only_when_the_challenger_wins(settings: Settings) -> None:
    client = configure(settings.mlflow_tracking_uri)
    usage = make_usage(days=450)
    first = train_demand(usage, None, client, settings.mlflow_artifact_root, DemandConfig())
    assert first.promoted and champion_info(client).version == first.version

    worse = train_demand(usage, None, client, settings.mlflow_artifact_root, WORSE)
    assert not worse.promoted
    assert worse.metrics["wape"] > first.metrics["wape"]
    assert worse.champion_wape == first.metrics["wape"]  # same data: compared with the logged metric
    assert champion_info(client).version == first.version

    version = client.get_model_version(DEMAND_MODEL, worse.version)
    assert version.tags["role"] == "challenger" and CHAMPION not in version.aliases
    run = client.get_run(first.run_id)
    assert {"wape", "mase", "coverage", "naive_wape"} <= set(run.data.metrics)
    assert run.data.tags["data_until"] == str(usage["date"].max().date())
    artifacts = {a.path for a in client.list_artifacts(first.run_id, "reports")}
    assert "reports/feature_importance.csv" in artifacts
    assert str(settings.mlflow_artifact_root) in client.get_run(first.run_id).info.artifact_uri

    model = mlflow.pyfunc.load_model(f"models:/{DEMAND_MODEL}@{CHAMPION}")
    pred = model.predict(usage, params={"horizon": 7})
    assert len(pred) == 7 * usage.groupby(["service", "segment", "region"]).ngroups
    assert (pred["p10"] <= pred["p50"]).all() and (pred["p50"] <= pred["p90"]).all()


def test_champion_is_rebacktested_when_the_data_changed(settings: Settings) -> None:
    client = configure(settings.mlflow_tracking_uri)
    usage = make_usage(days=450)
    train_demand(usage, None, client, settings.mlflow_artifact_root, WORSE)
    more = pd.concat([usage, make_usage(days=450, end="2026-07-14", seed=5)])
    better = train_demand(more, None, client, settings.mlflow_artifact_root, DemandConfig())
    assert better.promoted
    assert better.champion_wape is not None and better.champion_wape > better.metrics["wape"]
