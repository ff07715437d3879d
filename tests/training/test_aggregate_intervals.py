"""Totals' bands fitted on a real backtest: near nominal out of sample where errors move together; honest at zero."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import poisson

from features.contract import SERIES_KEY
from features.series import SEP, series_frame, split_series_id
from forecast.aggregate import aggregate
from tests.conftest import make_usage
from training.aggregate_intervals import fit_aggregate_dependence, kappa_for
from training.backtest import run_backtest
from training.config import DemandConfig
from training.demand_model import model_frame

SMALL = {"objective": "tweedie", "n_estimators": 60, "learning_rate": 0.1, "num_leaves": 15, "verbosity": -1,
         "random_state": 0, "n_jobs": 1}
INTERVAL = (0.1, 0.9)


def _shocked_world(seed: int = 3) -> pd.DataFrame:
    """A small region whose series share day-level shocks (weather, campaigns): their errors move together."""
    usage = make_usage(days=420, seed=seed, services=3, segments=2, regions=("r1", "r2"))
    rng = np.random.default_rng(seed)
    dates = usage["date"].unique()
    shock = pd.Series(np.exp(rng.normal(0, 0.3, len(dates))), index=dates)
    usage["count"] = rng.poisson(usage["count"] * usage["date"].map(shock).to_numpy() + 0.5)
    return usage


@pytest.fixture(scope="module")
def backtest_rows() -> pd.DataFrame:
    config = DemandConfig(horizon=14, backtest_windows=6, backtest_refit=False, use_feedback=False, lgbm=SMALL)
    frame = model_frame(series_frame(_shocked_world(), "D"), None, config)
    cv = run_backtest(frame, config).cv  # each window's bottom bands calibrated on the other windows
    return cv.assign(**split_series_id(cv["unique_id"]).to_dict("series")).rename(columns={"ds": "date"})


def _cross_conformal_coverage(rows: pd.DataFrame, keep: list[str]) -> dict[bool, float]:
    """Coverage of `keep`'s totals over the windows, each window's dependence fitted on the others (or none)."""
    inside = {False: [], True: []}
    for cutoff in rows["cutoff"].unique():
        held = rows[rows["cutoff"] == cutoff]
        others = rows[rows["cutoff"] != cutoff].rename(columns={"date": "ds"})
        dependence = fit_aggregate_dependence(others, INTERVAL)
        truth = held.groupby([*keep, "date"])["y"].sum().rename("truth")
        for fitted in (False, True):
            band = aggregate(held.drop(columns="y"), keep, dependence if fitted else None)
            band = band.join(truth, on=[*keep, "date"])
            inside[fitted].append(((band["truth"] >= band["p10"]) & (band["truth"] <= band["p90"])).to_numpy())
    return {k: float(np.concatenate(v).mean()) for k, v in inside.items()}


@pytest.mark.parametrize("keep", [[], ["segment"], ["region"]])  # totals of 6 to 12 series
def test_totals_cover_near_nominal_out_of_sample_where_independent_errors_do_not(
        backtest_rows: pd.DataFrame, keep: list[str]) -> None:
    coverage = _cross_conformal_coverage(backtest_rows, keep)
    assert coverage[True] - coverage[False] > 0.08  # common shocks: quadrature of the parts is too narrow
    assert 0.68 <= coverage[True] <= 0.93


def test_levels_with_more_shared_shock_get_more_dependence(backtest_rows: pd.DataFrame) -> None:
    dependence = fit_aggregate_dependence(backtest_rows.rename(columns={"date": "ds"}), INTERVAL)
    assert {tuple(sorted(d["summed"])) for d in dependence} >= {("region",), ("segment",), ("region", "segment")}
    grand = kappa_for(dependence, list(SERIES_KEY))
    assert all(0 < k <= 4 for k in grand)  # errors neither independent nor unbounded


def test_served_totals_stay_coherent_with_the_fitted_dependence(backtest_rows: pd.DataFrame) -> None:
    dependence = fit_aggregate_dependence(backtest_rows.rename(columns={"date": "ds"}), INTERVAL)
    last = backtest_rows[backtest_rows["cutoff"] == backtest_rows["cutoff"].max()].drop(columns="y")
    total = aggregate(last, [], dependence)
    by_segment = aggregate(last, ["segment"], dependence)
    assert total["mean"].to_numpy() == pytest.approx(by_segment.groupby("date")["mean"].sum().to_numpy())
    assert total["mean"].to_numpy() == pytest.approx(last.groupby("date")["mean"].sum().to_numpy())
    for band in (total, by_segment):
        assert ((band["p10"] <= band["p50"]) & (band["p50"] <= band["p90"]) & (band["p10"] >= 0)).all()


def _low_count_backtest(n_dates: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Independent Poisson series of 0.2-0.6 a day with their exact p10/p50/p90: many totals of pairs are 0."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=n_dates)
    rows = []
    for i, mean in enumerate(np.linspace(0.2, 0.6, 8)):
        uid = SEP.join(("s", f"g{i // 2}", f"r{i % 2}"))
        q = poisson.ppf([0.1, 0.5, 0.9], mean)
        rows.append(pd.DataFrame({"unique_id": uid, "cutoff": dates[0], "ds": dates,
                                  "y": rng.poisson(mean, n_dates).astype(float), "mean": mean,
                                  "p10": q[0], "p50": q[1], "p90": q[2]}))
    return pd.concat(rows, ignore_index=True)


def test_low_count_totals_miss_at_most_nominally_and_stop_at_zero_below() -> None:
    """A count total that is 0 on more than 10% of days has p10 = 0, and its p90 falls on a count: such a band
    covers more than 80%, as the exact quantiles of the count would."""
    dependence = fit_aggregate_dependence(_low_count_backtest(seed=1), INTERVAL)
    held = _low_count_backtest(seed=2)
    held = held.assign(**split_series_id(held["unique_id"]).to_dict("series")).rename(columns={"ds": "date"})
    truth = held.groupby(["segment", "date"])["y"].sum().rename("truth")
    band = aggregate(held.drop(columns="y"), ["service", "segment"], dependence).join(truth, on=["segment", "date"])
    above = (band["truth"] > band["p90"]).mean()
    below = (band["truth"] < band["p10"]).mean()
    at_zero = ((band["truth"] == 0) & (band["p10"] == 0)).mean()
    assert above <= 0.12
    summed = held.groupby(["segment", "date"])["p90"].sum().rename("summed")
    assert (band.join(summed, on=["segment", "date"]).eval("p90 <= summed + 1e-9")).all()  # independent: no wider
    assert at_zero > 0.1 and below < 0.1  # zeros tie with p10 = 0 and count as inside


def _shifted_backtest(shifts: list[float], seed: int = 0) -> pd.DataFrame:
    """Ten series with symmetric bands (mean 10, half-width 4) whose actuals move together by each window's shift."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=20 * len(shifts))
    rows = []
    for i in range(10):
        for w, shift in enumerate(shifts):
            days = dates[20 * w: 20 * (w + 1)]
            rows.append(pd.DataFrame({"unique_id": SEP.join((f"s{i}", "g", "r")), "cutoff": days[0], "ds": days,
                                      "y": 10 + shift + rng.normal(0, 2, len(days)), "mean": 10.0, "p10": 6.0,
                                      "p50": 10.0, "p90": 14.0}))
    return pd.concat(rows, ignore_index=True)


def test_a_trend_that_turns_gets_one_kappa_for_both_sides() -> None:
    """Three windows of misses above, then one below: a kappa per side would leave the lower side at
    independence, so the level takes one kappa for both sides (it scores better with each window left out)."""
    (total,) = [d for d in fit_aggregate_dependence(_shifted_backtest([3, 3, 3, -3]), INTERVAL)
                if len(d["summed"]) == 1]
    assert total["shared"] and total["kappa_lo"] == total["kappa_hi"] > 0.2


def test_misses_on_one_side_only_keep_a_kappa_per_side() -> None:
    """Every window's total misses above: the lower side keeps its own, small kappa."""
    (total,) = [d for d in fit_aggregate_dependence(_shifted_backtest([3, 3, 3, 3]), INTERVAL)
                if len(d["summed"]) == 1]
    assert not total["shared"] and total["kappa_lo"] < 0.05 < total["kappa_hi"]
