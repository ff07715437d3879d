"""Coherent aggregates of bottom-level forecasts (bottom-up reconciliation).

The mean of an aggregate is the sum of its series' means, so every level agrees with the bottom level by
construction. Quantiles do not add: summing p90s assumes every series errs high on the same day. The
interval of an aggregate combines the bottom-level half-widths in quadrature (independent errors), which
reduces to the series' own interval for a group of one. hierarchicalforecast offers MinT and friends for
*means*; it has no interval method for served, already-calibrated quantiles, hence this small function.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ALL", "aggregate"]

ALL = "*"  # the value of a dimension that was summed over
_KEYS = ["service", "segment", "region"]


def aggregate(table: pd.DataFrame, keep: list[str]) -> pd.DataFrame:
    """Sum `table` (service, segment, region, date, p10, p50, p90, mean) over the keys not in `keep`."""
    summed = [k for k in _KEYS if k not in keep]
    if not summed:
        return table
    work = table.assign(
        lo2=(table["mean"] - table["p10"]).clip(lower=0) ** 2,
        hi2=(table["p90"] - table["mean"]).clip(lower=0) ** 2,
        d=table["p50"] - table["mean"],
    )
    work["d2"] = work["d"] ** 2
    g = work.groupby([*keep, "date"], as_index=False).agg(
        mean=("mean", "sum"), lo2=("lo2", "sum"), hi2=("hi2", "sum"), d=("d", "sum"), d2=("d2", "sum"))
    g["p10"] = (g["mean"] - np.sqrt(g["lo2"])).clip(lower=0)
    g["p90"] = g["mean"] + np.sqrt(g["hi2"])
    g["p50"] = (g["mean"] + np.sign(g["d"]) * np.sqrt(g["d2"])).clip(g["p10"], g["p90"])
    for k in summed:
        g[k] = ALL
    return g[[*_KEYS, "date", "p10", "p50", "p90", "mean"]].sort_values([*_KEYS, "date"], ignore_index=True)
