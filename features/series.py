"""Turn daily usage into the long series frame models train on: one row per series and period, zeros filled."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract import SERIES_KEY

__all__ = ["SEP", "Freq", "series_frame", "series_id", "split_series_id", "to_period_start"]

SEP = "\x1f"
"""Separator inside `unique_id`; a control character cannot occur in contract ids."""

Freq = str  # "D" or "W"


def series_id(frame: pd.DataFrame) -> pd.Series:
    """The `unique_id` of each row's (service, segment, region)."""
    return frame[SERIES_KEY].astype(str).agg(SEP.join, axis=1)


def split_series_id(ids: pd.Series) -> pd.DataFrame:
    """Back from `unique_id` to the three key columns."""
    parts = ids.str.split(SEP, expand=True, regex=False)
    parts.columns = SERIES_KEY
    return parts


def to_period_start(dates: pd.Series, freq: Freq) -> pd.Series:
    """Daily dates, or the Monday that starts their ISO week."""
    dates = pd.to_datetime(dates).dt.normalize()
    if freq == "W":
        return dates - pd.to_timedelta(dates.dt.dayofweek, unit="D")
    return dates


def series_frame(usage: pd.DataFrame, freq: Freq = "D", data_until: pd.Timestamp | None = None) -> pd.DataFrame:
    """`unique_id, ds, y` plus the key columns; each series runs from its first request to `data_until`.

    Weekly data keeps only complete weeks (a partial last week would read as a drop in demand).
    """
    if usage.empty:
        raise ValueError("no usage data: ingest usage before training")
    usage = usage.assign(unique_id=series_id(usage))
    last_day = pd.Timestamp(data_until) if data_until is not None else usage["date"].max()
    usage = usage[usage["date"] <= last_day]
    last = to_period_start(pd.Series([last_day]), freq).iloc[0]
    if freq == "W" and last_day.dayofweek != 6:
        last -= pd.Timedelta(days=7)
    usage = usage.assign(ds=to_period_start(usage["date"], freq))
    usage = usage[usage["ds"] <= last]
    grouped = usage.groupby(["unique_id", "ds"], as_index=False)["count"].sum()
    step = pd.Timedelta(days=7 if freq == "W" else 1)
    firsts = grouped.groupby("unique_id")["ds"].min()
    lengths = ((last - firsts) // step + 1).astype(int)
    ids = np.repeat(firsts.index.to_numpy(), lengths.to_numpy())
    offsets = np.concatenate([np.arange(n) for n in lengths.to_numpy()]) if len(lengths) else np.array([], int)
    ds = np.repeat(firsts.to_numpy(), lengths.to_numpy()) + offsets * step.to_timedelta64()
    full = pd.DataFrame({"unique_id": ids, "ds": ds})
    full = full.merge(grouped, on=["unique_id", "ds"], how="left")
    full["y"] = full.pop("count").fillna(0.0).astype(float)
    # Split each series' id once and repeat the keys (a split per row costs 25x the time and a string per row).
    codes, uniques = pd.factorize(full["unique_id"])
    full = pd.concat([full, split_series_id(pd.Series(uniques)).iloc[codes].reset_index(drop=True)], axis=1)
    return full.sort_values(["unique_id", "ds"], ignore_index=True)
