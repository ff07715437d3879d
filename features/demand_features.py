"""The exogenous feature table of the demand model: calendar and registered events (known ahead), lagged feedback.

Lags and rolling means of demand itself are computed by mlforecast from the target; this module
only adds what mlforecast cannot derive from `y`.
"""

from __future__ import annotations

import pandas as pd

from features.calendar import CALENDAR_COLUMNS, calendar_features
from features.contract import SERIES_KEY
from features.event_features import EVENT_COLUMNS, event_features
from features.feedback_features import FEEDBACK_COLUMNS, feedback_features, topic_share_columns

__all__ = ["STATIC_COLUMNS", "exogenous_columns", "future_grid", "with_exogenous"]

STATIC_COLUMNS = list(SERIES_KEY)


def exogenous_columns(use_feedback: bool, use_events: bool = False, n_topics: int = 0) -> list[str]:
    feedback = FEEDBACK_COLUMNS + topic_share_columns(n_topics) if use_feedback else []
    return CALENDAR_COLUMNS + feedback + (EVENT_COLUMNS if use_events else [])


def _period_calendar(ds: pd.Series, freq: str) -> pd.DataFrame:
    """Calendar per period: the day's flags, or for a week the number of days with each flag."""
    unique = pd.DatetimeIndex(ds.unique())
    if freq == "D":
        table = calendar_features(unique)
        table.index = unique
        return table
    days = pd.DatetimeIndex([d + pd.Timedelta(days=i) for d in unique for i in range(7)])
    daily = calendar_features(days)
    daily["week"] = [d for d in unique for _ in range(7)]
    table = daily.groupby("week")[CALENDAR_COLUMNS].agg(
        {"is_holiday": "sum", "is_day_off": "sum", "after_break": "max", "before_holiday": "max",
         "break_length": "max"}
    )
    return table


def with_exogenous(
    frame: pd.DataFrame, feedback: pd.DataFrame | None, freq: str, horizon: int, use_feedback: bool,
    feedback_window_days: int = 28, events: pd.DataFrame | None = None, use_events: bool = False,
    feedback_topics: tuple[int, ...] = (),
) -> pd.DataFrame:
    """`frame` (unique_id, ds, key columns[, y]) with calendar and, if asked, feedback and event features added.

    `feedback_topics`: topic ids whose shares become features (they need a `topic` column in `feedback`).
    """
    cal = _period_calendar(frame["ds"], freq)
    out = frame.join(cal, on="ds")
    if use_feedback:
        fb = feedback_features(frame, feedback, horizon, freq, feedback_window_days, feedback_topics)
        out = out.merge(fb, on=["unique_id", "ds"], how="left")
    if use_events:
        out = out.merge(event_features(frame, events, freq), on=["unique_id", "ds"], how="left")
    for col in STATIC_COLUMNS:
        out[col] = out[col].astype("category")
    return out


def future_grid(series: pd.DataFrame, freq: str, horizon: int) -> pd.DataFrame:
    """unique_id, ds and key columns of the `horizon` periods after each series' last period."""
    last = series.groupby("unique_id", observed=True).tail(1)[["unique_id", "ds", *STATIC_COLUMNS]]
    step = pd.Timedelta(days=7 if freq == "W" else 1)
    parts = [last.assign(ds=last["ds"] + step * k) for k in range(1, horizon + 1)]
    grid = pd.concat(parts, ignore_index=True)
    for col in STATIC_COLUMNS:
        grid[col] = grid[col].astype(str)
    return grid.sort_values(["unique_id", "ds"], ignore_index=True)
