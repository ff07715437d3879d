"""Successive forecast origins of a benchmark case: windows that follow each other, fits that see only the past."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.levels import case_levels
from bench.peer_cases import Case, earlier, shortened
from bench.rolling_origins import level_figures, rolling_case
from features.series import series_frame

H = 14


def _case(days: int = 420) -> Case:
    """Four series (2 services x 2 segments) of weekly-seasonal Poisson counts; the last H days held out."""
    rng = np.random.default_rng(3)
    dates = pd.date_range("2025-01-01", periods=days, freq="D")
    parts = []
    for i, (service, segment) in enumerate([("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")]):
        rate = (3 + 2 * i) * (1 + 0.4 * (dates.dayofweek < 5))
        parts.append(pd.DataFrame({"date": dates, "service": service, "segment": segment, "region": "R",
                                   "count": rng.poisson(rate).astype(float)}))
    usage = pd.concat(parts, ignore_index=True)
    cutoff_day = dates[-1] - pd.Timedelta(days=H)
    full = series_frame(usage, "D")
    history = full[full["ds"] <= cutoff_day].reset_index(drop=True)
    actual = full[full["ds"] > cutoff_day][["unique_id", "ds", "y"]].reset_index(drop=True)
    return Case("toy", "toy", "D", H, 7, cutoff_day, history, actual, usage[usage["date"] <= cutoff_day],
                country="RU")


def test_earlier_origins_hold_out_the_windows_before_without_overlap() -> None:
    case = _case()
    one, two = earlier(case, H), earlier(case, 2 * H)
    assert one.cutoff == case.cutoff - pd.Timedelta(days=H)
    assert two.cutoff == case.cutoff - pd.Timedelta(days=2 * H)
    for at, next_first in ((one, case.actual["ds"].min()), (two, one.actual["ds"].min())):
        assert at.history["ds"].max() == at.cutoff
        assert at.usage["date"].max() == at.cutoff  # nothing after the origin reaches the fit
        assert at.actual["ds"].min() == at.cutoff + pd.Timedelta(days=1)
        assert at.actual["ds"].max() == next_first - pd.Timedelta(days=1)  # ends where the later window starts
        assert (at.actual.groupby("unique_id")["ds"].nunique() == H).all()
        truth = case.history.set_index(["unique_id", "ds"])["y"]
        assert at.actual.set_index(["unique_id", "ds"])["y"].equals(truth.loc[at.actual.set_index(["unique_id",
                                                                                                     "ds"]).index])
    assert earlier(case, 0) is case
    with pytest.raises(ValueError, match="cannot move the origin"):
        earlier(case, 10_000)


def test_rolling_case_pools_every_level_over_its_origins() -> None:
    case = _case()
    result = rolling_case(case, origins=2, peers=["seasonal naive"], peer_origins=1)
    assert result.origins == [case.cutoff, case.cutoff - pd.Timedelta(days=H)]
    figures = level_figures(result).set_index("level")
    assert (figures["best_peer"] == "seasonal naive").all() and (figures["peer_origins"] == 1).all()
    latest = {level: rows["needcast"][0] for level, rows in result.levels.items()}
    for level, rows in latest.items():  # the ratio compares needcast on the peer's origin only
        own = (rows["y"] - rows["p50"]).abs().sum() / rows["y"].sum()
        assert figures.loc[level, "wape_on_peer_origins"] == pytest.approx(own)
    nodes = {level.name: case.history.groupby(list(level.keep) or (lambda _: 0)).ngroups
             for level in case_levels(case)}
    assert set(figures.index) == set(nodes)
    for level, n in nodes.items():
        assert figures.loc[level, "periods"] == 2 * H * n
    assert figures.loc["total", "series"] == 1
    assert ((figures["coverage"] >= figures["low"]) & (figures["coverage"] <= figures["high"])).all()
    assert np.allclose(figures["below"] + figures["above"] + figures["coverage"], 1.0)
    # A sum's band is wider than any of its parts' on average: the total's is the widest.
    assert figures.loc["total", "width"] == figures["width"].max()


def test_shortened_series_start_late_in_history_and_usage() -> None:
    case = _case()
    short = shortened(case, share=0.5, periods=60)
    starts = short.history.groupby("unique_id")["ds"].min()
    young = starts[starts > case.history["ds"].min()]
    assert len(young) == 2 and (young == case.cutoff - pd.Timedelta(days=59)).all()
    old = case.history[~case.history["unique_id"].isin(young.index)]
    assert short.history.merge(old, on=["unique_id", "ds", "y"]).shape[0] == len(old)  # the others are whole
    usage_starts = short.usage.groupby(["service", "segment"])["date"].min()
    assert (usage_starts == case.cutoff - pd.Timedelta(days=59)).sum() == 2
    assert short.actual.equals(case.actual)
    assert (level_figures(rolling_case(short, origins=1))["periods"] > 0).all()
