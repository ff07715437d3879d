"""Calendar features known in advance: Russian public holidays, long breaks and the days around them."""

from __future__ import annotations

import holidays
import numpy as np
import pandas as pd

__all__ = ["CALENDAR_COLUMNS", "calendar_features", "holiday_dates"]

CALENDAR_COLUMNS = ["is_holiday", "is_day_off", "after_break", "before_holiday", "break_length"]


def holiday_dates(start: pd.Timestamp, end: pd.Timestamp, country: str = "RU") -> dict[pd.Timestamp, str]:
    """Public holidays and transferred days off between two dates (the `holidays` package)."""
    years = range(start.year, end.year + 1)
    table = holidays.country_holidays(country, years=years)
    return {pd.Timestamp(d): name for d, name in table.items() if start <= pd.Timestamp(d) <= end}


def calendar_features(dates: pd.DatetimeIndex | pd.Series, country: str = "RU") -> pd.DataFrame:
    """One row per date: holiday flags and how a date sits relative to non-working stretches.

    `after_break` marks the first working day after a stretch of >= 3 days off (demand bounces back);
    `break_length` is the length of the non-working stretch a day belongs to (0 on working days).
    """
    dates = pd.DatetimeIndex(pd.to_datetime(dates)).normalize()
    lo, hi = dates.min() - pd.Timedelta(days=21), dates.max() + pd.Timedelta(days=21)
    span = pd.date_range(lo, hi, freq="D")
    hol = holiday_dates(lo, hi, country)
    is_holiday = span.isin(list(hol))
    is_off = is_holiday | (span.dayofweek >= 5)
    # Length of each run of days off, and the first working day after a long one.
    run_id = np.cumsum(np.r_[True, is_off[1:] != is_off[:-1]])
    run_len = pd.Series(is_off).groupby(run_id).transform("size").to_numpy()
    break_length = np.where(is_off, run_len, 0)
    prev_len = np.r_[0, break_length[:-1]]
    after_break = (~is_off) & (prev_len >= 3)
    before_holiday = np.r_[is_holiday[1:], False] & ~is_holiday
    table = pd.DataFrame(
        {
            "is_holiday": is_holiday.astype(np.int8),
            "is_day_off": is_off.astype(np.int8),
            "after_break": after_break.astype(np.int8),
            "before_holiday": before_holiday.astype(np.int8),
            "break_length": break_length.astype(np.int16),
        },
        index=span,
    )
    return table.reindex(dates).reset_index(drop=True)
