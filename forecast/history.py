"""What a planner judges a forecast against: recent actual demand and the backtest of the served model.

The backtest rows (each held-out window's forecast next to what happened) are logged at training as the run's
`reports/backtest.csv` artifact; they are read once per served version and kept in memory.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import date

import mlflow
import pandas as pd
from mlflow import MlflowClient
from sqlalchemy import Engine, select

from features.contract import SERIES_KEY
from features.series import split_series_id
from forecast.aggregate import aggregate
from store import tables
from training.registry import DEMAND_MODEL

__all__ = ["BacktestCache", "history_table", "period_start", "recent_actuals"]

log = logging.getLogger(__name__)
_BACKTEST = ["p10", "p50", "p90", "mean"]


def period_start(dates: pd.Series, freq: str) -> pd.Series:
    """The first day of each date's period: the day, the ISO week's Monday or the month's first day."""
    dates = pd.to_datetime(dates).dt.normalize()
    if freq == "W":
        return dates - pd.to_timedelta(dates.dt.dayofweek, unit="D")
    if freq == "M":
        return dates.dt.to_period("M").dt.to_timestamp()
    return dates


def recent_actuals(engine: Engine, since: date, service: str | None = None, segment: str | None = None,
                   region: str | None = None) -> pd.DataFrame:
    """Daily usage (service, segment, region, date, count) from `since` on, of the series matching the filters."""
    u = tables.usage
    query = select(u.c.service, u.c.segment, u.c.region, u.c.date, u.c["count"]).where(u.c.date >= since)
    for column, value in (("service", service), ("segment", segment), ("region", region)):
        if value is not None:
            query = query.where(u.c[column] == value)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame(rows, columns=[*SERIES_KEY, "date", "count"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["count"] = frame["count"].astype(float)
    return frame


def _read_backtest(client: MlflowClient, version: str) -> pd.DataFrame:
    run_id = client.get_model_version(DEMAND_MODEL, version).run_id
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="reports/backtest.csv",
                                                   dst_path=tmp, tracking_uri=client.tracking_uri)
        cv = pd.read_csv(path, parse_dates=["ds", "cutoff"])
    keys = split_series_id(cv["unique_id"].astype(str))
    out = pd.concat([keys, cv[["ds", "cutoff", "y", *_BACKTEST]]], axis=1).rename(columns={"ds": "date"})
    return out.sort_values([*SERIES_KEY, "date"], ignore_index=True)


@dataclass
class BacktestCache:
    """The backtest rows of the served version, read from its MLflow run once."""

    client: MlflowClient
    _version: str | None = None
    _rows: pd.DataFrame | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, version: str) -> pd.DataFrame:
        """service, segment, region, date, cutoff, y, p10, p50, p90, mean (empty when the run has none)."""
        with self._lock:
            if self._version != version:
                try:
                    rows = _read_backtest(self.client, version)
                except Exception as exc:  # an older run without the report: the chart shows actuals alone
                    log.warning("no backtest rows for version %s: %s", version, type(exc).__name__)
                    rows = pd.DataFrame(columns=[*SERIES_KEY, "date", "cutoff", "y", *_BACKTEST])
                self._version, self._rows = version, rows
            return self._rows


def history_table(actuals: pd.DataFrame, backtest: pd.DataFrame, freq: str, since: pd.Timestamp,
                  keep: list[str] | None = None) -> pd.DataFrame:
    """Per series (or summed over the keys not in `keep`) and period from `since`: `actual` and the backtest's
    `backtest_p10/p50/p90` where a held-out window covers the period (NaN elsewhere)."""
    daily = actuals.assign(date=period_start(actuals["date"], freq))
    actual = daily.groupby([*SERIES_KEY, "date"], as_index=False)["count"].sum().rename(columns={"count": "actual"})
    bt = backtest[backtest["date"] >= since][[*SERIES_KEY, "date", *_BACKTEST]]
    if keep is not None:
        summed = [k for k in SERIES_KEY if k not in keep]
        actual = actual.groupby([*keep, "date"], as_index=False)["actual"].sum().assign(**{k: "*" for k in summed})
        bt = aggregate(bt, keep=keep) if len(bt) else bt
    # Only the series being shown: a backtest row of a series with no recent usage is left out.
    out = actual.merge(bt.drop(columns=["mean"]).rename(columns={c: f"backtest_{c}" for c in ("p10", "p50", "p90")}),
                       on=[*SERIES_KEY, "date"], how="left")
    return out[[*SERIES_KEY, "date", "actual", "backtest_p10", "backtest_p50", "backtest_p90"]].sort_values(
        [*SERIES_KEY, "date"], ignore_index=True)
