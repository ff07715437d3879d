"""Turn daily usage into the long series frame models train on: one row per series and period, zeros filled."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract import SERIES_KEY

__all__ = ["PERIODS", "SEP", "Freq", "period_days", "series_frame", "series_id", "split_series_id",
           "to_period_start"]

SEP = "\x1f"
"""Separator inside `unique_id`; a control character cannot occur in contract ids."""

Freq = str  # "D", "W" or "M" for models; "Q" (quarters) too for periods summed on request
PERIODS = {"day": "D", "week": "W", "month": "M", "quarter": "Q"}
"""The periods a forecast can be summed to (`forecast.periods`), by name, as frequencies."""


def series_id(frame: pd.DataFrame) -> pd.Series:
    """The `unique_id` of each row's (service, segment, region)."""
    # Column-wise concatenation: a row-wise join costs ~10 s per million rows (a Python call per row).
    keys = [frame[c].astype(str).astype(object) for c in SERIES_KEY]
    return (keys[0] + SEP + keys[1] + SEP + keys[2]).rename(None)


def split_series_id(ids: pd.Series) -> pd.DataFrame:
    """Back from `unique_id` to the three key columns."""
    parts = ids.str.split(SEP, expand=True, regex=False)
    parts.columns = SERIES_KEY
    return parts


def to_period_start(dates: pd.Series, freq: Freq) -> pd.Series:
    """Daily dates, the Monday that starts their ISO week, or the first day of their month (`MS`) or quarter."""
    dates = pd.to_datetime(dates).dt.normalize()
    if freq == "W":
        return dates - pd.to_timedelta(dates.dt.dayofweek, unit="D")
    if freq == "M":
        return dates - pd.to_timedelta(dates.dt.day - 1, unit="D")
    if freq == "Q":
        return dates.dt.to_period("Q").dt.start_time
    return dates


def period_days(starts: pd.Series, freq: Freq) -> pd.Series:
    """Days in each period starting at `starts` (1, 7, the month's or the quarter's length)."""
    starts = pd.to_datetime(starts)
    if freq in ("M", "Q"):
        return (starts.dt.to_period(freq).dt.end_time.dt.normalize() - starts.dt.normalize()).dt.days + 1
    return pd.Series(7 if freq == "W" else 1, index=starts.index)


def _last_complete_period(usage_dates: pd.Series, last_day: pd.Timestamp, freq: Freq) -> pd.Timestamp:
    """The start of the last period that `last_day` completes (a partial one would read as a drop in demand).

    Usage recorded per month (every date the 1st, as FixMyStreet's) has whole months: its last one counts.
    """
    last = to_period_start(pd.Series([last_day]), freq).iloc[0]
    if freq == "W" and last_day.dayofweek != 6:
        last -= pd.Timedelta(days=7)
    if freq == "M" and not last_day.is_month_end and not (usage_dates.dt.day == 1).all():
        last = (last - pd.DateOffset(months=1)).normalize()
    return last


def _period_grid(firsts: pd.Series, last: pd.Timestamp, freq: Freq) -> pd.DataFrame:
    """unique_id, ds: every period from each series' first one to `last`."""
    if freq == "M":  # numpy's month unit counts calendar months, where a fixed step of days cannot
        first = firsts.to_numpy().astype("datetime64[M]")
        lengths = np.clip((np.datetime64(last, "M") - first).astype(int) + 1, 0, None)
        step = np.timedelta64(1, "M")
    else:
        first = firsts.to_numpy()
        step = pd.Timedelta(days=7 if freq == "W" else 1).to_timedelta64()
        lengths = np.clip((np.datetime64(last) - first) // step + 1, 0, None).astype(int)
    offsets = np.concatenate([np.arange(n) for n in lengths]) if len(lengths) else np.array([], int)
    ds = (np.repeat(first, lengths) + offsets * step).astype("datetime64[ns]")
    return pd.DataFrame({"unique_id": np.repeat(firsts.index.to_numpy(), lengths), "ds": ds})


def series_frame(usage: pd.DataFrame, freq: Freq = "D", data_until: pd.Timestamp | None = None) -> pd.DataFrame:
    """`unique_id, ds, y` plus the key columns; each series runs from its first request to `data_until`.

    Weekly data keeps only complete weeks, monthly data only complete calendar months (stamped with the
    month's first day, pandas' `MS`): a partial last period would read as a drop in demand.
    """
    if usage.empty:
        raise ValueError("no usage data: ingest usage before training")
    usage = usage.assign(unique_id=series_id(usage))
    last_day = pd.Timestamp(data_until) if data_until is not None else usage["date"].max()
    usage = usage[usage["date"] <= last_day]
    last = _last_complete_period(pd.to_datetime(usage["date"]), last_day, freq)
    usage = usage.assign(ds=to_period_start(usage["date"], freq))
    usage = usage[usage["ds"] <= last]
    grouped = usage.groupby(["unique_id", "ds"], as_index=False)["count"].sum()
    firsts = grouped.groupby("unique_id")["ds"].min()
    full = _period_grid(firsts, last, freq)
    full = full.merge(grouped, on=["unique_id", "ds"], how="left")
    full["y"] = full.pop("count").fillna(0.0).astype(float)
    # Split each series' id once and repeat the keys (a split per row costs 25x the time and a string per row).
    codes, uniques = pd.factorize(full["unique_id"])
    full = pd.concat([full, split_series_id(pd.Series(uniques)).iloc[codes].reset_index(drop=True)], axis=1)
    return full.sort_values(["unique_id", "ds"], ignore_index=True)
