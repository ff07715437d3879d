"""Served demand forecasts: computed with the champion at training or refresh time, queried from memory."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from sqlalchemy import Engine, delete, select

from features.series import series_frame, split_series_id
from forecast.needs import Encode, feedback_with_topics, load_needs
from store import tables
from store.reads import load_events, load_feedback, load_usage
from training.aggregate_intervals import LevelDependence
from training.config import DemandConfig
from training.demand_model import DemandForecaster
from training.model_format import LoadedDemandModel, load_forecaster
from training.period_intervals import PeriodDependence
from training.registry import DEMAND_MODEL, ModelVersionInfo, champion_info

__all__ = [
    "ServedForecasts", "latest_served_version", "load_champion_forecaster", "load_champion_model", "load_served",
    "refresh_forecasts", "served_refreshed_at",
]

log = logging.getLogger(__name__)
_META_KEY = "forecast_meta"
_VALUES = ["p10", "p50", "p90", "mean"]


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


def refresh_forecasts(engine: Engine, client: MlflowClient, encode: Encode | None = None,
                      needs_history_days: int = 365) -> ServedForecasts:
    """Recompute every series' forecast from the latest data with the champion (no retraining) and store it.

    Registered events are read from the store, so an event added since training shapes the next refresh.
    A champion with topic-share features gets feedback labelled by the served needs topics (`encode` embeds
    the texts of the last `needs_history_days` days, as the needs run does).
    """
    loaded = load_champion_model(client)
    if loaded is None:
        raise LookupError("no champion model yet: run `needcast train` first")
    info, model = loaded
    forecaster = model.forecaster
    usage = load_usage(engine)
    feedback = _feedback(engine, forecaster.config, encode, needs_history_days) \
        if forecaster.config.use_feedback else None
    series = series_frame(usage, forecaster.config.freq)
    events = load_events(engine) if forecaster.config.use_events else None
    pred = forecaster.predict(series, feedback, events=events)
    table = pd.concat([split_series_id(pred["unique_id"]), pred[["ds", "p10", "p50", "p90", "mean"]]], axis=1)
    table = table.rename(columns={"ds": "date"})
    run = client.get_run(info.run_id)
    meta = {
        "model": {
            "name": DEMAND_MODEL,
            "version": info.version,
            "trained_at": datetime.fromtimestamp(info.created_ms / 1000, UTC).isoformat(timespec="seconds"),
        },
        "freq": forecaster.config.freq,
        "horizon": forecaster.config.h,
        "data_until": str(usage["date"].max().date()),
        "refreshed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "backtest": {k: v for k, v in run.data.metrics.items()},
        "model_format": model.format,
        # forecast.aggregate's calibrated dependence per level of totals (None: independent errors).
        "aggregate_dependence": model.aggregate_dependence,
        # forecast.periods' calibrated dependence of the days summed into a week, month or quarter.
        "period_dependence": model.period_dependence,
    }
    _store(engine, info.version, table, meta)
    log.info("served forecasts refreshed: version %s, %d rows", info.version, len(table))
    return ServedForecasts(meta, table)


def _store(engine: Engine, version: str, table: pd.DataFrame, meta: dict) -> None:
    f = tables.served_forecasts
    rows = [
        {"model_version": version, "service": s, "segment": g, "region": r, "date": d.date(),
         "p10": float(p10), "p50": float(p50), "p90": float(p90), "mean": float(mean)}
        for s, g, r, d, p10, p50, p90, mean in table[["service", "segment", "region", "date", *_VALUES]]
        .itertuples(index=False)
    ]
    m = tables.served_meta
    with engine.begin() as conn:
        conn.execute(delete(f).where(f.c.model_version == version))
        for start in range(0, len(rows), 20_000):
            conn.execute(f.insert(), rows[start : start + 20_000])
        conn.execute(delete(m).where(m.c.key == f"{_META_KEY}:{version}"))
        conn.execute(m.insert().values(key=f"{_META_KEY}:{version}", value=meta))


def served_refreshed_at(engine: Engine, version: str) -> str | None:
    """When the stored forecasts of `version` were last computed (a cheap freshness check)."""
    m = tables.served_meta
    with engine.connect() as conn:
        meta = conn.execute(select(m.c.value).where(m.c.key == f"{_META_KEY}:{version}")).scalar()
    return None if meta is None else meta.get("refreshed_at")


def load_served(engine: Engine, version: str) -> ServedForecasts | None:
    """The stored forecasts of one model version, or None if it has none yet."""
    m, f = tables.served_meta, tables.served_forecasts
    with engine.connect() as conn:
        meta = conn.execute(select(m.c.value).where(m.c.key == f"{_META_KEY}:{version}")).scalar()
        if meta is None:
            return None
        rows = conn.execute(
            select(f.c.service, f.c.segment, f.c.region, f.c.date, *(f.c[v] for v in _VALUES))
            .where(f.c.model_version == version)
        ).all()
    table = pd.DataFrame(rows, columns=["service", "segment", "region", "date", *_VALUES])
    table["date"] = pd.to_datetime(table["date"])
    return ServedForecasts(meta, table.sort_values(["service", "segment", "region", "date"], ignore_index=True))


def latest_served_version(engine: Engine) -> str | None:
    """The model version whose stored forecasts were computed last (what to serve while the registry is down)."""
    m = tables.served_meta
    with engine.connect() as conn:
        rows = conn.execute(select(m.c.key, m.c.value).where(m.c.key.like(f"{_META_KEY}:%"))).all()
    stamped = [(str((value or {}).get("refreshed_at", "")), key.split(":", 1)[1]) for key, value in rows]
    return max(stamped)[1] if stamped else None
