"""The global LightGBM demand model: mlforecast for lags and recursion, calibrated intervals on top.

The model's mean is, for weeks and months, mixed with simple exponential smoothing (`blend_smoothing`);
`training.intervals` turns it into p10/p50/p90. Frequencies: D, W and M (months carry no calendar features:
features/ builds calendars for days and weeks only).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlforecast import MLForecast
from mlforecast.lag_transforms import RollingMean
from statsforecast import StatsForecast
from statsforecast.models import SimpleExponentialSmoothingOptimized

from features.calendar import CALENDAR_COLUMNS, calendar_features
from features.demand_features import STATIC_COLUMNS, exogenous_columns, future_grid, with_exogenous
from training.config import DemandConfig
from training.intervals import IntervalCalibration, apply_intervals

if TYPE_CHECKING:
    from training.distributed import DaskEngine

__all__ = [
    "DemandForecaster", "average_models", "blend_smoothing", "feature_reach", "feature_spec", "fit_forecaster",
    "make_mlforecast", "model_frame", "sample_ids", "smoothing_forecast", "training_sample", "with_events_in_history",
]


MLF_FREQ = {"D": "D", "W": "W-MON", "M": "MS"}


def feature_spec(config: DemandConfig) -> dict[str, Any]:
    """The config's frequency, lags, rolling means and date features, as (Distributed)MLForecast arguments."""
    first_lag = min(config.lag_list)
    date_features = {"D": ["dayofweek", "month", "dayofyear"], "W": ["month", _week_of_year], "M": ["month"]}
    lag_transforms = {first_lag: [RollingMean(window_size=w) for w in config.rolling_list]}
    if config.freq == "D" and config.yearly_level:
        # Last year's level in the 4 weeks around this date and around the recent window: yearly seasonality
        # and growth from smoothed values, which two years of noisy single-day lag 364 cannot give.
        lag_transforms.update({350: [RollingMean(window_size=28)], 371: [RollingMean(window_size=28)]})
    return {"freq": MLF_FREQ[config.freq], "lags": config.lag_list, "lag_transforms": lag_transforms,
            "date_features": date_features[config.freq]}


def feature_reach(config: DemandConfig) -> int:
    """Periods back from a forecast's first period that its features read: the longest lag, or lag plus window."""
    spec = feature_spec(config)
    return max([*spec["lags"], *(lag + tf.window_size for lag, tfs in spec["lag_transforms"].items() for tf in tfs)])


def make_mlforecast(config: DemandConfig) -> MLForecast:
    """An unfitted MLForecast with the config's features and LightGBM (on `lgbm.n_jobs` threads, as its features)."""
    threads = config.lgbm.get("n_jobs", 1)
    return MLForecast(models={"mean": lgb.LGBMRegressor(**config.lgbm)}, num_threads=threads if threads > 0 else -1,
                      **feature_spec(config))


