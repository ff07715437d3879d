"""Coherent aggregates of served bottom-level forecasts (bottom-up), with bands that keep the dependence.

The mean of an aggregate is the sum of its series' means, so every level agrees with the bottom level by
construction; p50 combines the series' median offsets. The p10-p90 band combines the series' half-widths with
the level's calibrated dependence (`training.aggregate_intervals`: kappa 0 = independent errors, 1 = errors
that move together), fitted on the model's backtest and served with its forecasts. Without it (a model
version from before it, or a caller that passes none) the errors are taken as independent.
"""

from __future__ import annotations

import pandas as pd

from training.aggregate_intervals import ALL, LevelDependence, sum_with_dependence

__all__ = ["ALL", "aggregate"]

_KEYS = ["service", "segment", "region"]


def aggregate(table: pd.DataFrame, keep: list[str], dependence: LevelDependence | None = None) -> pd.DataFrame:
    """Sum `table` (service, segment, region, date, p10, p50, p90, mean) over the keys not in `keep`."""
    if all(k in keep for k in _KEYS):
        return table
    g = sum_with_dependence(table, keep, dependence)
    return g[[*_KEYS, "date", "p10", "p50", "p90", "mean"]].sort_values([*_KEYS, "date"], ignore_index=True)
