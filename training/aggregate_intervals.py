"""Intervals of summed series that keep their errors' dependence, calibrated on the backtest's own totals.

The mean of a total is the sum of its series' means (bottom-up, coherent by construction). Its band comes
from the series' calibrated half-widths w_i (mean - p10 below, p90 - mean above) as

    W^2 = sum(w_i^2) + kappa * ((sum w_i)^2 - sum(w_i^2)),

kappa = 0 being independent errors (quadrature) and kappa = 1 errors that move together (the summed
quantiles); it acts like a common correlation between the series' errors. A group of one keeps its own band
for any kappa. kappa is fitted per level (the set of keys summed over), per side or one for both sides
(`fit_aggregate_dependence` says which), by split conformal on the backtest rows summed to that level: each
row's smallest kappa whose band holds the actual has a closed form, and the level's kappa is their
(1 - alpha) quantile. Holidays, campaigns and level shifts that move all series at once are what push it
above 0 (measured in docs/benchmarks.md). Rows of all backtest windows are pooled:
the median of per-window fits over-covered the grand total (cross-conformal 0.92-0.93 against 0.82 pooled on
the unseen `alt` and `sample` seed 11 worlds; 0.66-0.71 with independent errors). The quantile is split
conformal's finite-sample one (the ceil((n + 1)(1 - alpha))-th of n, upward): a grand total has few rows (4
windows x h), and the plain empirical quantile left its cross-conformal coverage at 0.69-0.75 on NYC weeks and
days and the unseen `sample` seed 11 (0.82-0.94 with the finite-sample one). Counts are discrete: where a
total is 0 on over 10% of periods its p10 is 0 and the band covers more than 80%, as the count's exact
quantiles would.

Written here rather than taken from hierarchicalforecast: its probabilistic reconcilers (bootstrap, PERMBU,
normality) need base forecasts of every node and sample the whole hierarchy, while the served table holds
calibrated bottom-level quantiles and any total is asked for on request.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from features.contract import SERIES_KEY
from features.series import split_series_id

__all__ = ["ALL", "LevelDependence", "fit_aggregate_dependence", "fit_sum_kappa", "kappa_for", "sum_rows",
           "sum_with_dependence"]

ALL = "*"  # the value of a dimension that was summed over
MAX_KAPPA = 4.0  # beyond comonotone: the mean itself can be off for all series together (a level shift)
LevelDependence = list[dict]
"""Rows {"summed": [keys], "kappa_lo": float, "kappa_hi": float, "shared": bool, "rows": int} (JSON-ready)."""


def _sums(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    lo = (table["mean"] - table["p10"]).clip(lower=0)
    hi = (table["p90"] - table["mean"]).clip(lower=0)
    d = table["p50"] - table["mean"]
    work = table[by].assign(mean=table["mean"], lo1=lo, lo2=lo**2, hi1=hi, hi2=hi**2, d=d, d2=d**2, n=1)
    if "y" in table:
        work["y"] = table["y"]
    return work.groupby(by, as_index=False, observed=True).sum()


def _band(g: pd.DataFrame, kappa_lo: float, kappa_hi: float) -> pd.DataFrame:
    """p10/p50/p90 of summed rows (mean, lo1, lo2, hi1, hi2, d, d2) for the given kappas."""
    var_lo = g["lo2"] + kappa_lo * (g["lo1"] ** 2 - g["lo2"])
    var_hi = g["hi2"] + kappa_hi * (g["hi1"] ** 2 - g["hi2"])
    out = g.assign(p10=(g["mean"] - np.sqrt(var_lo.clip(lower=0))).clip(lower=0),
                   p90=g["mean"] + np.sqrt(var_hi.clip(lower=0)))
    # The median's offset from the mean as the series' offsets combine independently (unchanged since v1:
    # the totals' WAPE stays that of bottom-up).
    out["p50"] = (out["mean"] + np.sign(g["d"]) * np.sqrt(g["d2"])).clip(out["p10"], out["p90"])
    return out


def kappa_for(dependence: LevelDependence | None, summed: list[str]) -> tuple[float, float]:
    """The kappas of the level summing `summed`; a level not calibrated takes the largest ones (0 with none)."""
    if not dependence:
        return 0.0, 0.0
    for row in dependence:
        if set(row["summed"]) == set(summed):
            return float(row["kappa_lo"]), float(row["kappa_hi"])
    return max(float(r["kappa_lo"]) for r in dependence), max(float(r["kappa_hi"]) for r in dependence)


def sum_with_dependence(table: pd.DataFrame, keep: list[str], dependence: LevelDependence | None = None,
                        extra: list[str] | None = None) -> pd.DataFrame:
    """Sum `table` (keys, date, p10, p50, p90, mean) over the keys not in `keep`, per `keep` + date + `extra`."""
    summed = [k for k in SERIES_KEY if k not in keep]
    by = [*keep, *(extra or []), "date"]
    g = _band(_sums(table, by), *kappa_for(dependence, summed))
    for k in summed:
        g[k] = ALL
    return g


def _needed_kappa(dev: np.ndarray, sq: np.ndarray, lin: np.ndarray) -> np.ndarray:
    """Per row, the smallest kappa whose half-width reaches `dev` (the actual's distance beyond the mean)."""
    cross = lin**2 - sq
    with np.errstate(divide="ignore", invalid="ignore"):
        need = (np.clip(dev, 0, None) ** 2 - sq) / cross
    return np.where(dev <= 0, -np.inf, need)


def _conformal(need: np.ndarray, alpha: float) -> float:
    n = len(need)
    level = min(1.0, np.ceil((n + 1) * (1 - alpha)) / n)
    return float(np.clip(np.quantile(need, level, method="higher"), 0.0, MAX_KAPPA))


def _side_needs(g: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    dev = (g["y"] - g["mean"]).to_numpy()
    return (_needed_kappa(-dev, g["lo2"].to_numpy(), g["lo1"].to_numpy()),
            _needed_kappa(dev, g["hi2"].to_numpy(), g["hi1"].to_numpy()))


def _kappas(g: pd.DataFrame, interval: tuple[float, float], shared: bool) -> tuple[float, float]:
    """Each side's conformal kappa, or one kappa for both sides (rows' misses on either side pooled)."""
    need_lo, need_hi = _side_needs(g)
    if shared:
        kappa = _conformal(np.maximum(need_lo, need_hi), interval[0] + 1 - interval[1])
        return kappa, kappa
    return _conformal(need_lo, interval[0]), _conformal(need_hi, 1 - interval[1])


def _pinball(g: pd.DataFrame, kappas: tuple[float, float], interval: tuple[float, float]) -> float:
    band, y = _band(g, *kappas), g["y"]
    lo, hi = interval
    return float((np.maximum(lo * (y - band["p10"]), (1 - lo) * (band["p10"] - y))
                  + np.maximum(hi * (y - band["p90"]), (1 - hi) * (band["p90"] - y))).sum())


def _shared_wins(g: pd.DataFrame, interval: tuple[float, float]) -> bool:
    """Whether one kappa for both sides beats a kappa per side on the backtest windows, each left out in turn.

    Scored by the p10 and p90 quantile loss of each window's sums with kappas fitted on the other windows.
    """
    cutoffs = g["cutoff"].unique()
    if len(cutoffs) < 2:
        return False
    loss = dict.fromkeys((False, True), 0.0)
    for cutoff in cutoffs:
        fit, held = g[g["cutoff"] != cutoff], g[g["cutoff"] == cutoff]
        for shared in loss:
            loss[shared] += _pinball(held, _kappas(fit, interval, shared), interval)
    return loss[True] < loss[False]


def fit_aggregate_dependence(cv: pd.DataFrame, interval: tuple[float, float]) -> LevelDependence:
    """kappa per level and side from cross-conformal backtest rows (unique_id, cutoff, ds, y, p10, p50, p90, mean).

    A kappa per side follows skewed errors (a total of low counts misses above more than below); one kappa for
    both sides uses twice the rows, which holds where the backtest's misses fell on one side only (a trend
    that turns: FixMyStreet's grand total covered 0.63 of 48 months at 8 origins with a kappa per side, 0.77
    with one). Each level takes the one with the lower quantile loss over the backtest windows, each window
    left out in turn (`shared` in its row). Groups of one series say nothing about dependence and are left
    out; a level with none is not listed.
    """
    keys = split_series_id(cv["unique_id"].astype(str))
    rows = pd.concat([keys, cv[["cutoff", "ds", "y", "p10", "p50", "p90", "mean"]].rename(columns={"ds": "date"})],
                     axis=1)
    out = []
    for size in range(1, len(SERIES_KEY) + 1):
        for summed in combinations(SERIES_KEY, size):
            keep = [k for k in SERIES_KEY if k not in summed]
            g = _sums(rows, [*keep, "cutoff", "date"])
            g = g[g["lo1"] ** 2 - g["lo2"] > 1e-9]
            if g.empty:
                continue
            shared = _shared_wins(g, interval)
            kappa_lo, kappa_hi = _kappas(g, interval, shared)
            out.append({"summed": list(summed), "kappa_lo": kappa_lo, "kappa_hi": kappa_hi, "shared": shared,
                        "rows": len(g)})
    return out


def sum_rows(table: pd.DataFrame, by: list[str], kappa_lo: float, kappa_hi: float) -> pd.DataFrame:
    """Sum `table` (p10, p50, p90, mean[, y]) per `by` with the given kappas; `n` is the rows in each sum.

    Any grouping, not only over series keys: `forecast.periods` sums the days of a week, month or quarter.
    """
    return _band(_sums(table, by), kappa_lo, kappa_hi)


def fit_sum_kappa(table: pd.DataFrame, by: list[str], interval: tuple[float, float]) -> dict | None:
    """{"kappa_lo", "kappa_hi", "shared", "rows"} of the sums of backtest rows (y, p10, p50, p90, mean) per `by`.

    Split conformal as in `fit_aggregate_dependence`, for any grouping (one kappa or one per side, chosen over
    the backtest windows where `by` holds `cutoff`); None when no sum has two rows.
    """
    g = _sums(table, by)
    g = g[g["lo1"] ** 2 - g["lo2"] > 1e-9]
    if g.empty:
        return None
    shared = "cutoff" in by and _shared_wins(g, interval)
    kappa_lo, kappa_hi = _kappas(g, interval, shared)
    return {"kappa_lo": kappa_lo, "kappa_hi": kappa_hi, "shared": shared, "rows": len(g)}