def average_models(pred: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """`pred` with the model columns `names` replaced by their average, `mean` (older models named theirs p50)."""
    return pred.drop(columns=names).assign(mean=pred[names].mean(axis=1))


def _week_of_year(dates: pd.DatetimeIndex) -> np.ndarray:
    return dates.isocalendar().week.to_numpy().astype(int)


def smoothing_forecast(series: pd.DataFrame, h: int, freq: str) -> pd.DataFrame:
    """unique_id, ds, ses: simple exponential smoothing (alpha fitted per series) for the `h` next periods."""
    model = SimpleExponentialSmoothingOptimized(alias="ses")
    return StatsForecast(models=[model], freq=MLF_FREQ[freq], n_jobs=1).forecast(
        df=series[["unique_id", "ds", "y"]], h=h
    )


def blend_smoothing(pred: pd.DataFrame, history: pd.DataFrame, config: DemandConfig, h: int) -> pd.DataFrame:
    """`pred` (unique_id, ds, mean) with `mean` mixed with smoothing by the config's weight."""
    weight = config.blend_weight
    if weight == 0:
        return pred
    ses = smoothing_forecast(history, h, config.freq)
    out = pred.merge(ses, on=["unique_id", "ds"], how="left")
    out["mean"] = (1 - weight) * out["mean"] + weight * out.pop("ses").clip(lower=0).fillna(out["mean"])
    return out


def _exogenous(config: DemandConfig) -> list[str]:
    # features/ builds calendar, feedback and event tables for days and weeks only; a monthly model uses lags alone.
    if config.freq == "M":
        return []
    return exogenous_columns(config.use_feedback, config.use_events, len(config.feedback_topics))


def with_events_in_history(config: DemandConfig, series: pd.DataFrame, events: pd.DataFrame | None) -> DemandConfig:
    """`config`, with `use_events` off when no registered event overlaps the history.

    The model learns an event's effect from past events only; without one the event columns are constant
    and would only change which columns LightGBM samples.
    """
    if not config.use_events:
        return config
    if events is not None and len(events):
        first, last = series["ds"].min(), series["ds"].max()
        if ((events["start"] <= last) & (events["end"] >= first)).any():
            return config
    return replace(config, use_events=False)


def _calendar(ds: pd.Series, freq: str, country: str) -> pd.DataFrame:
    """Calendar columns of each row's period in `country` (days; for weeks, as features.demand_features sums)."""
    if freq == "D":
        return calendar_features(ds, country)
    days = pd.DatetimeIndex(ds.unique())
    offsets = np.repeat(days, 7) + pd.to_timedelta(np.tile(np.arange(7), len(days)), unit="D")
    daily = calendar_features(offsets, country).assign(week=np.repeat(days, 7))
    weekly = daily.groupby("week").agg({"is_holiday": "sum", "is_day_off": "sum", "after_break": "max",
                                        "before_holiday": "max", "break_length": "max"})
    return weekly.reindex(pd.DatetimeIndex(ds)).reset_index(drop=True)


def _exogenous_frame(frame: pd.DataFrame, feedback: pd.DataFrame | None, config: DemandConfig,
                     events: pd.DataFrame | None = None) -> pd.DataFrame:
    """`frame` (unique_id, ds, key columns[, y]) with the config's exogenous columns, keys as categories."""
    if config.freq == "M":
        return frame.astype({c: "category" for c in STATIC_COLUMNS})
    out = with_exogenous(frame, feedback, config.freq, config.h, config.use_feedback, config.feedback_window_days,
                         events, config.use_events, config.feedback_topics)
    if config.country != "RU":
        # features.demand_features builds Russia's calendar; until it takes a country, replace the columns here.
        out[CALENDAR_COLUMNS] = _calendar(out["ds"], config.freq, config.country)[CALENDAR_COLUMNS].to_numpy()
    return out


def sample_ids(ids: np.ndarray | pd.Series, max_series: int | None, seed: int = 0) -> np.ndarray | None:
    """A seeded random sample of at most `max_series` of the distinct series `ids` (None: no sample needed).

    The same ids give the same sample, whether they come from a frame or from the store's list of series
    (`store.reads.load_series_spans`), so a run can read only the sampled series.
    """
    ids = pd.unique(np.asarray(ids, dtype=object))
    if max_series is None or len(ids) <= max_series:
        return None
    return np.random.default_rng(seed).choice(np.sort(ids), size=max_series, replace=False)


def training_sample(series: pd.DataFrame, max_series: int | None, seed: int = 0) -> pd.DataFrame:
    """`series` of at most `max_series` series (a seeded random sample, the same for the same ids; None: all).

    The global model's fit: trees learn shapes shared across series, which a large sample already shows;
    every series is still forecast from its own history.
    """
    chosen = sample_ids(series["unique_id"].unique(), max_series, seed)
    if chosen is None:
        return series
    return series[series["unique_id"].isin(chosen)].reset_index(drop=True)


def model_frame(series: pd.DataFrame, feedback: pd.DataFrame | None, config: DemandConfig,
                events: pd.DataFrame | None = None) -> pd.DataFrame:
    """The training frame: series (unique_id, ds, y, keys) with the exogenous features."""
    frame = _exogenous_frame(series, feedback, config, events)
    return frame[["unique_id", "ds", "y", *STATIC_COLUMNS, *_exogenous(config)]]


@dataclass
class DemandForecaster:
    """A fitted demand model: predicts p10/p50/p90 for the periods after any history it is given."""

    config: DemandConfig
    mlf: MLForecast
    calibration: IntervalCalibration
    trained_until: pd.Timestamp

    def predict(self, series: pd.DataFrame, feedback: pd.DataFrame | None, h: int | None = None,
                events: pd.DataFrame | None = None) -> pd.DataFrame:
        """unique_id, ds, step, p10, p50, p90 and mean for the `h` periods after `series` ends (no refit).

        p50 is the calibrated median; `mean` is the model's expected value (sum it, not p50, across series).
        `events` are the registered events, future ones included (read only if the config uses events).
        """
        h = h or self.config.h
        history = model_frame(series, feedback, self.config, events)
        x_df = None
        if _exogenous(self.config):
            future = _exogenous_frame(future_grid(series, self.config.freq, h), feedback, self.config, events)
            x_df = future[["unique_id", "ds", *_exogenous(self.config)]]
        pred = self.mlf.predict(h=h, new_df=history, X_df=x_df)
        pred = average_models(pred, list(self.mlf.models_))
        pred = blend_smoothing(pred, series, self.config, h)
        pred["step"] = pred.groupby("unique_id").cumcount()
        return apply_intervals(pred, self.calibration, self.config.freq)[
            ["unique_id", "ds", "step", "p10", "p50", "p90", "mean"]
        ]

    def feature_importance(self) -> pd.DataFrame:
        model = next(iter(self.mlf.models_.values()))
        return (
            pd.DataFrame({"feature": model.feature_name_, "gain": model.booster_.feature_importance("gain")})
            .sort_values("gain", ascending=False, ignore_index=True)
        )


def fit_forecaster(frame: pd.DataFrame, config: DemandConfig, calibration: IntervalCalibration,
                   dask: DaskEngine | None = None) -> DemandForecaster:
    """Fit on the whole model frame (history ends where the data ends); on the Dask cluster when one is given.

    Either way the forecaster holds a local `MLForecast` (the distributed one is converted after fitting).
    """
    if dask is not None:
        from training.distributed import fit_distributed

        mlf = fit_distributed(frame, config, dask)
    else:
        mlf = make_mlforecast(config)
        mlf.fit(frame, static_features=STATIC_COLUMNS, dropna=False)
    return DemandForecaster(config, mlf, calibration, frame["ds"].max())
