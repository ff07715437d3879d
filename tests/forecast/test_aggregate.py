"""Bottom-up aggregation of served forecasts: coherent means, sensible intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.series import SEP, split_series_id
from forecast.aggregate import ALL, aggregate
from training.aggregate_intervals import fit_aggregate_dependence


def _bottom(n_segments: int = 4, n_regions: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for g in range(n_segments):
        for r in range(n_regions):
            for d in pd.date_range("2026-01-01", periods=5):
                mean = float(rng.uniform(5, 50))
                rows.append({"service": "s", "segment": f"g{g}", "region": f"r{r}", "date": d,
                             "p10": mean * 0.7, "p50": mean * 0.97, "p90": mean * 1.35, "mean": mean})
    return pd.DataFrame(rows)


def test_means_add_up_at_every_level() -> None:
    bottom = _bottom()
    by_segment = aggregate(bottom, keep=["service", "segment"])
    total = aggregate(bottom, keep=["service"])
    assert (by_segment["region"] == ALL).all() and len(by_segment) == 4 * 5
    expected = bottom.groupby(["segment", "date"])["mean"].sum().to_numpy()
    assert by_segment["mean"].to_numpy() == pytest.approx(expected)
    # Summing the segment totals gives the grand total: the levels agree.
    assert by_segment.groupby("date")["mean"].sum().to_numpy() == pytest.approx(total["mean"].to_numpy())


def test_intervals_are_ordered_and_narrower_than_summed_quantiles() -> None:
    bottom = _bottom()
    total = aggregate(bottom, keep=["service"])
    assert ((total["p10"] <= total["p50"]) & (total["p50"] <= total["p90"]) & (total["p10"] >= 0)).all()
    summed = bottom.groupby("date")[["p10", "p90"]].sum().to_numpy()
    width = (total["p90"] - total["p10"]).to_numpy()
    assert (width < summed[:, 1] - summed[:, 0]).all() and (width > 0).all()


def test_a_group_of_one_keeps_its_own_interval() -> None:
    one = _bottom(n_segments=1, n_regions=1)
    out = aggregate(one, keep=["service", "region"])
    for col in ["p10", "p50", "p90", "mean"]:
        assert out[col].to_numpy() == pytest.approx(one[col].to_numpy())


def _kappa_table(kappa: float) -> list[dict]:
    return [{"summed": s, "kappa_lo": kappa, "kappa_hi": kappa, "rows": 1}
            for s in (["region"], ["segment"], ["segment", "region"])]


def test_dependence_widens_totals_between_independent_and_summed_quantiles() -> None:
    bottom = _bottom()
    widths = {k: aggregate(bottom, ["service"], _kappa_table(k)).eval("p90 - p10").to_numpy() for k in (0, 0.3, 1)}
    summed = bottom.groupby("date")[["p10", "p90"]].sum().to_numpy()
    assert (widths[0] < widths[0.3]).all() and (widths[0.3] < widths[1]).all()
    assert widths[1] == pytest.approx(summed[:, 1] - summed[:, 0])  # comonotone errors: quantiles add up
    total = aggregate(bottom, ["service"], _kappa_table(0.3))
    assert total["mean"].to_numpy() == pytest.approx(bottom.groupby("date")["mean"].sum().to_numpy())
    one = _bottom(n_segments=1, n_regions=1)
    assert aggregate(one, ["service", "region"], _kappa_table(0.8))["p90"].to_numpy() == pytest.approx(
        one["p90"].to_numpy())


def _backtest(rho: float, n_series: int = 12, n_dates: int = 1500, seed: int = 1) -> pd.DataFrame:
    """Backtest rows whose errors share a common shock with correlation `rho`; bands are exact 80% ones."""
    rng = np.random.default_rng(seed)
    z = 1.2816
    dates = pd.date_range("2025-01-01", periods=n_dates)
    common = rng.normal(size=n_dates)
    rows = []
    for i in range(n_series):
        mean, sigma = 20.0 + i, 3.0 + 0.2 * i
        e = np.sqrt(rho) * common + np.sqrt(1 - rho) * rng.normal(size=n_dates)
        uid = SEP.join(("s", f"g{i % 3}", f"r{i // 3}"))
        rows.append(pd.DataFrame({"unique_id": uid, "cutoff": dates[0], "ds": dates,
                                  "y": mean + sigma * e, "mean": mean, "p50": mean,
                                  "p10": mean - z * sigma, "p90": mean + z * sigma}))
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("rho", [0.0, 0.5])
def test_dependence_is_fitted_to_the_backtest_totals(rho: float) -> None:
    dependence = fit_aggregate_dependence(_backtest(rho), (0.1, 0.9))
    grand = next(d for d in dependence if set(d["summed"]) == {"service", "segment", "region"})
    assert grand["kappa_lo"] == pytest.approx(rho, abs=0.15) and grand["kappa_hi"] == pytest.approx(rho, abs=0.15)
    # Held-out dates of the same process: the fitted total band covers near 80%.
    held = _backtest(rho, seed=2).rename(columns={"ds": "date"})
    held[["service", "segment", "region"]] = split_series_id(held["unique_id"]).to_numpy()
    total = aggregate(held, ["service"], dependence)
    actual = held.groupby("date")["y"].sum().to_numpy()
    inside = ((actual >= total["p10"].to_numpy()) & (actual <= total["p90"].to_numpy())).mean()
    assert 0.72 <= inside <= 0.88


def test_a_level_without_its_own_calibration_takes_the_widest_fitted_one() -> None:
    bottom = _bottom()
    fitted = [{"summed": ["region"], "kappa_lo": 0.2, "kappa_hi": 0.4, "rows": 10},
              {"summed": ["segment"], "kappa_lo": 0.6, "kappa_hi": 0.9, "rows": 10}]
    widest = [{"summed": s, "kappa_lo": 0.6, "kappa_hi": 0.9, "rows": 10} for s in (["segment", "region"],)]
    uncalibrated = aggregate(bottom, ["service"], fitted)  # the grand total was not in the backtest
    assert uncalibrated[["p10", "p90"]].to_numpy() == pytest.approx(
        aggregate(bottom, ["service"], widest)[["p10", "p90"]].to_numpy())
    by_segment = aggregate(bottom, ["service", "segment"], fitted)  # its own kappas: narrower than the widest
    assert (by_segment.eval("p90 - p10") < aggregate(bottom, ["service", "segment"], widest).eval("p90 - p10")).all()
