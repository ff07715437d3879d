"""Served forecasts summed to weeks, months and quarters, with bands that keep the dependence of their days.

The mean of a period is the sum of its days' means and p50 combines the days' median offsets, as totals over
series do (`forecast.aggregate`); the p10-p90 band combines the days' half-widths with the model's dependence
of days within that kind of period (`training.period_intervals`, calibrated on its backtest).

A period the forecast covers only in part (the first one when the forecast starts mid-week or mid-month,
the last one at the horizon's edge: with the default 28 days, every month and quarter) is kept and flagged
`partial`, with the `days` it sums out of `period_days`: dropping them would leave a 28-day forecast with no
month at all, and a sum of 10 days shown as a month would read as a fall in demand.
"""

from __future__ import annotations

import pandas as pd

from features.contract import SERIES_KEY
from features.series import PERIODS, period_days, to_period_start
from training.aggregate_intervals import sum_rows
from training.period_intervals import PeriodDependence, coarser_periods, period_kappa

__all__ = ["PERIODS", "PeriodError", "check_period", "to_periods"]

_VALUES = ["p10", "p50", "p90", "mean"]


class PeriodError(ValueError):
    """A period the served forecast cannot be summed to (finer than its frequency, or not made of it)."""


def check_period(period: str, freq: str) -> str:
    """The frequency code of `period` ("day", "week", "month", "quarter") for a forecast of `freq`."""
    code = PERIODS.get(period)
    if code is None:
        raise PeriodError(f"period must be one of {', '.join(PERIODS)}")
    if code != freq and code not in coarser_periods(freq):
        allowed = [name for name, c in PERIODS.items() if c == freq or c in coarser_periods(freq)]
        own = next(name for name, c in PERIODS.items() if c == freq)
        raise PeriodError(f"the served model forecasts by {own}: period can be {' or '.join(allowed)}")
    return code


def to_periods(table: pd.DataFrame, period: str, freq: str, dependence: PeriodDependence | None = None,
               summed: list[str] | None = None) -> pd.DataFrame:
    """Sum `table` (service, segment, region, date, p10, p50, p90, mean) of a `freq` forecast to `period`.

    `summed`: the keys already summed over in `table` (the level of totals, `*`), which picks the dependence.
    Returns the key columns, `date` (the period's first day), p10, p50, p90, mean, `period_end`, `days` (of
    the period the forecast covers), `period_days` and `partial`.
    """
    code = check_period(period, freq)
    work = table.assign(period=to_period_start(table["date"], code), days=period_days(table["date"], freq))
    by = [*SERIES_KEY, "period"]
    if code == freq:
        sums = work
    else:
        sums = sum_rows(work, by, *period_kappa(dependence, code, summed or []))
        sums = sums.merge(work.groupby(by, as_index=False)["days"].sum(), on=by)
    out = sums[[*SERIES_KEY, "period", *_VALUES, "days"]].rename(columns={"period": "date"})
    out["period_days"] = period_days(out["date"], code).to_numpy()
    out["period_end"] = out["date"] + pd.to_timedelta(out["period_days"] - 1, unit="D")
    out["partial"] = out["days"] < out["period_days"]
    return out.sort_values([*SERIES_KEY, "date"], ignore_index=True)
