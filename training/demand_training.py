"""One demand training run: backtest, fit, log to MLflow, register, and move `champion` only on a win."""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import ModelSignature, infer_signature

from features.event_features import EVENT_COLUMNS
from features.feedback_features import frequent_topics
from features.series import series_frame, to_period_start
from training.backtest import BacktestResult, fits_per_backtest, run_backtest
from training.config import DemandConfig
from training.demand_model import (
    feature_reach,
    fit_forecaster,
    model_frame,
    training_sample,
    with_events_in_history,
)
from training.model_format import log_demand_model
from training.registry import DEMAND_MODEL, champion_info, ensure_experiment, set_champion

if TYPE_CHECKING:
    from training.distributed import DaskEngine

__all__ = ["DemandRun", "data_fingerprint", "history_start", "train_demand"]

log = logging.getLogger(__name__)
Step = Callable[[str], None]
warnings.filterwarnings("ignore", message="Found null values", module="mlforecast")


@dataclass
class DemandRun:
    """What a training run produced and decided."""

    run_id: str
    version: str
    promoted: bool
    metrics: dict[str, float]
    naive_metrics: dict[str, float]
    champion_before: str | None
    champion_wape: float | None
    data_from: str
    data_until: str
    seconds: float
    fits: int = 0  # full LightGBM fits made: backtest, final model, and any re-backtest of the champion


def data_fingerprint(frame: pd.DataFrame, config: DemandConfig) -> str:
    """Identifies the training data and backtest layout, so metrics are compared like with like.

    Registered events in the history count as data: a champion is re-backtested when they changed.
    """
    summary = (
        f"{frame['unique_id'].nunique()}|{len(frame)}|{frame['y'].sum():.3f}|{frame['ds'].min()}|"
        f"{frame['ds'].max()}|{config.freq}|{config.h}|{config.backtest_windows}"
    )
    summary += "".join(f"|{frame[c].sum():.1f}" for c in EVENT_COLUMNS if c in frame)
    # A one-fit or sampled backtest scores differently (the refitted, whole-panel ones keep their prints).
    if config.backtest_refit is False or (config.backtest_series or 0) < frame["unique_id"].nunique():
        summary += f"|one-fit|{config.backtest_series}"
    return hashlib.sha256(summary.encode()).hexdigest()[:16]


PERIOD_DAYS = {"D": 1, "W": 7, "M": 31}
"""Days a period spans at most (a reach in periods as days back)."""
_MOST_BACKTEST_WINDOWS = 4  # `DemandConfig.for_series`'s most (and the champion's re-run may use them)
LEARNING_DAYS = 365
"""Days of rows with every feature known that a fit learns from, on top of the features' reach: a year of
seasons (the held-out WAPE measured with it: docs/benchmarks.md, "Training at scale")."""


def history_start(last_day: pd.Timestamp, config: DemandConfig) -> pd.Timestamp:
    """The first day of usage a training run needs: the longest feature reach (a lag, or a lag plus its rolling
    window), the backtest windows and `LEARNING_DAYS` before `last_day`, at the start of its period.

    Older rows cannot change the fit beyond the first rows' lags; reading them costs time and memory linear in
    the years stored.
    """
    reach = feature_reach(config)
    windows = max(config.backtest_windows or 0, _MOST_BACKTEST_WINDOWS)
    days = (reach + windows * config.h) * PERIOD_DAYS[config.freq] + LEARNING_DAYS
    start = pd.Timestamp(last_day).normalize() - pd.Timedelta(days=days)
    return to_period_start(pd.Series([start]), config.freq).iloc[0]


@dataclass(frozen=True)
class _ChampionScore:
    version: str | None
    wape: float | None
    fits: int = 0  # LightGBM fits it took to score the champion on this data


def _champion_wape_on(client: MlflowClient, series: pd.DataFrame, feedback: pd.DataFrame | None,
                      events: pd.DataFrame | None, config: DemandConfig, fingerprint: str, own_wape: float,
                      step: Step, dask: DaskEngine | None = None) -> _ChampionScore:
    """The champion's backtest WAPE on this data: its logged one if the data match, else re-backtested.

    A champion of the same configuration as this run needs no re-run: its backtest on this data is the one
    just made (same features, parameters, seeds and windows), so `own_wape` is its score, a tie.
    """
    champ = champion_info(client, DEMAND_MODEL)
    if champ is None:
        return _ChampionScore(None, None)
    run = client.get_run(champ.run_id)
    if run.data.tags.get("data_fingerprint") == fingerprint and "wape" in run.data.metrics:
        return _ChampionScore(champ.version, run.data.metrics["wape"])
    params = {**run.data.params, "freq": config.freq, "horizon": str(config.h),
              "backtest_windows": str(config.backtest_windows), "backtest_refit": str(config.backtest_refit),
              "backtest_series": str(config.backtest_series)}
    champ_config = DemandConfig.from_params(params)
    if champ_config.as_params() == config.as_params():
        step(f"the champion (v{champ.version}) has this run's configuration: its backtest on this data is this one")
        return _ChampionScore(champ.version, own_wape)
    step(f"re-running the champion's (v{champ.version}) backtest on the current data")
    frame = model_frame(training_sample(series, champ_config.max_train_series), feedback, champ_config, events)
    return _ChampionScore(champ.version, run_backtest(frame, champ_config, dask).metrics["wape"],
                          fits_per_backtest(champ_config))


