"""The levels of a benchmark case's hierarchy: its series summed over each set of keys, and scores per level.

A level is named by the keys it keeps (`service x segment`, `segment`, ... `total`); keys with one value in a
case (NYC's and FixMyStreet's region) add no level. Peers are fitted on each level's summed series (what a
planner would do with a tool that has no hierarchy); needcast sums its bottom-level forecasts
(`training.aggregate_intervals`), with independent errors (the release before) or its calibrated dependence.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import combinations, pairwise

import numpy as np
import pandas as pd

from bench.peer_cases import Case
from features.contract import SERIES_KEY
from features.series import series_id
from training.aggregate_intervals import LevelDependence, fit_aggregate_dependence, sum_with_dependence
from training.metrics import forecast_metrics

__all__ = ["Level", "backtest_coverage", "bin_summary", "binned_rows", "case_levels", "history_bin_of", "level_case",
           "node_case", "score_level", "sum_forecast", "volume_bin_of", "volume_bins", "zero_share_bin_of",
           "zero_share_bins"]

_YEAR = {"D": 364, "W": 52, "M": 12}  # periods in a year


@dataclass(frozen=True)
class Level:
    keep: tuple[str, ...]

    @property
    def name(self) -> str:
        return " x ".join(self.keep) if self.keep else "total"

    @property
    def is_bottom(self) -> bool:
        return len(self.keep) == len(SERIES_KEY)


def case_levels(case: Case) -> list[Level]:
    """Every distinct level of the case, bottom first, total last."""
    varying = [k for k in SERIES_KEY if case.history[k].nunique() > 1]
    out = [Level(tuple(SERIES_KEY))]
    for size in range(len(varying) - 1, -1, -1):
        out += [Level(keep) for keep in combinations(varying, size)]
    return out


def _sum_nodes(frame: pd.DataFrame, level: Level) -> pd.DataFrame:
    keep = list(level.keep)
    out = frame.groupby([*keep, "ds"], as_index=False, observed=True)["y"].sum()
    for k in SERIES_KEY:
        if k not in keep:
            out[k] = "*"
    out["unique_id"] = series_id(out)
    return out


def level_case(case: Case, level: Level) -> Case:
    """The case on the summed series of `level` (history and actuals); peers read it as they read any case."""
    if level.is_bottom:
        return case
    keys = case.history.drop_duplicates("unique_id")[["unique_id", *SERIES_KEY]]
    actual = case.actual.merge(keys, on="unique_id")
    history = _sum_nodes(case.history, level)
    return replace(case, history=history[["unique_id", "ds", "y", *SERIES_KEY]],
                   actual=_sum_nodes(actual, level)[["unique_id", "ds", "y"]], usage=None, feedback=None)


def node_case(case: Case, levels: list[Level]) -> tuple[Case, dict[str, pd.Index]]:
    """The case on every node of `levels` at once (bottom series and their sums), and each level's node ids.

    Peers fit once on it: a local model fits each node alone either way, and a global one (LightGBM, NHITS)
    learns from all the series a planner asks about, as it would in use.
    """
    parts = [level_case(case, level) for level in levels]
    ids = {level.name: pd.Index(part.history["unique_id"].unique()) for level, part in zip(levels, parts, strict=True)}
    columns = ["unique_id", "ds", "y", *SERIES_KEY]
    history = pd.concat([part.history[columns] for part in parts], ignore_index=True)
    actual = pd.concat([part.actual[["unique_id", "ds", "y"]] for part in parts], ignore_index=True)
    return replace(case, history=history, actual=actual, usage=None, feedback=None), ids


def sum_forecast(case: Case, pred: pd.DataFrame, level: Level, dependence: LevelDependence | None) -> pd.DataFrame:
    """Bottom-level forecasts (unique_id, ds, p10, p50, p90, mean) summed to `level`'s series."""
    keys = case.history.drop_duplicates("unique_id")[["unique_id", *SERIES_KEY]]
    bottom = pred.merge(keys, on="unique_id").rename(columns={"ds": "date"})
    out = sum_with_dependence(bottom, list(level.keep), dependence).rename(columns={"date": "ds"})
    out["unique_id"] = series_id(out)
    return out[["unique_id", "ds", "p10", "p50", "p90", "mean"]]


def score_level(case: Case, pred: pd.DataFrame) -> dict[str, float]:
    """WAPE, scaled quantile loss, p10-p90 coverage and mean band width of `pred` on the case's actuals."""
    rows = case.actual.merge(pred, on=["unique_id", "ds"], how="left")
    if rows["p50"].isna().any():
        raise ValueError(f"{case.name}: {int(rows['p50'].isna().sum())} held-out periods have no prediction")
    rows["cutoff"] = case.cutoff
    out = forecast_metrics(rows, case.history, case.season)
    out["width"] = float((rows["p90"] - rows["p10"]).mean())
    out["below"] = float((rows["y"] < rows["p10"]).mean())
    out["above"] = float((rows["y"] > rows["p90"]).mean())
    out["series"] = float(rows["unique_id"].nunique())
    return out


