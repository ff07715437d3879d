"""The global LightGBM demand model: mlforecast for lags and recursion, calibrated intervals on top."""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlforecast import MLForecast
from mlforecast.lag_transforms import RollingMean

from features.demand_features import STATIC_COLUMNS, exogenous_columns, future_grid, with_exogenous
from training.config import DemandConfig
from training.intervals import IntervalCalibration, apply_intervals

__all__ = ["DemandForecaster", "fit_forecaster", "make_mlforecast", "model_frame"]


def make_mlforecast(config: DemandConfig) -> MLForecast:
    """An unfitted MLForecast with the config's lags, rolling means and date features."""
    first_lag = min(config.lag_list)
    date_features = ["dayofweek", "month", "dayofyear"] if config.freq == "D" else ["month", _week_of_year]
    return MLForecast(
        models={"p50": lgb.LGBMRegressor(**config.lgbm)},
        freq="D" if config.freq == "D" else "W-MON",
        lags=config.lag_list,
        lag_transforms={first_lag: [RollingMean(window_size=w) for w in config.rolling_windows]},
        date_features=date_features,
        num_threads=1,
    )


def _week_of_year(dates: pd.DatetimeIndex) -> np.ndarray:
    return dates.isocalendar().week.to_numpy().astype(int)


def model_frame(series: pd.DataFrame, feedback: pd.DataFrame | None, config: DemandConfig) -> pd.DataFrame:
    """The training frame: series (unique_id, ds, y, keys) with the exogenous features."""
    frame = with_exogenous(series, feedback, config.freq, config.h, config.use_feedback,
                           config.feedback_window_days)
    return frame[["unique_id", "ds", "y", *STATIC_COLUMNS, *exogenous_columns(config.use_feedback)]]


@dataclass
class DemandForecaster:
    """A fitted demand model: predicts p10/p50/p90 for the periods after any history it is given."""

    config: DemandConfig
    mlf: MLForecast
    calibration: IntervalCalibration
    trained_until: pd.Timestamp

    def predict(self, series: pd.DataFrame, feedback: pd.DataFrame | None, h: int | None = None) -> pd.DataFrame:
        """unique_id, ds, step, p10, p50, p90 for the `h` periods after `series` ends (no refit)."""
        h = h or self.config.h
        history = model_frame(series, feedback, self.config)
        grid = future_grid(series, self.config.freq, h)
        future = with_exogenous(grid, feedback, self.config.freq, self.config.h, self.config.use_feedback,
                                self.config.feedback_window_days)
        x_df = future[["unique_id", "ds", *exogenous_columns(self.config.use_feedback)]]
        pred = self.mlf.predict(h=h, new_df=history, X_df=x_df)
        pred["step"] = pred.groupby("unique_id").cumcount()
        return apply_intervals(pred, self.calibration, self.config.freq)[
            ["unique_id", "ds", "step", "p10", "p50", "p90"]
        ]

    def feature_importance(self) -> pd.DataFrame:
        model = self.mlf.models_["p50"]
        return (
            pd.DataFrame({"feature": model.feature_name_, "gain": model.booster_.feature_importance("gain")})
            .sort_values("gain", ascending=False, ignore_index=True)
        )


def fit_forecaster(frame: pd.DataFrame, config: DemandConfig, calibration: IntervalCalibration) -> DemandForecaster:
    """Fit on the whole model frame (history ends where the data ends)."""
    mlf = make_mlforecast(config)
    mlf.fit(frame, static_features=STATIC_COLUMNS, dropna=False)
    return DemandForecaster(config, mlf, calibration, frame["ds"].max())
