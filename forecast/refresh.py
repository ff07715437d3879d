"""Recompute everything served from the latest data with the champions, without retraining."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from sqlalchemy import Engine

from features.contract import SERIES_KEY
from features.series import period_days
from forecast.insights import build_insights, store_insights, topic_service_matches
from forecast.needs import load_needs, refresh_needs, store_needs
from forecast.segments import RECENT_DAYS
from forecast.served import ServedForecasts, refresh_forecasts
from store.reads import load_feedback, load_series_spans, load_services, load_usage
from training.needs_snapshot import NeedsSnapshot
from training.needs_training import NeedsConfig

__all__ = ["RefreshResult", "daily_rates", "insights_usage", "refresh_all", "refresh_insights"]

log = logging.getLogger(__name__)
Encode = Callable[[list[str]], np.ndarray]


@dataclass
class RefreshResult:
    forecasts: ServedForecasts
    needs: NeedsSnapshot | None


def daily_rates(table: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Served forecasts of `freq` as requests per day (a week's or month's values over its days).

    Segments and suggestions compare the forecast with recent daily demand, whatever the model's periods.
    """
    if freq == "D":
        return table
    days = period_days(table["date"], freq).to_numpy()
    return table.assign(**{c: table[c] / days for c in ("p10", "p50", "p90", "mean")})


def insights_usage(engine: Engine, recent_days: int = RECENT_DAYS) -> pd.DataFrame:
    """The usage segment summaries and suggestions read: every series' last `2 * recent_days` days, and a zero
    at each series' last day (so each counts in its segment's series, services and regions).

    Their answers are the whole history's (they sum recent days and list keys) from a few weeks of rows, so
    memory follows the series count, not the history's length.
    """
    spans = load_series_spans(engine)
    if spans.empty:
        return load_usage(engine)
    since = spans["last"].max() - pd.Timedelta(days=2 * recent_days)
    recent = load_usage(engine, since=since)
    marks = spans[SERIES_KEY].assign(date=spans["last"], count=0.0)
    return pd.concat([recent, marks[recent.columns]], ignore_index=True)


def refresh_insights(engine: Engine, served: ServedForecasts, needs: NeedsSnapshot | None,
                     encode: Encode | None) -> dict:
    """Segments and suggestions for the served version, from its forecasts and the served needs."""
    usage = insights_usage(engine)
    feedback = load_feedback(engine, ["created_at", "segment", "service", "rating"])
    services = load_services(engine)
    matches = None
    emerging: list[dict] = []
    if needs is not None:
        emerging = needs.emerging
        if encode is not None and len(needs.topic_set.ids):
            matches = topic_service_matches(needs.topic_set.ids, needs.topic_set.centroids, services, encode)
    forecasts = daily_rates(served.table, served.meta.get("freq", "D"))
    doc = build_insights(usage, feedback, forecasts, services, emerging, matches)
    store_insights(engine, served.version, doc)
    return doc


def refresh_all(engine: Engine, client: MlflowClient, encode: Encode | None,
                step: Callable[[str], None] = lambda _m: None, needs_history_days: int = 120) -> RefreshResult:
    """Forecasts with the demand champion, needs with the served topics, then segments and suggestions."""
    step("forecasting with the champion")
    history_days = NeedsConfig(history_days=needs_history_days).days_used
    served = refresh_forecasts(engine, client, encode, history_days)
    needs = load_needs(engine)
    snapshot = needs.snapshot if needs else None
    if snapshot is not None and encode is not None:
        step("updating emerging needs with the latest feedback")
        snapshot = refresh_needs(load_feedback(engine), encode, snapshot,
                                 config=NeedsConfig(history_days=needs_history_days))
        store_needs(engine, snapshot)
    step("computing segments and suggestions")
    refresh_insights(engine, served, snapshot, encode)
    return RefreshResult(served, snapshot)
