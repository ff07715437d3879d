"""Why a forecast is what it is: LightGBM's own contributions (`pred_contrib`), grouped by feature family.

The demand model predicts on the log scale (Tweedie), so a feature's contribution is first additive in logs.
Each period's expected value is split back into counts in proportion to the log contributions, so that
`baseline + sum(drivers) == mean` exactly (up to rounding): `baseline` is what the model predicts before any
feature speaks; for weeks and months the share mixed in from exponential smoothing is its own driver.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pandas as pd

from features.demand_features import STATIC_COLUMNS, future_grid
from features.series import split_series_id
from training.demand_model import (
    DemandForecaster,
    _exogenous,
    _exogenous_frame,
    average_models,
    blend_smoothing,
    model_frame,
)

__all__ = ["FAMILIES", "event_effects", "family_of", "forecast_drivers"]

FAMILIES = {
    "day_of_week": ("день недели", "day of week"),
    "season": ("время года", "season"),
    "holiday": ("праздники и выходные", "holidays and days off"),
    "event": ("зарегистрированные события", "registered events"),
    "recent_level": ("недавний уровень и тренд", "recent level and trend"),
    "last_year": ("уровень прошлого года", "last year's level"),
    "feedback": ("сигнал отзывов", "feedback signal"),
    "series": ("услуга, сегмент, регион", "service, segment and region"),
    "smoothing": ("сглаживание уровня", "level smoothing"),
}
"""Feature families with their names in Russian and English."""

_YEAR_LAGS = {"D": (350, 364, 371), "W": (52,), "M": (12,)}


def family_of(feature: str, freq: str = "D") -> str:
    """The family of one model feature (by its name as mlforecast and features/ build it)."""
    if feature in ("service", "segment", "region"):
        return "series"
    if feature.startswith("event"):
        return "event"
    if feature.startswith(("fb_", "topic_")):
        return "feedback"
    if feature == "dayofweek":
        return "day_of_week"
    if feature in ("month", "dayofyear") or feature.startswith("_week") or "week" in feature:
        return "season"
    if feature.startswith(("lag", "rolling")):
        lags = [int(n) for n in re.findall(r"lag(\d+)", feature)]
        return "last_year" if lags and lags[0] in _YEAR_LAGS.get(freq, ()) else "recent_level"
    return "holiday"  # the calendar columns: is_holiday, is_day_off, after_break, before_holiday, break_length


def forecast_drivers(forecaster: DemandForecaster, series: pd.DataFrame, feedback: pd.DataFrame | None = None,
                     events: pd.DataFrame | None = None) -> pd.DataFrame:
    """service, segment, region, date, mean, baseline and one column per family for the `h` periods after
    `series` (the same history `DemandForecaster.predict` takes; no refit)."""
    config, h = forecaster.config, forecaster.config.h
    history = model_frame(series, feedback, config, events)
    x_df = None
    if _exogenous(config):
        future = _exogenous_frame(future_grid(series, config.freq, h), feedback, config, events)
        x_df = future[["unique_id", "ds", *_exogenous(config)]]
    model = next(iter(forecaster.mlf.models_.values()))
    steps: list[np.ndarray] = []
    names: list[str] = []

    def capture(features: pd.DataFrame) -> pd.DataFrame:
        names[:] = list(features.columns)
        steps.append(np.asarray(model.predict(features, pred_contrib=True)))
        return features

    pred = forecaster.mlf.predict(h=h, new_df=history, X_df=x_df, before_predict_callback=capture)
    pred = average_models(pred, list(forecaster.mlf.models_)).sort_values(["unique_id", "ds"], ignore_index=True)
    # Rows of step k are the series in mlforecast's order (sorted ids): to (series, step) like `pred`.
    contrib = np.stack(steps, axis=1).reshape(-1, len(names) + 1)
    log_parts, bias = contrib[:, :-1], contrib[:, -1]
    model_mean = np.exp(bias + log_parts.sum(axis=1))
    blended = blend_smoothing(pred[["unique_id", "ds", "mean"]].copy(), series, config, h)
    weight = config.blend_weight
    families = sorted({family_of(n, config.freq) for n in names})
    counts = _counts(log_parts, bias) * (1 - weight)
    out = pd.concat([split_series_id(pred["unique_id"]), pred[["ds"]]], axis=1).rename(columns={"ds": "date"})
    out["mean"] = blended["mean"].to_numpy()
    out["baseline"] = (1 - weight) * np.exp(bias)
    for family in families:
        cols = [i for i, n in enumerate(names) if family_of(n, config.freq) == family]
        out[family] = counts[:, cols].sum(axis=1)
    if weight > 0:
        out["smoothing"] = out["mean"] - (1 - weight) * model_mean
    return out


def _counts(log_parts: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Log-scale contributions turned into counts that add up to `exp(bias + sum) - exp(bias)` per row."""
    total = log_parts.sum(axis=1)
    share = np.divide(log_parts, total[:, None], out=np.zeros_like(log_parts), where=total[:, None] != 0)
    return share * (np.exp(bias + total) - np.exp(bias))[:, None]


def event_effects(forecaster: DemandForecaster, series: pd.DataFrame, events: pd.DataFrame,
                  feedback: pd.DataFrame | None = None) -> pd.DataFrame:
    """What the model learned each registered event did: over the event's days in the history of the series it
    touches, the requests the event features account for (`effect`) next to the actual requests (`actual`).

    Rows: the events' own columns plus `days_seen` (event days inside the history), `series`, `effect`,
    `actual`. An event after the history, or a model without event features, has `effect` NaN.
    """
    out = events.copy()
    out["days_seen"], out["series"], out["effect"], out["actual"] = 0, 0, np.nan, np.nan
    if not forecaster.config.use_events or events.empty or series.empty:
        return out
    frame = model_frame(series, feedback, forecaster.config, events)
    mlf = copy.deepcopy(forecaster.mlf)  # preprocess resets the state the forecaster predicts from
    features = mlf.preprocess(frame, static_features=STATIC_COLUMNS, dropna=False)
    model = next(iter(forecaster.mlf.models_.values()))
    names = list(model.feature_name_)
    contrib = np.asarray(model.predict(features[names], pred_contrib=True))
    counts = _counts(contrib[:, :-1], contrib[:, -1])
    event_cols = [i for i, n in enumerate(names) if family_of(n, forecaster.config.freq) == "event"]
    rows = features[["unique_id", "ds", "y", *STATIC_COLUMNS]].assign(effect=counts[:, event_cols].sum(axis=1))
    step = pd.Timedelta(days=7 if forecaster.config.freq == "W" else 1)
    for index, ev in out.iterrows():
        touched = np.ones(len(rows), bool)
        for column, values in (("service", ev["services"]), ("segment", ev["segments"]),
                               ("region", ev.get("regions") or [])):
            if values:
                touched &= rows[column].astype(str).isin(values).to_numpy()
        inside = touched & (rows["ds"] + step > ev["start"]).to_numpy() & (rows["ds"] <= ev["end"]).to_numpy()
        if not inside.any():
            continue
        part = rows[inside]
        out.loc[index, ["days_seen", "series", "effect", "actual"]] = [
            int(part["ds"].nunique()), int(part["unique_id"].nunique()), float(part["effect"].sum()),
            float(part["y"].sum())]
    return out
