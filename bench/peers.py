"""The peers needcast is measured against: seasonal naive, statsforecast's AutoETS, AutoTheta, AutoARIMA and
their median, mlforecast + LightGBM, and neuralforecast's NHITS (a small global network on CPU).

Each peer fits on a case's history and predicts its `h` held-out periods with 80% intervals; the result
is a frame `unique_id, ds, p10, p50, p90` plus the seconds fit and predict took together. The median
ensemble takes the median of the three statistical models' p10, p50 and p90; its seconds are their sum.
A fit can be kept in a folder (`FitStore`) and read back by a later run on the same history, so a long case
runs in several short sittings.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from mlforecast import MLForecast
from mlforecast.lag_transforms import RollingMean
from mlforecast.utils import PredictionIntervals
from statsforecast import StatsForecast
from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, SeasonalNaive

from bench.peer_cases import Case

__all__ = ["PEERS", "FitStore", "PeerResult", "run_peer"]

LEVEL = 80
# AutoTheta and AutoARIMA see the last two years of a daily history and three of a weekly one (their fit time
# grows fast with its length: AutoTheta on 9 years of NYC days had not finished after 15 minutes on the shared
# machine), all of a monthly one.
RECENT = {"D": 730, "W": 156, "M": None}
ARIMA_RECENT = {"D": 365, "W": 156, "M": None}
NHITS_STEPS = 300  # small on purpose: a CPU budget of tens of seconds per case
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


def _stats_model(case: Case, model, periods: int | None = None) -> PeerResult:
    """A statsforecast model on the history (its last `periods` per series, if given)."""
    df = case.history[["unique_id", "ds", "y"]]
    if periods is not None:
        df = df.groupby("unique_id", observed=True).tail(periods)
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


def auto_theta(case: Case, threads: int) -> PeerResult:
    return _stats_model(case, AutoTheta(season_length=case.season), RECENT[case.freq])


def auto_arima(case: Case, threads: int) -> PeerResult:
    """AutoARIMA restricted to fit in a benchmark run: approximate likelihood in the order search, p, q <= 2.

    Days: the last year; weeks: no seasonal part (a period of 52 had not finished 31 series in 12 minutes on the
    shared machine; the yearly shape is AutoTheta's); months: the whole history with the 12-month season.
    """
    season = 1 if case.freq == "W" else case.season
    model = AutoARIMA(season_length=season, approximation=True, max_p=2, max_q=2)
    return _stats_model(case, model, ARIMA_RECENT[case.freq])


def median_of(parts: list[PeerResult]) -> PeerResult:
    """The median of several peers' predictions, quantile by quantile; its seconds are the sum of theirs."""
    keyed = [p.pred.set_index(["unique_id", "ds"])[["p10", "p50", "p90"]] for p in parts]
    stacked = np.stack([k.reindex(keyed[0].index).to_numpy() for k in keyed])
    pred = pd.DataFrame(np.median(stacked, axis=0), index=keyed[0].index, columns=["p10", "p50", "p90"])
    seconds = sum(p.seconds for p in parts)
    return PeerResult(pred.reset_index(), seconds, seconds)


def nhits(case: Case, threads: int) -> PeerResult:
    """NHITS from neuralforecast: one small network over all series, CPU, 80% band from a multi-quantile loss."""
    import logging

    import torch
    from neuralforecast import NeuralForecast
    from neuralforecast.losses.pytorch import MQLoss
    from neuralforecast.models import NHITS

    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    torch.set_num_threads(max(1, threads))
    df = case.history[["unique_id", "ds", "y"]]
    input_size = min(max(2 * case.h, 2 * case.season if case.season <= 52 else 2 * case.h), 104)
    model = NHITS(h=case.h, input_size=input_size, loss=MQLoss(level=[LEVEL]), max_steps=NHITS_STEPS,
                  scaler_type="robust", mlp_units=[[128, 128]] * 3, batch_size=32, windows_batch_size=256,
                  random_seed=0, accelerator="cpu", enable_progress_bar=False, enable_model_summary=False,
                  logger=False, enable_checkpointing=False, start_padding_enabled=True)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nf = NeuralForecast(models=[model], freq=case.mlf_freq)
        nf.fit(df=df)
        fit_seconds = time.perf_counter() - started
        pred = nf.predict()
    seconds = time.perf_counter() - started
    pred = pred.rename(columns={"NHITS-median": "p50", f"NHITS-lo-{LEVEL}": "p10", f"NHITS-hi-{LEVEL}": "p90"})
    pred[["p10", "p50", "p90"]] = np.sort(pred[["p10", "p50", "p90"]].clip(lower=0).to_numpy(), axis=1)
    return PeerResult(pred[["unique_id", "ds", "p10", "p50", "p90"]], seconds, fit_seconds)


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


FITS: dict[str, Callable[[Case, int], PeerResult]] = {
    "seasonal naive": seasonal_naive,
    "AutoETS": auto_ets,
    "AutoTheta": auto_theta,
    "AutoARIMA": auto_arima,
    "mlforecast + LightGBM": mlforecast_lgbm,
    "NHITS": nhits,
}
ENSEMBLES = {"median of ETS+Theta+ARIMA": ("AutoETS", "AutoTheta", "AutoARIMA")}
PEERS = ("seasonal naive", "AutoETS", "AutoTheta", "AutoARIMA", "median of ETS+Theta+ARIMA", "mlforecast + LightGBM",
         "NHITS")


@dataclass(frozen=True)
class FitStore:
    """A folder of fits on one case's history: `{name}.parquet` per frame and `{name}.json` (seconds, history key).

    A fit is read back only where its key is the case's (same series, periods and values, same `h`); it is
    written as soon as it is done, so a run stopped part-way resumes after the last finished fit. Clear the
    folder when a model's code or settings change.
    """

    folder: Path

    def load(self, name: str, key: str) -> tuple[dict[str, pd.DataFrame], dict] | None:
        meta_path = self.folder / f"{name}.json"
        if not meta_path.exists():
            return None
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("key") != key:
            return None
        return {part: pd.read_parquet(self.folder / f"{name}.{part}.parquet") for part in meta["frames"]}, meta

    def save(self, name: str, key: str, frames: dict[str, pd.DataFrame], **meta: object) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"{name}.json").unlink(missing_ok=True)  # an older fit's frames are being replaced
        for part, frame in frames.items():
            frame.to_parquet(self.folder / f"{name}.{part}.parquet", index=False)
        text = json.dumps({"key": key, "frames": list(frames), **meta})
        (self.folder / f"{name}.json").write_text(text, encoding="utf-8")  # last: a fit without it is not read


_MEMO: dict[tuple[str, str], PeerResult] = {}  # this process's fits: the median ensemble reuses its parts


def run_peer(name: str, case: Case, threads: int, store: FitStore | None = None) -> PeerResult:
    """One peer's held-out predictions on the case: from this run, from `store`, or fitted now (and stored)."""
    key = case.history_key()
    if (key, name) in _MEMO:
        return _MEMO[(key, name)]
    if name in ENSEMBLES:
        result = median_of([run_peer(part, case, threads, store) for part in ENSEMBLES[name]])
    elif store is not None and (kept := store.load(name, key)) is not None:
        frames, meta = kept
        result = PeerResult(frames["pred"], meta["seconds"], meta["fit_seconds"])
    else:
        result = FITS[name](case, threads)
        if store is not None:
            store.save(name, key, {"pred": result.pred}, seconds=result.seconds, fit_seconds=result.fit_seconds)
    if len(_MEMO) > 32:
        _MEMO.clear()
    _MEMO[(key, name)] = result
    return result
