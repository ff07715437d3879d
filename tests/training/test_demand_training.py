"""Training with real LightGBM and MLflow: the first run becomes champion, a worse one stays a challenger."""

from __future__ import annotations

import mlflow
import pandas as pd

from features.series import series_frame
from needcast.settings import Settings
from tests.conftest import make_usage
from training.backtest import fits_per_backtest, run_backtest
from training.config import LARGE_PANEL, DemandConfig
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
    assert cv["cutoff"].nunique() == 4  # a small panel: 4 windows, each refitted


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


def test_a_champion_of_the_same_configuration_is_not_backtested_again_on_appended_days(settings: Settings) -> None:
    client = configure(settings.mlflow_tracking_uri)
    usage = make_usage(days=450)
    config = DemandConfig(backtest_windows=2)
    first = train_demand(usage, None, client, settings.mlflow_artifact_root, config)
    assert first.fits == 3  # 2 backtest windows and the final fit
    more = pd.concat([usage, make_usage(days=14, end="2026-07-14", seed=5)])
    second = train_demand(more, None, client, settings.mlflow_artifact_root, config)
    # Its backtest on this data is the champion's configuration's backtest on it: a tie, no extra fits.
    assert second.fits == 3 and second.champion_wape == second.metrics["wape"]
    assert not second.promoted and champion_info(client).version == first.version


def test_a_large_panel_is_backtested_on_a_sample_of_series_with_one_fit() -> None:
    frame = model_frame(series_frame(make_usage(days=450, services=4, segments=2)), None, DemandConfig())
    config = DemandConfig(backtest_windows=2, backtest_refit=False, backtest_series=3,
                          lgbm={**DemandConfig().lgbm, "n_estimators": 30})
    cv = run_backtest(frame, config).cv
    assert cv["unique_id"].nunique() == 3 and cv["cutoff"].nunique() == 2


def test_large_panels_backtest_on_fewer_windows_with_one_fit() -> None:
    small, large = DemandConfig().for_series(LARGE_PANEL), DemandConfig().for_series(3 * LARGE_PANEL)
    assert (small.backtest_windows, small.backtest_refit, fits_per_backtest(small)) == (4, True, 4)
    assert small.backtest_series == LARGE_PANEL  # every series
    assert (large.backtest_windows, large.backtest_refit, fits_per_backtest(large)) == (2, False, 1)
    assert large.backtest_series == LARGE_PANEL  # a sample
    chosen = DemandConfig(backtest_windows=3, backtest_refit=True).for_series(50_000)
    assert (chosen.backtest_windows, fits_per_backtest(chosen)) == (3, 3)
    logged = DemandConfig.from_params({k: str(v) for k, v in large.as_params().items()})
    assert (logged.backtest_windows, logged.backtest_refit) == (2, False)


def test_a_sampled_global_model_still_forecasts_every_series(settings: Settings) -> None:
    client = configure(settings.mlflow_tracking_uri)
    usage = make_usage(days=450, services=4, segments=2)
    config = DemandConfig(backtest_windows=2, max_train_series=3, lgbm={**DemandConfig().lgbm, "n_estimators": 40})
    run = train_demand(usage, None, client, settings.mlflow_artifact_root, config)
    tags = client.get_run(run.run_id).data.tags
    assert (tags["series"], tags["train_series"]) == ("8", "3")
    model = mlflow.pyfunc.load_model(f"models:/{DEMAND_MODEL}/{run.version}")
    pred = model.predict(usage, params={"horizon": 7})
    assert len(pred) == 7 * 8 and pred["mean"].notna().all()
    assert (pred["p10"] <= pred["p50"]).all() and (pred["p50"] <= pred["p90"]).all()
