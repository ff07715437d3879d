"""Per-series, per-period features of registered events: in force, how far in, and how much of the recent past.

Events are plans registered ahead, so their values for the forecast horizon are known at the origin by design;
nothing here reads demand. An event touches a series when its service, segment and region lists contain the
series' ones (an empty list means all).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["EVENT_COLUMNS", "event_features"]

EVENT_COLUMNS = ["event_days", "event_day", "event_recent_days"]
"""`event_days`: days of the period under a touching event (summed over overlapping events; a day: 0 or 1);
`event_day`: days since the start of the latest-started touching event in force in the period (-1: none);
`event_recent_days`: event days in the `RECENT_DAYS` days before the period, what lags and rolling means see."""

RECENT_DAYS = 28
_PERIOD_DAYS = {"D": 1, "W": 7}


def _overlap(lo: np.ndarray, hi: np.ndarray, start: np.datetime64, end: np.datetime64) -> np.ndarray:
    """Days of each range [lo, hi] that fall in [start, end]."""
    first, last = np.maximum(lo, start), np.minimum(hi, end)
    return np.clip((last - first) / np.timedelta64(1, "D") + 1, 0, None)


def _touches(series: pd.DataFrame, values: list[str], column: str) -> np.ndarray:
    return np.ones(len(series), bool) if not values else series[column].astype(str).isin(values).to_numpy()


def event_features(series: pd.DataFrame, events: pd.DataFrame | None, freq: str = "D") -> pd.DataFrame:
    """`unique_id, ds` and EVENT_COLUMNS for every row of `series` (unique_id, ds, service, segment, region).

    `events` is `store.reads.load_events`' frame (start, end, services, segments, regions); None or
    empty gives zeros. For weeks, `ds` is the Monday and the period is its seven days.
    """
    n = len(series)
    days = np.zeros(n)
    day = np.full(n, np.inf)
    recent = np.zeros(n)
    if events is not None and len(events):
        period = np.timedelta64(_PERIOD_DAYS[freq] - 1, "D")
        lo = series["ds"].to_numpy(dtype="datetime64[D]")
        hi = lo + period
        for ev in events.itertuples(index=False):
            scope = (_touches(series, ev.services, "service") & _touches(series, ev.segments, "segment")
                     & _touches(series, getattr(ev, "regions", None) or [], "region"))
            if not scope.any():
                continue
            start, end = np.datetime64(ev.start, "D"), np.datetime64(ev.end, "D")
            inside = np.where(scope, _overlap(lo, hi, start, end), 0.0)
            days += inside
            since = (np.maximum(lo, start) - start) / np.timedelta64(1, "D")
            day = np.where(inside > 0, np.minimum(day, since), day)
            recent += np.where(scope, _overlap(lo - np.timedelta64(RECENT_DAYS, "D"), lo - np.timedelta64(1, "D"),
                                               start, end), 0.0)
    return pd.DataFrame({"unique_id": series["unique_id"].to_numpy(), "ds": series["ds"].to_numpy(),
                         "event_days": days, "event_day": np.where(np.isinf(day), -1.0, day),
                         "event_recent_days": recent})
