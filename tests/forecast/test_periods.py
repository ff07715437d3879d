"""Daily forecasts summed to weeks, months and quarters: coherent means, partial periods, calibrated bands."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.series import SEP, split_series_id
from forecast.aggregate import aggregate
from forecast.periods import PeriodError, check_period, to_periods
from training.period_intervals import fit_period_dependence, period_kappa


def _daily(start: str = "2026-07-01", days: int = 28, n_series: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n_series):
        for d in pd.date_range(start, periods=days):
            mean = float(rng.uniform(5, 50))
            rows.append({"service": "s", "segment": f"g{i}", "region": "r", "date": d,
                         "p10": mean * 0.7, "p50": mean * 0.97, "p90": mean * 1.35, "mean": mean})
    return pd.DataFrame(rows)


def _table(period: str, kappa: float) -> list[dict]:
    return [{"period": period, "summed": [], "kappa_lo": kappa, "kappa_hi": kappa, "rows": 1}]


def test_period_means_are_the_sums_of_their_days_and_partial_edges_are_flagged() -> None:
    daily = _daily()  # Wednesday 1 July .. Tuesday 28 July 2026
    weeks = to_periods(daily, "week", "D", _table("W", 0.4))
    one = weeks[weeks["segment"] == "g0"]
    assert list(one["date"].dt.strftime("%m-%d")) == ["06-29", "07-06", "07-13", "07-20", "07-27"]
    assert list(one["days"]) == [5, 7, 7, 7, 2] and list(one["partial"]) == [True, False, False, False, True]
    assert (one["period_end"] - one["date"]).dt.days.tolist() == [6] * 5
    expected = daily[daily["segment"] == "g0"].groupby(pd.Grouper(key="date", freq="W-SUN"))["mean"].sum()
    assert one["mean"].to_numpy() == pytest.approx(expected.to_numpy())
    assert ((weeks["p10"] <= weeks["p50"]) & (weeks["p50"] <= weeks["p90"]) & (weeks["p10"] >= 0)).all()
    months = to_periods(daily, "month", "D", _table("M", 0.4))
    assert set(months["days"]) == {28} and months["partial"].all() and set(months["period_days"]) == {31}
    quarters = to_periods(daily, "quarter", "D", _table("Q", 0.4))
    assert set(quarters["date"].dt.strftime("%Y-%m-%d")) == {"2026-07-01"} and set(quarters["period_days"]) == {92}


def test_dependence_puts_the_band_between_independent_days_and_summed_quantiles() -> None:
    daily = _daily(start="2026-07-06", days=7)  # one whole ISO week
    widths = {k: to_periods(daily, "week", "D", _table("W", k)).eval("p90 - p10").to_numpy() for k in (0, 0.3, 1)}
    summed = daily.groupby("segment")[["p10", "p90"]].sum().to_numpy()
    assert (widths[0] < widths[0.3]).all() and (widths[0.3] < widths[1]).all()
    assert widths[1] == pytest.approx(summed[:, 1] - summed[:, 0])
    # A model without a calibrated table is treated as errors moving together: never too narrow.
    assert to_periods(daily, "week", "D", None).eval("p90 - p10").to_numpy() == pytest.approx(widths[1])


def test_a_period_of_the_forecast_frequency_is_the_forecast_itself() -> None:
    monthly = _daily(start="2026-01-01", days=1).assign(date=pd.Timestamp("2026-01-01"))
    monthly = pd.concat([monthly.assign(date=pd.Timestamp(f"2026-0{m}-01")) for m in (1, 2, 3, 4)], ignore_index=True)
    same = to_periods(monthly, "month", "M")
    assert same["p90"].to_numpy() == pytest.approx(monthly.sort_values(["segment", "date"])["p90"].to_numpy())
    assert not same["partial"].any()
    quarters = to_periods(monthly, "quarter", "M", [{"period": "Q", "summed": [], "kappa_lo": 0.5,
                                                    "kappa_hi": 0.5, "rows": 1}])
    q = quarters[quarters["segment"] == "g0"]
    assert list(q["days"]) == [90, 30] and list(q["partial"]) == [False, True]


def test_periods_finer_than_the_model_or_straddling_it_are_refused() -> None:
    assert check_period("quarter", "M") == "Q" and check_period("day", "D") == "D"
    for period, freq in (("day", "W"), ("month", "W"), ("week", "M"), ("year", "D")):
        with pytest.raises(PeriodError, match="period"):
            check_period(period, freq)


def _backtest(rho: float, n_series: int = 6, windows: int = 60, seed: int = 1) -> pd.DataFrame:
    """28-day backtest windows whose daily errors share a per-(series, window) shock with correlation `rho`."""
    rng = np.random.default_rng(seed)
    z = 1.2816
    rows = []
    for w in range(windows):
        cutoff = pd.Timestamp("2022-01-02") + pd.Timedelta(days=28 * w)
        ds = pd.date_range(cutoff + pd.Timedelta(days=1), periods=28)
        for i in range(n_series):
            mean, sigma = 20.0 + i, 3.0 + 0.2 * i
            e = np.sqrt(rho) * rng.normal() + np.sqrt(1 - rho) * rng.normal(size=28)
            rows.append(pd.DataFrame({"unique_id": SEP.join(("s", f"g{i}", "r")), "cutoff": cutoff, "ds": ds,
                                      "y": mean + sigma * e, "mean": mean, "p50": mean,
                                      "p10": mean - z * sigma, "p90": mean + z * sigma}))
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("rho", [0.0, 0.4])
def test_dependence_is_fitted_to_the_backtest_period_sums(rho: float) -> None:
    dependence = fit_period_dependence(_backtest(rho), "D", (0.1, 0.9))
    lo, hi = period_kappa(dependence, "W", [])
    assert lo == pytest.approx(rho, abs=0.15) and hi == pytest.approx(rho, abs=0.15)
    assert {r["period"] for r in dependence} == {"W", "M", "Q"}
    # Held-out windows of the same process (each window as its own region): weekly and monthly sums cover ~80%.
    held = _backtest(rho, seed=2).rename(columns={"ds": "date"})
    held[["service", "segment"]] = split_series_id(held["unique_id"])[["service", "segment"]].to_numpy()
    held["region"] = held["cutoff"].dt.strftime("w%Y%m%d")
    for period, code in (("week", "W"), ("month", "M")):
        sums = to_periods(held.drop(columns="y"), period, "D", dependence)
        actual = held.assign(date=held["date"].dt.to_period(code).dt.start_time).groupby(
            ["segment", "region", "date"], as_index=False)["y"].sum()
        joined = sums.merge(actual, on=["segment", "region", "date"])
        assert len(joined) == len(sums)
        inside = ((joined["y"] >= joined["p10"]) & (joined["y"] <= joined["p90"])).mean()
        assert 0.72 <= inside <= 0.88, (period, inside)


def test_totals_take_the_dependence_of_their_level() -> None:
    daily = _daily(start="2026-07-06", days=7)
    total = aggregate(daily, ["service"])
    table = [*_table("W", 0.0), {"period": "W", "summed": ["segment", "region"], "kappa_lo": 0.9, "kappa_hi": 0.9,
                                 "rows": 1}]
    wide = to_periods(total, "week", "D", table, summed=["segment", "region"])
    narrow = to_periods(total, "week", "D", _table("W", 0.0), summed=["segment", "region"])
    assert (wide["p90"] - wide["p10"]).iloc[0] > (narrow["p90"] - narrow["p10"]).iloc[0]
    assert wide["mean"].iloc[0] == pytest.approx(daily["mean"].sum())