def volume_bin_of(case: Case, edges: tuple[float, ...] = (1, 5, 20)) -> pd.Series:
    """Each series' bin of mean volume per period over the history (unique_id -> label)."""
    volume = case.history.groupby("unique_id")["y"].mean()
    labels = [f"< {edges[0]:g}"] + [f"{a:g}-{b:g}" for a, b in pairwise(edges)] + [f">= {edges[-1]:g}"]
    return pd.cut(volume, [-np.inf, *edges, np.inf], labels=labels, right=False)


def zero_share_bin_of(case: Case, edges: tuple[float, ...] = (0.2, 0.5)) -> pd.Series:
    """Each series' bin of its share of periods with 0 over its last year (intermittency; unique_id -> label)."""
    recent = case.history.groupby("unique_id").tail(_YEAR[case.freq])
    zeros = (recent["y"] == 0).groupby(recent["unique_id"]).mean()
    labels = [f"zeros < {edges[0]:.0%}"] + [f"zeros {a:.0%}-{b:.0%}" for a, b in pairwise(edges)]
    labels += [f"zeros >= {edges[-1]:.0%}"]
    return pd.cut(zeros, [-np.inf, *edges, np.inf], labels=labels, right=False)


def history_bin_of(case: Case) -> pd.Series:
    """Each series' bin of history length before the origin, in years (unique_id -> label)."""
    length = case.history.groupby("unique_id")["ds"].size() / _YEAR[case.freq]
    return pd.cut(length, [0, 0.25, 1, 2, np.inf], labels=["history < 3 months", "3-12 months", "1-2 years",
                                                             ">= 2 years"], right=False)


def volume_bins(case: Case, pred: pd.DataFrame, cv: pd.DataFrame | None = None) -> pd.DataFrame:
    """Bottom-level coverage and WAPE per bin of the series' mean volume per period over the history.

    With the backtest rows `cv`, also their cross-conformal coverage per bin (4 windows: more periods than
    the one held-out window).
    """
    return _binned(case, pred, cv, volume_bin_of(case))


def zero_share_bins(case: Case, pred: pd.DataFrame, cv: pd.DataFrame | None = None) -> pd.DataFrame:
    """As `volume_bins`, by the share of periods with 0 over the series' last year (intermittency)."""
    return _binned(case, pred, cv, zero_share_bin_of(case))


def binned_rows(rows: pd.DataFrame, bins: pd.Series) -> pd.DataFrame:
    """Rows (unique_id, y, p10, p50, p90) with their series' bin, whether p10-p90 holds y, and |y - p50|."""
    rows = rows.assign(bin=rows["unique_id"].map(bins).astype(bins.dtype))
    return rows.assign(inside=(rows["y"] >= rows["p10"]) & (rows["y"] <= rows["p90"]),
                       err=(rows["y"] - rows["p50"]).abs())


def bin_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Series, coverage and WAPE per bin of `binned_rows`' output."""
    g = rows.groupby("bin", observed=False)
    return pd.DataFrame({"series": g["unique_id"].nunique(), "coverage": g["inside"].mean(),
                         "wape": g["err"].sum() / g["y"].sum()})


def _binned(case: Case, pred: pd.DataFrame, cv: pd.DataFrame | None, bins: pd.Series) -> pd.DataFrame:
    out = bin_summary(binned_rows(case.actual.merge(pred, on=["unique_id", "ds"]), bins))
    if cv is not None:
        out["backtest_coverage"] = binned_rows(cv, bins).groupby("bin", observed=False)["inside"].mean()
    return out.reset_index()


def backtest_coverage(case: Case, cv: pd.DataFrame, level: Level,
                      interval: tuple[float, float]) -> tuple[dict[str, float], dict[str, float]]:
    """Cross-conformal p10-p90 coverage of `level`'s totals over the backtest windows: independent, fitted.

    Each window's totals get the dependence fitted on the other windows' rows: many more held-out totals than
    the case's one held-out window gives, and none of them seen by the fit. Each side: the pooled coverage
    (`pooled`) and the lowest and highest of single windows (`low`, `high`), which show how far one window's
    coverage moves with the same calibration.
    """
    bottom = cv.merge(case.history.drop_duplicates("unique_id")[["unique_id", *SERIES_KEY]], on="unique_id")
    bottom = bottom.rename(columns={"ds": "date"})
    inside = {False: [], True: []}
    for cutoff in bottom["cutoff"].unique():
        held = bottom[bottom["cutoff"] == cutoff]
        dependence = fit_aggregate_dependence(cv[cv["cutoff"] != cutoff], interval)
        truth = held.groupby([*level.keep, "date"], observed=True)["y"].sum().rename("y_true")
        for fitted in (False, True):
            band = sum_with_dependence(held.drop(columns="y"), list(level.keep), dependence if fitted else None)
            band = band.join(truth, on=[*level.keep, "date"])
            inside[fitted].append(((band["y_true"] >= band["p10"]) & (band["y_true"] <= band["p90"])).to_numpy())

    def summary(parts: list[np.ndarray]) -> dict[str, float]:
        by_window = [float(p.mean()) for p in parts]
        return {"pooled": float(np.concatenate(parts).mean()), "low": min(by_window), "high": max(by_window)}

    return summary(inside[False]), summary(inside[True])
