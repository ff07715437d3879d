"""Served demand forecasts: computed with the champion at training or refresh time, queried from memory."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from sqlalchemy import Engine, delete, select

from features.contract import SERIES_KEY
from features.series import series_frame, split_series_id, to_period_start
from forecast.needs import Encode, feedback_with_topics, load_needs
from store import tables
from store.reads import (
    load_events,
    load_feedback,
    load_series_spans,
    load_served_forecasts,
    load_usage,
    usage_groups,
)
from training.aggregate_intervals import LevelDependence
from training.config import DemandConfig
from training.demand_model import DemandForecaster, feature_reach
from training.demand_training import PERIOD_DAYS
from training.model_format import LoadedDemandModel, load_forecaster
from training.period_intervals import PeriodDependence
from training.registry import DEMAND_MODEL, ModelVersionInfo, champion_info

__all__ = [
    "SERVE_GROUP_SERIES", "ServedForecasts", "forecast_groups", "latest_served_version", "load_champion_forecaster",
    "load_champion_model", "load_served", "refresh_forecasts", "served_refreshed_at", "serving_start",
]

log = logging.getLogger(__name__)
_META_KEY = "forecast_meta"
_VALUES = ["p10", "p50", "p90", "mean"]
SERVE_GROUP_SERIES = 5_000
"""Series read, forecast and stored together when the champion was fitted on a sample (a large panel)."""


@dataclass
class ServedForecasts:
    """One model version's forecasts and the facts a caller needs to judge them."""

    meta: dict
    table: pd.DataFrame  # service, segment, region, date, p10, p50, p90, mean

    @property
    def version(self) -> str:
        return str(self.meta["model"]["version"])

    @property
    def dependence(self) -> LevelDependence | None:
        """The calibrated dependence of totals (`forecast.aggregate`); None for versions without one."""
        return self.meta.get("aggregate_dependence")

    @property
    def period_dependence(self) -> PeriodDependence | None:
        """The calibrated dependence of days within weeks, months, quarters (`forecast.periods`); None: none."""
        return self.meta.get("period_dependence")

    @cached_property
    def key_values(self) -> dict[str, frozenset[str]]:
        """The served values of each series key, to tell an unknown filter value from an empty answer."""
        return {k: frozenset(self.table[k].unique()) for k in ("service", "segment", "region")}

    def query(self, service: str | None = None, segment: str | None = None, region: str | None = None,
              horizon: int | None = None) -> pd.DataFrame:
        """Rows of the bottom-level series matching the filters, first `horizon` periods of each."""
        table = self.table
        for col, value in (("service", service), ("segment", segment), ("region", region)):
            if value is not None:
                table = table[table[col] == value]
        if horizon is not None:
            first = self.table["date"].min()
            freq = self.meta.get("freq")
            step = pd.DateOffset(months=1) if freq == "M" else pd.Timedelta(days=7 if freq == "W" else 1)
            table = table[table["date"] < first + step * horizon]
        return table


def load_champion_model(client: MlflowClient) -> tuple[ModelVersionInfo, LoadedDemandModel] | None:
    """The champion's version and model (data format or a previous release's pickle), or None."""
    info = champion_info(client, DEMAND_MODEL)
    if info is None:
        return None
    return info, load_forecaster(f"models:/{DEMAND_MODEL}/{info.version}")


def load_champion_forecaster(client: MlflowClient) -> tuple[ModelVersionInfo, DemandForecaster] | None:
    """The champion's version and fitted forecaster."""
    loaded = load_champion_model(client)
    return None if loaded is None else (loaded[0], loaded[1].forecaster)


def _feedback(engine: Engine, config: DemandConfig, encode: Encode | None, history_days: int) -> pd.DataFrame:
    """The feedback the forecaster's config reads; with `feedback_topics`, labelled with the served needs topics.

    Topics that cannot be had (no encoder, no needs snapshot, an encoder that does not fit the centroids) leave
    `topic` NaN: the share features are then missing, which LightGBM handles.
    """
    columns = ["created_at", "segment", "service", "rating"]
    if not config.feedback_topics:
        return load_feedback(engine, columns)
    feedback = load_feedback(engine, [*columns, "text"])
    needs = load_needs(engine)
    try:
        return feedback_with_topics(feedback, encode, needs.snapshot if needs else None, history_days)
    except ValueError as err:  # e.g. centroids of another encoder's dimension
        log.warning("feedback topics unavailable, topic shares left missing: %s", err)
        return feedback[columns].assign(topic=np.nan)


