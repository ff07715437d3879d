"""Rolling-origin backtest of the demand model against weekly seasonal naive, with honest intervals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.demand_features import STATIC_COLUMNS
from training.config import DemandConfig
from training.demand_model import average_models, blend_smoothing, make_mlforecast, training_sample
from training.intervals import IntervalCalibration, apply_intervals, fit_intervals
from training.metrics import forecast_metrics

if TYPE_CHECKING:
    from training.distributed import DaskEngine

__all__ = ["BacktestResult", "fits_per_backtest", "run_backtest", "seasonal_naive"]


@dataclass
class BacktestResult:
    """Backtest rows, metrics of the model and of seasonal naive, and the calibration for serving."""

    cv: pd.DataFrame
    metrics: dict[str, float]
    naive_metrics: dict[str, float]
    calibration: IntervalCalibration

    @property
    def wape_ratio(self) -> float:
        return self.metrics["wape"] / self.naive_metrics["wape"]


def _periods_before(ds: pd.Series, n: np.ndarray, freq: str) -> pd.Series:
    if freq == "M":
        return (ds.dt.to_period("M") - n).dt.to_timestamp()
    return ds - n * pd.Timedelta(days=7 if freq == "W" else 1)


def seasonal_naive(series: pd.DataFrame, cv: pd.DataFrame, season: int, freq: str) -> np.ndarray:
    """For each backtest row, the value one season before (repeated), seen from its cutoff."""
    back = season * ((cv["step"].to_numpy() // season) + 1)
    source_ds = _periods_before(cv["ds"], back, freq)
    lookup = series.set_index(["unique_id", "ds"])["y"]
    idx = pd.MultiIndex.from_arrays([cv["unique_id"], source_ds])
    return lookup.reindex(idx).to_numpy()


def _cross_validation(frame: pd.DataFrame, config: DemandConfig, dask: DaskEngine | None) -> pd.DataFrame:
    """mlforecast's rolling-origin predictions (unique_id, ds, cutoff, y, mean), locally or on the cluster."""
    windows, refit = config.backtest_windows, config.backtest_refit
    if dask is not None:
        from training.distributed import cross_validate_distributed

        return cross_validate_distributed(frame, config, dask, windows, refit)
    mlf = make_mlforecast(config)
    cv = mlf.cross_validation(frame, n_windows=windows, h=config.h, static_features=STATIC_COLUMNS, refit=refit,
                              dropna=False)
    return average_models(cv, list(mlf.models))


def fits_per_backtest(config: DemandConfig) -> int:
    """Full LightGBM fits a backtest of this (resolved) config makes."""
    return config.backtest_windows if config.backtest_refit else 1


def run_backtest(frame: pd.DataFrame, config: DemandConfig, dask: DaskEngine | None = None) -> BacktestResult:
    """`backtest_windows` non-overlapping windows of `h` periods at the end of the data.

    The backtest layout (windows, refit, series sample) is the config's once resolved for the panel's size
    (`DemandConfig.for_series`). Coverage is cross-conformal: each window's intervals come from the residuals
    of the other windows, so the reported coverage is out of sample. `dask`: fit and predict on that cluster.
    """
    config = config.for_series(frame["unique_id"].nunique())
    frame = training_sample(frame, config.backtest_series)
    cv = _cross_validation(frame, config, dask)
    if config.blend_weight > 0:
        cv = pd.concat([blend_smoothing(part, frame[frame["ds"] <= cutoff], config, config.h)
                        for cutoff, part in cv.groupby("cutoff")], ignore_index=True)
    cv = cv.sort_values(["unique_id", "cutoff", "ds"], ignore_index=True)
    cv["step"] = cv.groupby(["unique_id", "cutoff"]).cumcount()
    cv["mean"] = cv["mean"].clip(lower=0.0)
    cv["naive"] = seasonal_naive(frame, cv, config.season, config.freq)
    parts = []
    for cutoff in cv["cutoff"].unique():
        held = cv[cv["cutoff"] == cutoff]
        others = cv[cv["cutoff"] != cutoff]
        calib = fit_intervals(others if len(others) else held, config.freq, config.interval)
        parts.append(apply_intervals(held, calib, config.freq))
    cv = pd.concat(parts, ignore_index=True)
    train = frame[frame["ds"] <= cv["cutoff"].min()]
    metrics = forecast_metrics(cv, train, config.season)
    naive_rows = cv.dropna(subset=["naive"])
    naive_metrics = forecast_metrics(naive_rows.drop(columns=["p10", "p90"]), train, config.season, "naive")
    metrics["wape_vs_naive"] = metrics["wape"] / naive_metrics["wape"] if naive_metrics["wape"] else float("nan")
    calibration = fit_intervals(cv, config.freq, config.interval)
    return BacktestResult(cv, metrics, naive_metrics, calibration)
