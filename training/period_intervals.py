"""Intervals of a forecast summed over the days of a week, month or quarter, calibrated on the backtest.

The days of a period err together (a level the model misjudged stays misjudged all month), so neither the
summed daily quantiles (errors moving as one: too wide) nor quadrature (independent errors: too narrow) holds.
The band of a period sum combines the days' half-widths with a dependence factor kappa, exactly as
`training.aggregate_intervals` combines series into totals (its `sum_rows` / `fit_sum_kappa`): kappa is fitted
per period kind and level of totals (per side or one for both, as there) by split conformal on the backtest's
own period sums, the days of each held-out window grouped by calendar period as served forecasts are (partial
periods at a window's edges included, as at the served horizon's edges). A total's daily rows are first formed
with the level's own dependence, so the fitted kappa is that of the total's days.
"""

from __future__ import annotations

from itertools import combinations

import pandas as pd

from features.contract import SERIES_KEY
from features.series import split_series_id, to_period_start
from training.aggregate_intervals import LevelDependence, fit_sum_kappa, kappa_for, sum_with_dependence

__all__ = ["PeriodDependence", "coarser_periods", "fit_period_dependence", "period_kappa"]

PeriodDependence = list[dict]
"""Rows {"period": "W"|"M"|"Q", "summed": [keys], "kappa_lo", "kappa_hi", "shared", "rows"} (JSON-ready)."""
_COARSER = {"D": ("W", "M", "Q"), "W": (), "M": ("Q",)}


def coarser_periods(freq: str) -> tuple[str, ...]:
    """The periods a forecast of `freq` sums to whole (a week straddles months: W sums to nothing coarser)."""
    return _COARSER[freq]


def fit_period_dependence(cv: pd.DataFrame, freq: str, interval: tuple[float, float],
                          aggregate_dependence: LevelDependence | None = None) -> PeriodDependence:
    """kappas per period kind and level of totals, from backtest rows (unique_id, cutoff, ds, y, p10..mean)."""
    periods = coarser_periods(freq)
    if not periods or cv.empty:
        return []
    keys = split_series_id(cv["unique_id"].astype(str))
    rows = pd.concat([keys, cv[["cutoff", "ds", "y", "p10", "p50", "p90", "mean"]].rename(columns={"ds": "date"})],
                     axis=1)
    out = []
    for size in range(len(SERIES_KEY) + 1):
        for summed in combinations(SERIES_KEY, size):
            keep = [k for k in SERIES_KEY if k not in summed]
            level = rows if not summed else sum_with_dependence(rows, keep, aggregate_dependence, extra=["cutoff"])
            for period in periods:
                dated = level.assign(period=to_period_start(level["date"], period))
                fitted = fit_sum_kappa(dated, [*keep, "cutoff", "period"], interval)
                if fitted is not None:
                    out.append({"period": period, "summed": list(summed), **fitted})
    return out


def period_kappa(dependence: PeriodDependence | None, period: str, summed: list[str]) -> tuple[float, float]:
    """The kappas of `period` sums at the level summing `summed`.

    A level not calibrated takes the period's largest kappas; a model without any (versions from before
    this table) takes 1, the summed quantiles: too wide rather than too narrow.
    """
    rows = [r for r in dependence or [] if r["period"] == period]
    return kappa_for(rows, summed) if rows else (1.0, 1.0)