def _signature(usage: pd.DataFrame, forecaster) -> ModelSignature:
    """Input: usage rows; output: forecast rows; param `horizon` (so pyfunc callers can set it)."""
    example = usage[usage["date"] >= usage["date"].max() - pd.Timedelta(days=400)].head(2000)
    example = example[["date", "service", "segment", "region", "count"]].astype({"count": "int64"})
    output = pd.DataFrame({"service": ["s"], "segment": ["g"], "region": ["r"],
                           "date": [pd.Timestamp("2026-01-01")], "p10": [0.0], "p50": [1.0], "p90": [2.0],
                           "mean": [1.0]})
    return infer_signature(example, output, params={"horizon": forecaster.config.h})


def train_demand(
    usage: pd.DataFrame,
    feedback: pd.DataFrame | None,
    client: MlflowClient,
    artifact_root: str,
    config: DemandConfig | None = None,
    step: Step = lambda _msg: None,
    events: pd.DataFrame | None = None,
    dask: DaskEngine | None = None,
    panel_series: int | None = None,
) -> DemandRun:
    """Backtest and fit on all usage, log everything, register, and decide the champion.

    `panel_series`: how many series the panel has when `usage` holds only the sampled series' rows (a run that
    read the sample alone, `jobs.tasks.training_window`); None: `usage` is the whole panel. Beyond
    `training.config.SAMPLED_PANEL` series the fit is on a sample (`DemandConfig.for_panel`).

    `dask`: fit and backtest on that cluster (`training.distributed`); None: in this process. The run's
    `engine` param says which, and how many full LightGBM fits it made is its `lgbm_fits` tag.

    `events` (`store.reads.load_events`) are used when the config asks and one overlaps the history;
    the logged `use_events` says whether they were. With `use_feedback`, a `topic` column of needs-topic ids in
    `feedback` and no `feedback_topics` in the config, the most frequent topics become share features.
    """
    config = config or DemandConfig()
    if config.use_feedback and not config.feedback_topics:
        config = replace(config, feedback_topics=frequent_topics(feedback))
    started = time.perf_counter()
    step("building features")
    series = series_frame(usage, config.freq)
    checked = with_events_in_history(config, series, events)
    if checked.use_events != config.use_events:
        step("no registered event overlaps the history: training without event features")
    panel = panel_series or series["unique_id"].nunique()
    config = checked.for_panel(panel)
    fitted = training_sample(series, config.max_train_series)
    if fitted["unique_id"].nunique() < panel:
        step(f"fitting the global model on a sample of {config.max_train_series:,} of {panel:,} series")
    config = config.for_series(fitted["unique_id"].nunique())
    frame = model_frame(fitted, feedback, config, events)
    fingerprint = data_fingerprint(frame, config)
    fits = fits_per_backtest(config) + 1
    where = f" on Dask ({dask.n_workers} workers)" if dask is not None else ""
    step(f"backtesting on {config.backtest_windows} windows of {config.h} periods{where}")
    backtest: BacktestResult = run_backtest(frame, config, dask)
    step(f"fitting the final model{where}")
    forecaster = fit_forecaster(frame, config, backtest.calibration, dask)

    experiment_id = ensure_experiment(client, DEMAND_MODEL, artifact_root)
    data_from, data_until = str(series["ds"].min().date()), str(series["ds"].max().date())
    with mlflow.start_run(experiment_id=experiment_id) as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params(config.as_params())
        mlflow.log_params(dask.params() if dask is not None else {"engine": "local", "n_workers": "1"})
        mlflow.log_metrics(backtest.metrics)
        mlflow.log_metrics({f"naive_{k}": v for k, v in backtest.naive_metrics.items()})
        mlflow.set_tags({"data_from": data_from, "data_until": data_until, "data_fingerprint": fingerprint,
                         "series": str(panel), "rows": str(len(frame)),
                         "train_series": str(fitted["unique_id"].nunique())})
        tmp_path = Path(tmp)
        forecaster.feature_importance().to_csv(tmp_path / "feature_importance.csv", index=False)
        backtest.cv.to_csv(tmp_path / "backtest.csv", index=False)
        backtest.calibration.to_csv(tmp_path / "interval_calibration.csv", index=False)
        mlflow.log_artifacts(tmp, artifact_path="reports")
        step("logging and registering the model")
        # The model as data (training.model_format): mlforecast's save format, JSON config, calibration tables.
        info = log_demand_model(forecaster, _signature(usage, forecaster), DEMAND_MODEL, backtest.cv)
        version = str(info.registered_model_version)

        champ = _champion_wape_on(client, series, feedback, events, config, fingerprint, backtest.metrics["wape"],
                                  step, dask)
        champ_version, champ_wape = champ.version, champ.wape
        fits += champ.fits
        promoted = champ_version is None or (champ_wape is not None and backtest.metrics["wape"] < champ_wape)
        decision = "promoted" if promoted else "challenger"
        mlflow.set_tags({"decision": decision, "champion_before": champ_version or "",
                         "champion_wape_same_data": "" if champ_wape is None else f"{champ_wape:.6f}",
                         "lgbm_fits": str(fits)})
    client.set_model_version_tag(DEMAND_MODEL, version, "role", "challenger")
    if promoted:
        set_champion(client, DEMAND_MODEL, version)
    log.info("demand run %s: version %s %s (wape %.4f vs champion %s)", run.info.run_id, version, decision,
             backtest.metrics["wape"], champ_wape)
    return DemandRun(run.info.run_id, version, promoted, backtest.metrics, backtest.naive_metrics, champ_version,
                     champ_wape, data_from, data_until, time.perf_counter() - started, fits)
