"""Forecast quality levers: calibrated median and intervals, monthly models, holiday calendars, smoothing blend."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from features.contract import SERIES_KEY
from features.series import series_frame, series_id
from tests.conftest import make_usage
from training.backtest import run_backtest
from training.config import DemandConfig
from training.demand_model import blend_smoothing, fit_forecaster, model_frame, smoothing_forecast
from training.intervals import apply_intervals, fit_intervals

SMALL = {"objective": "tweedie", "n_estimators": 60, "learning_rate": 0.1, "num_leaves": 15, "verbosity": -1,
         "random_state": 0, "n_jobs": 1}


def _poisson_rows(n: int, seed: int, steps: int = 28) -> pd.DataFrame:
    """Backtest-like rows: a known Poisson mean per row (from 0.05 to 40) and a draw from it."""
    rng = np.random.default_rng(seed)
    mean = np.exp(rng.uniform(np.log(0.05), np.log(40), n))
    return pd.DataFrame({"step": rng.integers(0, steps, n), "mean": mean, "y": rng.poisson(mean).astype(float)})


def test_p50_is_the_median_of_low_counts_and_coverage_is_nominal_out_of_sample() -> None:
    calibration = fit_intervals(_poisson_rows(20_000, seed=1), "D", (0.1, 0.9))
    held = apply_intervals(_poisson_rows(20_000, seed=2), calibration, "D")
    coverage = ((held["y"] >= held["p10"]) & (held["y"] <= held["p90"])).mean()
    assert 0.75 <= coverage <= 0.92
    low = held[held["mean"] < 0.3]
    assert (low["p50"] < 0.5 * low["mean"]).mean() > 0.9  # Poisson(< 0.69) has median 0
    high = held[held["mean"] > 20]
    assert np.allclose(high["p50"], high["mean"], rtol=0.1)
    # On low counts the median beats the mean on absolute error, which is what WAPE sums.
    few = held[held["mean"] < 2]
    assert (few["y"] - few["p50"]).abs().sum() < 0.92 * (few["y"] - few["mean"]).abs().sum()
    # Level bins keep coverage nominal for small and large counts alike, not only on average.
    inside = (held["y"] >= held["p10"]) & (held["y"] <= held["p90"])
    by_level = inside.groupby(pd.cut(held["mean"], [0, 1, 5, 50])).mean()
    assert by_level.between(0.72, 0.88).all()
    assert ((held["p10"] <= held["p50"]) & (held["p50"] <= held["p90"]) & (held["p10"] >= 0)).all()


def test_intervals_widen_with_the_horizon() -> None:
    rows = _poisson_rows(20_000, seed=3)
    rows["y"] = np.clip(rows["y"] + np.random.default_rng(4).normal(0, 0.3 * rows["step"]), 0, None)
    calibration = fit_intervals(rows, "D", (0.1, 0.9))
    width = (calibration["q_hi"] - calibration["q_lo"]).groupby(calibration["block"]).mean()
    assert width.is_monotonic_increasing and width.iloc[-1] > 2 * width.iloc[0]


def test_a_small_panel_pools_horizon_blocks_to_keep_bins_of_the_mean() -> None:
    """Weekly rows of a small panel: 2-week blocks would hold one bin of the mean each, so large and small
    series would share one scaled spread; merged, the largest counts get their own (wider) cell and cover."""
    rng = np.random.default_rng(6)
    rows = _poisson_rows(1_000, seed=6, steps=8)
    rows["y"] = rng.negative_binomial(4, 4 / (4 + rows["mean"])).astype(float)  # spread grows faster than the mean
    calibration = fit_intervals(rows, "W", (0.1, 0.9))
    assert calibration["block"].nunique() == 1 and len(calibration) >= 4
    held = _poisson_rows(4_000, seed=7, steps=8)
    held["y"] = rng.negative_binomial(4, 4 / (4 + held["mean"])).astype(float)
    large = apply_intervals(held, calibration, "W").query("mean > 20")
    assert 0.72 <= ((large["y"] >= large["p10"]) & (large["y"] <= large["p90"])).mean() <= 0.88
    # A panel with rows enough keeps a cell per 2-week block.
    assert fit_intervals(_poisson_rows(20_000, seed=8, steps=8), "W", (0.1, 0.9))["block"].nunique() == 4


def _monthly_series(n_series: int = 12, months: int = 72) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    ds = pd.date_range("2015-01-01", periods=months, freq="MS")
    parts = []
    for i in range(n_series):
        level = rng.uniform(5, 60) * (1 + 0.3 * np.sin(2 * np.pi * ds.month / 12)) * np.linspace(1, 1.5, months)
        parts.append(pd.DataFrame({"ds": ds, "y": rng.poisson(level).astype(float), "service": f"svc{i % 4}",
                                   "segment": f"seg{i // 4}", "region": "all"}))
    frame = pd.concat(parts, ignore_index=True)
    frame["unique_id"] = series_id(frame)
    return frame[["unique_id", "ds", "y", *SERIES_KEY]]


def test_monthly_models_backtest_fit_and_predict_month_starts() -> None:
    config = DemandConfig(freq="M", backtest_windows=2, use_feedback=False, lgbm=SMALL)
    series = _monthly_series()
    frame = model_frame(series, None, config)
    result = run_backtest(frame, config)
    assert config.h == 6 and config.season == 12
    assert result.cv["cutoff"].nunique() == 2 and result.naive_metrics["wape"] > 0
    # Seasonal naive looks 12 months back from each backtest month.
    row = result.cv.iloc[0]
    source = series[(series["unique_id"] == row["unique_id"]) & (series["ds"] == row["ds"] - pd.DateOffset(months=12))]
    assert row["naive"] == source["y"].item()
    pred = fit_forecaster(frame, config, result.calibration).predict(series, None)
    assert len(pred) == 6 * series["unique_id"].nunique()
    assert pred["ds"].dt.is_month_start.all() and pred["ds"].min() == series["ds"].max() + pd.DateOffset(months=1)
    assert ((pred["p10"] <= pred["p50"]) & (pred["p50"] <= pred["p90"])).all()


def test_calendar_follows_the_configured_country() -> None:
    usage = make_usage(days=60, end="2026-07-31", services=1, segments=1)
    series = series_frame(usage)
    us = model_frame(series, None, DemandConfig(country="US", use_feedback=False)).set_index("ds")
    ru = model_frame(series, None, DemandConfig(country="RU", use_feedback=False)).set_index("ds")
    july4 = pd.Timestamp("2026-07-03")  # Independence Day 2026 is a Saturday, observed on Friday the 3rd
    assert us.loc[july4, "is_holiday"] == 1 and ru.loc[july4, "is_holiday"] == 0
    weekly = model_frame(series_frame(usage, "W"), None, DemandConfig(freq="W", country="US", use_feedback=False))
    assert weekly.set_index("ds").loc[pd.Timestamp("2026-06-29"), "is_holiday"] >= 1


def test_weekly_mean_blends_exponential_smoothing_by_its_weight() -> None:
    series = series_frame(make_usage(days=420, services=2, segments=1), "W")
    last = series["ds"].max()
    pred = pd.DataFrame({"unique_id": series["unique_id"].unique()}).merge(
        pd.DataFrame({"ds": [last + pd.Timedelta(weeks=k) for k in (1, 2)]}), how="cross").assign(mean=100.0)
    ses = smoothing_forecast(series, 2, "W").set_index(["unique_id", "ds"])["ses"]
    config = DemandConfig(freq="W")
    assert config.blend_weight == 0.3 and DemandConfig().blend_weight == 0.0
    blended = blend_smoothing(pred, series, config, 2).set_index(["unique_id", "ds"])["mean"]
    assert np.allclose(blended, 0.7 * 100 + 0.3 * ses.reindex(blended.index))
    assert blend_smoothing(pred, series, replace(config, smoothing_weight=0.0), 2)["mean"].eq(100).all()


def test_new_settings_survive_the_mlflow_params_round_trip() -> None:
    config = DemandConfig(freq="W", country="US", smoothing_weight=0.2, yearly_level=False)
    back = DemandConfig.from_params({k: str(v) for k, v in config.as_params().items()})
    assert (back.country, back.blend_weight, back.yearly_level, back.rolling_list) == ("US", 0.2, False, [4, 13, 52])
    with pytest.raises(ValueError):
        DemandConfig(smoothing_weight=1.5)