def serving_start(last_day: pd.Timestamp, config: DemandConfig) -> pd.Timestamp | None:
    """The first day of usage a forecast after `last_day` depends on, at the start of its period; None: all.

    The features read `feature_reach` periods back (one more is kept); the smoothing blend of weeks and months
    fits on each series' whole history, so with a blend every day counts.
    """
    if config.blend_weight > 0:
        return None
    days = (feature_reach(config) + 1) * PERIOD_DAYS[config.freq]
    return to_period_start(pd.Series([pd.Timestamp(last_day).normalize() - pd.Timedelta(days=days)]),
                           config.freq).iloc[0]


def _served_table(pred: pd.DataFrame) -> pd.DataFrame:
    """service, segment, region, date and the values of a prediction; each series' keys split once."""
    codes, uniques = pd.factorize(pred["unique_id"])
    keys = split_series_id(pd.Series(uniques, dtype=object)).iloc[codes].reset_index(drop=True)
    values = pred[["ds", *_VALUES]].reset_index(drop=True).rename(columns={"ds": "date"})
    return pd.concat([keys, values], axis=1)


def forecast_groups(engine: Engine, forecaster: DemandForecaster, spans: pd.DataFrame,
                    feedback: pd.DataFrame | None, events: pd.DataFrame | None,
                    group_series: int = SERVE_GROUP_SERIES) -> Iterator[pd.DataFrame]:
    """The served table of the series in `spans` (`store.reads.load_series_spans`), `group_series` at a time.

    Each group's usage is read from `serving_start` on (`store.reads.usage_groups`: on PostgreSQL one sorted,
    streamed query, so the table is scanned once for all groups); a series that began before that day gets a
    zero at it, so its zero-filled frame is the whole history's from then on and the forecast is the one a read
    of the whole history gives. Memory follows the group, not the panel.
    """
    config = forecaster.config
    last_day = spans["last"].max()
    since = serving_start(last_day, config)
    numbered = spans.assign(group=np.arange(len(spans)) // group_series)
    for number, usage in usage_groups(engine, numbered, since):
        group = numbered[numbered["group"] == number]
        log.info("forecasting series %d-%d of %d", number * group_series + 1, number * group_series + len(group),
                 len(spans))
        if since is not None:
            began = group.loc[group["first"] < since, SERIES_KEY]
            usage = pd.concat([usage, began.assign(date=since, count=0.0)[usage.columns]], ignore_index=True)
        series = series_frame(usage, config.freq, data_until=last_day)
        del usage
        yield _served_table(forecaster.predict(series, feedback, events=events))


def refresh_forecasts(engine: Engine, client: MlflowClient, encode: Encode | None = None,
                      needs_history_days: int = 365, group_series: int = SERVE_GROUP_SERIES) -> ServedForecasts:
    """Recompute every series' forecast from the latest data with the champion (no retraining) and store it.

    Registered events are read from the store, so an event added since training shapes the next refresh.
    A champion with topic-share features gets feedback labelled by the served needs topics (`encode` embeds
    the texts of the last `needs_history_days` days, as the needs run does). A champion fitted on a sample of
    series (a large panel: `DemandConfig.sampled`) forecasts and stores `group_series` series at a time
    (`forecast_groups`), in the one transaction that replaces the version's forecasts.
    """
    loaded = load_champion_model(client)
    if loaded is None:
        raise LookupError("no champion model yet: run `needcast train` first")
    info, model = loaded
    forecaster = model.forecaster
    config = forecaster.config
    feedback = _feedback(engine, config, encode, needs_history_days) if config.use_feedback else None
    events = load_events(engine) if config.use_events else None
    if config.sampled:
        spans = load_series_spans(engine)
        if spans.empty:
            raise ValueError("no usage data: ingest usage before training")
        data_until = spans["last"].max()
        tables_: Iterable[pd.DataFrame] = forecast_groups(engine, forecaster, spans, feedback, events, group_series)
    else:
        usage = load_usage(engine)
        series = series_frame(usage, config.freq)
        data_until = usage["date"].max()
        del usage
        tables_ = [_served_table(forecaster.predict(series, feedback, events=events))]
    run = client.get_run(info.run_id)
    meta = {
        "model": {
            "name": DEMAND_MODEL,
            "version": info.version,
            "trained_at": datetime.fromtimestamp(info.created_ms / 1000, UTC).isoformat(timespec="seconds"),
        },
        "freq": config.freq,
        "horizon": config.h,
        "data_until": str(data_until.date()),
        "refreshed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "backtest": {k: v for k, v in run.data.metrics.items()},
        "model_format": model.format,
        # forecast.aggregate's calibrated dependence per level of totals (None: independent errors).
        "aggregate_dependence": model.aggregate_dependence,
        # forecast.periods' calibrated dependence of the days summed into a week, month or quarter.
        "period_dependence": model.period_dependence,
    }
    table = _store(engine, info.version, tables_, meta)
    log.info("served forecasts refreshed: version %s, %d rows", info.version, len(table))
    return ServedForecasts(meta, table)


def _store(engine: Engine, version: str, parts: pd.DataFrame | Iterable[pd.DataFrame], meta: dict) -> pd.DataFrame:
    """Replace the version's forecasts by `parts` (one table, or tables made as they are stored) in one
    transaction; returns all of them."""
    if isinstance(parts, pd.DataFrame):
        parts = [parts]
    f = tables.served_forecasts
    m = tables.served_meta
    stored = []
    with engine.begin() as conn:
        conn.execute(delete(f).where(f.c.model_version == version))
        for table in parts:
            rows = [
                {"model_version": version, "service": s, "segment": g, "region": r, "date": d.date(),
                 "p10": float(p10), "p50": float(p50), "p90": float(p90), "mean": float(mean)}
                for s, g, r, d, p10, p50, p90, mean in table[["service", "segment", "region", "date", *_VALUES]]
                .itertuples(index=False)
            ]
            for start in range(0, len(rows), 20_000):
                conn.execute(f.insert(), rows[start : start + 20_000])
            del rows
            stored.append(table)
        conn.execute(delete(m).where(m.c.key == f"{_META_KEY}:{version}"))
        conn.execute(m.insert().values(key=f"{_META_KEY}:{version}", value=meta))
    return pd.concat(stored, ignore_index=True) if len(stored) > 1 else stored[0]


def served_refreshed_at(engine: Engine, version: str) -> str | None:
    """When the stored forecasts of `version` were last computed (a cheap freshness check)."""
    m = tables.served_meta
    with engine.connect() as conn:
        meta = conn.execute(select(m.c.value).where(m.c.key == f"{_META_KEY}:{version}")).scalar()
    return None if meta is None else meta.get("refreshed_at")


def load_served(engine: Engine, version: str) -> ServedForecasts | None:
    """The stored forecasts of one model version, or None if it has none yet."""
    m = tables.served_meta
    with engine.connect() as conn:
        meta = conn.execute(select(m.c.value).where(m.c.key == f"{_META_KEY}:{version}")).scalar()
    if meta is None:
        return None
    table = load_served_forecasts(engine, version)
    return ServedForecasts(meta, table.sort_values(["service", "segment", "region", "date"], ignore_index=True))


def latest_served_version(engine: Engine) -> str | None:
    """The model version whose stored forecasts were computed last (what to serve while the registry is down)."""
    m = tables.served_meta
    with engine.connect() as conn:
        rows = conn.execute(select(m.c.key, m.c.value).where(m.c.key.like(f"{_META_KEY}:%"))).all()
    stamped = [(str((value or {}).get("refreshed_at", "")), key.split(":", 1)[1]) for key, value in rows]
    return max(stamped)[1] if stamped else None
