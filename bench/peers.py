"""The peers needcast is measured against: seasonal naive, AutoETS (statsforecast) and mlforecast + LightGBM.

Each peer fits on a case's history and predicts its `h` held-out periods with 80% intervals; the result
is a frame `unique_id, ds, p10, p50, p90` plus the seconds fit and predict took together.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlforecast import MLForecast
from mlforecast.lag_transforms import RollingMean
from mlforecast.utils import PredictionIntervals
from statsforecast import StatsForecast
from statsforecast.models import AutoETS, SeasonalNaive

from bench.peer_cases import Case

__all__ = ["PEERS", "PeerResult", "run_peer"]

LEVEL = 80
# A practitioner's default global LightGBM per frequency: lags, rolling means on the first lag, date parts.
MLF_SETUP = {
    "D": ([7, 14, 21, 28, 364], [7, 28], ["dayofweek", "month", "dayofyear"]),
    "W": ([1, 2, 4, 8, 52], [4, 8], ["month", "week_of_year"]),
    "M": ([1, 2, 3, 6, 12], [3, 6], ["month"]),
}


def week_of_year(dates: pd.DatetimeIndex) -> np.ndarray:
    return dates.isocalendar().week.to_numpy().astype(int)


@dataclass
class PeerResult:
    """Held-out predictions (unique_id, ds, p10, p50, p90) and fit+predict seconds."""

    pred: pd.DataFrame
    seconds: float
    fit_seconds: float


def _stats_model(case: Case, model) -> PeerResult:
    df = case.history[["unique_id", "ds", "y"]]
    started = time.perf_counter()
    sf = StatsForecast(models=[model], freq=case.mlf_freq, n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = sf.forecast(df=df, h=case.h, level=[LEVEL])
    seconds = time.perf_counter() - started
    name = str(model)
    pred = pred.rename(columns={name: "p50", f"{name}-lo-{LEVEL}": "p10", f"{name}-hi-{LEVEL}": "p90"})
    return PeerResult(pred[["unique_id", "ds", "p10", "p50", "p90"]], seconds, seconds)


def seasonal_naive(case: Case, threads: int) -> PeerResult:
    return _stats_model(case, SeasonalNaive(season_length=case.season))


def auto_ets(case: Case, threads: int) -> PeerResult:
    # statsforecast fits no seasonal component for season_length > 24 (weekly data): it falls back to ZZN.
    return _stats_model(case, AutoETS(season_length=case.season))


def mlforecast_lgbm(case: Case, threads: int) -> PeerResult:
    """mlforecast's recursive LightGBM with conformal intervals from two windows per series."""
    lags, windows, names = MLF_SETUP[case.freq]
    date_features = [week_of_year if n == "week_of_year" else n for n in names]
    df = case.history[["unique_id", "ds", "y"]]
    started = time.perf_counter()
    mlf = MLForecast(
        models={"lgbm": lgb.LGBMRegressor(verbosity=-1, random_state=0, n_jobs=threads)},
        freq=case.mlf_freq, lags=lags,
        lag_transforms={lags[0]: [RollingMean(window_size=w) for w in windows]},
        date_features=date_features, num_threads=1,
    )
    mlf.fit(df, prediction_intervals=PredictionIntervals(n_windows=2, h=case.h))
    fit_seconds = time.perf_counter() - started
    pred = mlf.predict(case.h, level=[LEVEL])
    seconds = time.perf_counter() - started
    pred = pred.rename(columns={"lgbm": "p50", f"lgbm-lo-{LEVEL}": "p10", f"lgbm-hi-{LEVEL}": "p90"})
    return PeerResult(pred[["unique_id", "ds", "p10", "p50", "p90"]], seconds, fit_seconds)


PEERS = {
    "seasonal naive": seasonal_naive,
    "AutoETS": auto_ets,
    "mlforecast + LightGBM": mlforecast_lgbm,
}


def run_peer(name: str, case: Case, threads: int) -> PeerResult:
    return PEERS[name](case, threads)
