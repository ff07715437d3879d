"""Bottom-up aggregation of served forecasts: coherent means, sensible intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.aggregate import ALL, aggregate


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
