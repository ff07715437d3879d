"""Service windows needed per day so the expected wait stays under a target (Erlang C).

No forecasting library offers this: it turns the p90 demand forecast into MFC staffing, using the
catalogue's average handling time per service and the office's working hours.
"""

from __future__ import annotations

import math

import pandas as pd

from forecast.aggregate import aggregate

__all__ = ["MAX_LOAD", "erlang_c", "expected_wait_minutes", "staffing_table", "windows_needed"]


MAX_LOAD = 100_000
"""Offered load (windows busy all day) beyond which no office is staffed: the input is wrong, not the office."""


def erlang_c(servers: int, load: float) -> float:
    """Probability that a request waits, with `servers` windows and offered `load` in Erlangs."""
    if load <= 0:
        return 0.0
    if servers <= load:
        return 1.0
    # Stable recurrence for Erlang B, then C from B.
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return servers * b / (servers - load * (1 - b))


def expected_wait_minutes(servers: int, requests: float, handle_minutes: float, open_minutes: float) -> float:
    """Mean wait in the queue (M/M/c) for `requests` spread over `open_minutes`."""
    load = requests * handle_minutes / open_minutes
    if servers <= load:
        return math.inf
    return erlang_c(servers, load) * handle_minutes / (servers - load)


def windows_needed(requests: float, handle_minutes: float, working_hours: float, wait_minutes: float) -> int:
    """The fewest windows that keep the mean wait at or under `wait_minutes` (0 when no requests)."""
    return _windows_and_wait(requests, handle_minutes, working_hours, wait_minutes)[0]


def _windows_and_wait(requests: float, handle_minutes: float, working_hours: float,
                      wait_minutes: float) -> tuple[int, float]:
    """The fewest windows for the target and the mean wait they give, in one pass.

    Erlang B is carried up from one window to the next (one step per window), so the cost grows with the
    number of windows only, not with its square: a day of 10^5 windows' load stays in milliseconds.
    """
    if requests <= 0:
        return 0, 0.0
    open_minutes = working_hours * 60.0
    load = requests * handle_minutes / open_minutes
    if load > MAX_LOAD:
        raise ValueError(f"{requests:.0f} requests of {handle_minutes:g} minutes a day need over {MAX_LOAD:,} windows")
    b, n = 1.0, 0
    while True:
        n += 1
        b = load * b / (n + load * b)
        if n > load:
            wait = n * b / (n - load * (1 - b)) * handle_minutes / (n - load)
            if wait <= wait_minutes:
                return n, wait


def staffing_table(forecasts: pd.DataFrame, handle_minutes: dict[str, float], default_handle: float,
                   working_hours: float, wait_minutes: float, override_handle: float | None = None) -> pd.DataFrame:
    """Per service, region and date: p90 of the demand summed over segments and the windows it needs."""
    daily = aggregate(forecasts, keep=["service", "region"]).drop(columns=["segment", "p10", "mean"])
    daily["handle_minutes"] = (
        override_handle if override_handle is not None
        else daily["service"].map(handle_minutes).fillna(default_handle)
    )
    staffed = [_windows_and_wait(p90, h, working_hours, wait_minutes)
               for p90, h in zip(daily["p90"], daily["handle_minutes"], strict=True)]
    daily["windows"] = [n for n, _ in staffed]
    daily["expected_wait_minutes"] = [round(w, 2) for _, w in staffed]
    return daily
