"""What-if scenarios: the champion's forecast of a selection with and without a planned event, on demand.

No retraining: the fitted champion predicts twice from the same history, once with the registered events and
once with the hypothetical one added. The difference is what the model learned from past events; a champion
trained without event features (no registered event touched its history) cannot show any, and says so.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from sqlalchemy import Engine

from features.demand_features import future_grid
from features.events import Event
from features.series import series_frame, split_series_id
from forecast.aggregate import aggregate
from training.config import DemandConfig
from training.demand_model import (
    DemandForecaster,
    _exogenous,
    _exogenous_frame,
    average_models,
    blend_smoothing,
    feature_spec,
    model_frame,
)
from training.intervals import apply_intervals

__all__ = ["ChampionForecaster", "Scenario", "events_with", "predict_pair", "prediction_history",
           "selection_inputs", "what_if"]

_VALUES = ["p10", "p50", "p90", "mean"]
_COPY = "\x1e"  # marks the unique_id of a series' copy that sees the hypothetical event (not in contract ids)


@dataclass
class ChampionForecaster:
    """The fitted champion of one serving process, loaded from the registry once per version."""

    client: MlflowClient
    _version: str | None = None
    _forecaster: DemandForecaster | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, version: str) -> DemandForecaster:
        """The forecaster of `version` (the live one), loaded on first use."""
        from forecast.served import load_champion_forecaster

        with self._lock:
            if self._version != version or self._forecaster is None:
                loaded = load_champion_forecaster(self.client)
                if loaded is None:
                    raise LookupError("no champion model yet: run `needcast train` first")
                info, forecaster = loaded
                if str(info.version) != str(version):
                    raise LookupError(f"the champion moved to v{info.version}; retry in a moment")
                self._version, self._forecaster = str(version), forecaster
            return self._forecaster


@dataclass
class Scenario:
    """A selection's forecast without and with the event, per series and summed over the selection."""

    without: pd.DataFrame  # service, segment, region, date, p10, p50, p90, mean
    with_event: pd.DataFrame
    event_aware: bool  # False: the champion has no event features, so both are the same

    def totals(self, keep: list[str], dependence=None) -> pd.DataFrame:
        """date, p10/p50/p90/mean without and with (suffixes `_without`, `_with`), summed over the selection.

        `keep`: the keys the selection fixed (one value each), so the totals are the served aggregate's level;
        `dependence`: the served model's, as `forecast.aggregate` combines intervals of totals.
        """
        parts = [aggregate(frame, keep=keep, dependence=dependence).set_index("date")[_VALUES].add_suffix(suffix)
                 for frame, suffix in ((self.without, "_without"), (self.with_event, "_with"))]
        return parts[0].join(parts[1]).reset_index()


def selection_inputs(engine: Engine, forecaster: DemandForecaster, service: str | None = None,
                     segment: str | None = None, region: str | None = None
                     ) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """The stored usage of the series matching the filters, and the feedback and events the champion reads.

    A series that went quiet gets a zero on the last day of all usage, so every forecast starts where the
    served ones do. Feedback topic shares (which need the encoder) are left missing, the same on every side.
    """
    from datetime import date

    from sqlalchemy import func, select

    from forecast.history import recent_actuals
    from store import tables
    from store.reads import load_events, load_feedback

    usage = recent_actuals(engine, date(1, 1, 1), service, segment, region)
    with engine.connect() as conn:
        last = pd.Timestamp(conn.execute(select(func.max(tables.usage.c.date))).scalar())
    if len(usage) and usage["date"].max() < last:
        usage = pd.concat([usage, usage.tail(1).assign(date=last, count=0.0)], ignore_index=True)
    feedback = None
    if forecaster.config.use_feedback:
        feedback = load_feedback(engine, ["created_at", "segment", "service", "rating"])
        if forecaster.config.feedback_topics:
            feedback = feedback.assign(topic=np.nan)
    events = load_events(engine) if forecaster.config.use_events else None
    return usage, feedback, events


def events_with(events: pd.DataFrame | None, event: Event) -> pd.DataFrame:
    """`events` (store.reads.load_events' frame) with `event` added."""
    row = pd.DataFrame([{"name": event.name, "kind": event.kind.value, "start": pd.Timestamp(event.start),
                         "end": pd.Timestamp(event.end), "services": list(event.services),
                         "segments": list(event.segments), "regions": list(event.regions)}])
    if events is None or events.empty:
        return row
    return pd.concat([events, row], ignore_index=True)


