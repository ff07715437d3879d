"""Erlang C staffing against hand-computed cases."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from forecast.staffing import erlang_c, expected_wait_minutes, staffing_table, windows_needed


def test_erlang_c_matches_the_textbook_formula() -> None:
    # Load a = 2 Erlangs, c = 3 windows: C = (a^c/c! * c/(c-a)) / (sum_{k<c} a^k/k! + a^c/c! * c/(c-a))
    a, c = 2.0, 3
    top = a**c / math.factorial(c) * c / (c - a)
    expected = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    assert erlang_c(c, a) == pytest.approx(expected)  # = 4/9
    assert erlang_c(c, a) == pytest.approx(4 / 9)


def test_hand_computed_staffing_case() -> None:
    # 96 requests over an 8-hour day at 10 minutes each: a = 96*10/480 = 2 Erlangs.
    # 3 windows: Wq = C * h / (c - a) = 4/9 * 10 / 1 = 4.44 min; 2 windows would be unstable.
    assert expected_wait_minutes(3, 96, 10, 480) == pytest.approx(40 / 9)
    assert windows_needed(96, 10, 8, wait_minutes=15) == 3
    # With a 3-minute target, 3 windows wait 4.44 min: a fourth window is needed.
    assert windows_needed(96, 10, 8, wait_minutes=3) == 4
    assert windows_needed(0, 10, 8, 15) == 0


def test_staffing_table_sums_segments_and_uses_handling_times() -> None:
    forecasts = pd.DataFrame({
        "service": ["a", "b", "b"], "segment": ["x", "x", "y"], "region": ["r", "r", "r"],
        "date": pd.to_datetime(["2026-01-12"] * 3), "p10": [70.0, 7.0, 7.0], "p50": [80.0, 10.0, 10.0],
        "p90": [96.0, 13.0, 13.0], "mean": [82.0, 10.0, 10.0],
    })
    table = staffing_table(forecasts, {"a": 10.0}, default_handle=15.0, working_hours=8, wait_minutes=15)
    row_a = table[table["service"] == "a"].iloc[0]
    # One segment: its own p90, and the hand-computed Erlang C case above.
    assert row_a["p90"] == 96 and row_a["windows"] == 3 and row_a["expected_wait_minutes"] == pytest.approx(4.44)
    row_b = table[table["service"] == "b"].iloc[0]
    assert row_b["handle_minutes"] == 15.0
    # Two segments: means add up, the upper half-widths (3 and 3) combine as independent errors.
    assert row_b["p90"] == pytest.approx(20 + (3**2 + 3**2) ** 0.5)