def _reach_days(config: DemandConfig) -> int | None:
    """Days of history a daily forecast reads (its longest lag, or lag plus rolling window), with a week to
    spare; None where more history changes the answer (smoothing fitted on all of it, other frequencies)."""
    if config.freq != "D" or config.blend_weight != 0:
        return None
    spec = feature_spec(config)
    reach = max([*spec["lags"], *(lag + tf.window_size for lag, tfs in spec["lag_transforms"].items() for tf in tfs)])
    return reach + 7


def prediction_history(usage: pd.DataFrame, config: DemandConfig, data_until: pd.Timestamp) -> pd.DataFrame:
    """`usage` cut to the days the forecast reads, the same forecast: older rows only feed lags it never asks.

    A series begun before the cut gets a zero on its first day, so it still runs (zero-filled) from there,
    as it did in the whole history; the features of a year-old lag are then computed on 400 days, not on
    every stored year.
    """
    reach = _reach_days(config)
    if reach is None:
        return usage
    start = pd.Timestamp(data_until).normalize() - pd.Timedelta(days=reach)
    old = usage["date"] < start
    if not old.any():
        return usage
    begun = usage.loc[old, ["service", "segment", "region"]].drop_duplicates().assign(date=start, count=0.0)
    return pd.concat([begun, usage[~old]], ignore_index=True)


def what_if(forecaster: DemandForecaster, usage: pd.DataFrame, events: pd.DataFrame | None, event: Event,
            service: str | None = None, segment: str | None = None, region: str | None = None,
            feedback: pd.DataFrame | None = None) -> Scenario:
    """Forecasts of the series matching the filters, without and with `event` (daily usage in, no refit).

    Series are cut to the filters before predicting, so one segment answers in well under a second; the
    history still ends where all the data ends, as in the served forecasts.
    """
    data_until = usage["date"].max()
    mask = np.ones(len(usage), bool)
    for column, value in (("service", service), ("segment", segment), ("region", region)):
        if value is not None:
            mask &= (usage[column] == value).to_numpy()
    selected = usage[mask]
    if selected.empty:
        raise LookupError("no usage for this selection")
    selected = prediction_history(selected, forecaster.config, data_until)
    series = series_frame(selected, forecaster.config.freq, data_until=data_until)
    fb = feedback if forecaster.config.use_feedback else None
    without, with_event = predict_pair(forecaster, series, fb, events, events_with(events, event))
    return Scenario(without, with_event, bool(forecaster.config.use_events))


def predict_pair(forecaster: DemandForecaster, series: pd.DataFrame, feedback: pd.DataFrame | None,
                 events: pd.DataFrame | None, events_after: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`DemandForecaster.predict` under two sets of events in one recursive pass (service, segment, region,
    date, p10, p50, p90, mean each).

    The series and a copy of them (ids marked) go through mlforecast together, each with its own event
    features: a recursive forecast costs about the same per step for twelve series as for six, so this halves
    the time of two calls. A champion without event features gives the same forecast under both: one pass.
    """
    config, h = forecaster.config, forecaster.config.h
    sides = [(series, events)]
    if config.use_events:
        sides.append((series.assign(unique_id=series["unique_id"] + _COPY), events_after))
    both = pd.concat([s for s, _ in sides], ignore_index=True)
    history = pd.concat([model_frame(s, feedback, config, e) for s, e in sides], ignore_index=True)
    x_df = None
    if _exogenous(config):
        parts = [_exogenous_frame(future_grid(s, config.freq, h), feedback, config, e) for s, e in sides]
        x_df = pd.concat(parts, ignore_index=True)[["unique_id", "ds", *_exogenous(config)]]
    for col in ("service", "segment", "region"):  # one category set over both halves
        history[col] = history[col].astype(str).astype("category")
    pred = forecaster.mlf.predict(h=h, new_df=history, X_df=x_df)
    pred = average_models(pred, list(forecaster.mlf.models_))
    pred = blend_smoothing(pred, both, config, h)
    pred["step"] = pred.groupby("unique_id").cumcount()
    pred = apply_intervals(pred, forecaster.calibration, config.freq)
    marked = pred["unique_id"].str.endswith(_COPY)
    out = []
    for part in (pred[~marked], pred[marked]):
        ids = part["unique_id"].str.removesuffix(_COPY).reset_index(drop=True)
        table = pd.concat([split_series_id(ids), part[["ds", *_VALUES]].reset_index(drop=True)], axis=1)
        out.append(table.rename(columns={"ds": "date"}))
    return out[0], (out[1] if len(sides) > 1 else out[0].copy())
