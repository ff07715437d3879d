"""GET /v1/forecasts?period=week|month|quarter: sums of the served days, in JSON, CSV and xlsx alike."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

import numpy as np
import openpyxl
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from forecast.served import _store, load_served
from needcast.settings import Settings
from store.engine import get_engine

PLANNER = {"Authorization": "Bearer plan-key"}
KAPPA = {"W": 0.3, "M": 0.5, "Q": 0.6}


def _table() -> pd.DataFrame:
    """28 days from Wednesday 2026-07-01 for two segments in two regions."""
    rng = np.random.default_rng(3)
    rows = []
    for segment in ("youth", "pensioners"):
        for region in ("center", "north"):
            for date in pd.date_range("2026-07-01", periods=28):
                mean = float(rng.uniform(10, 60))
                rows.append({"service": "passport_issue", "segment": segment, "region": region, "date": date,
                             "p10": 0.7 * mean, "p50": 0.95 * mean, "p90": 1.4 * mean, "mean": mean})
    return pd.DataFrame(rows)


def _meta() -> dict:
    dependence = [{"period": p, "summed": summed, "kappa_lo": k, "kappa_hi": k, "rows": 10}
                  for p, k in KAPPA.items() for summed in ([], ["region"], ["segment", "region"])]
    return {"model": {"name": "needcast-demand", "version": "1", "trained_at": "2026-06-30T00:00:00+00:00"},
            "freq": "D", "horizon": 28, "data_until": "2026-06-30", "refreshed_at": "2026-06-30T01:00:00+00:00",
            "backtest": {}, "period_dependence": dependence}


@contextlib.contextmanager
def _serving(settings: Settings) -> Iterator[TestClient]:
    engine = get_engine(settings.db_url)
    _store(engine, "1", _table(), _meta())
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        app.state.live.forecasts = load_served(engine, "1")
        yield client


def test_weeks_sum_their_days_with_partial_edges_flagged(settings: Settings) -> None:
    with _serving(settings) as client:
        params = {"segment": "youth", "region": "center"}
        days = client.get("/v1/forecasts", params=params, headers=PLANNER).json()["items"]
        body = client.get("/v1/forecasts", params={**params, "period": "week"}, headers=PLANNER).json()
    assert body["period"] == "week" and body["freq"] == "D"
    weeks = body["items"]
    assert [(w["date"], w["period_end"], w["days"], w["partial"]) for w in weeks] == [
        ("2026-06-29", "2026-07-05", 5, True), ("2026-07-06", "2026-07-12", 7, False),
        ("2026-07-13", "2026-07-19", 7, False), ("2026-07-20", "2026-07-26", 7, False),
        ("2026-07-27", "2026-08-02", 2, True)]
    assert weeks[1]["mean"] == pytest.approx(sum(d["mean"] for d in days[5:12]))
    assert sum(w["mean"] for w in weeks) == pytest.approx(sum(d["mean"] for d in days))
    hi = [d["p90"] - d["mean"] for d in days[5:12]]
    # kappa 0.3: W^2 = sum w^2 + 0.3 ((sum w)^2 - sum w^2), between quadrature and the summed quantiles.
    expected = np.sqrt(sum(w * w for w in hi) + KAPPA["W"] * (sum(hi) ** 2 - sum(w * w for w in hi)))
    assert weeks[1]["p90"] - weeks[1]["mean"] == pytest.approx(expected)
    assert all(0 <= w["p10"] <= w["p50"] <= w["p90"] for w in weeks)
    assert not set().union(*days) & {"period_end", "days", "partial"}  # without period=, the answer is as before


def test_totals_by_month_agree_across_formats(settings: Settings) -> None:
    params = {"segment": "youth", "aggregate": "true", "period": "month"}
    with _serving(settings) as client:
        body = client.get("/v1/forecasts", params=params, headers=PLANNER).json()
        csv = client.get("/v1/forecasts", params={**params, "format": "csv"}, headers=PLANNER)
        xlsx = client.get("/v1/forecasts", params={**params, "format": "xlsx"}, headers=PLANNER)
    (july,) = body["items"]
    assert (july["region"], july["date"], july["days"], july["partial"]) == ("*", "2026-07-01", 28, True)
    assert july["mean"] == pytest.approx(_table().query("segment == 'youth'")["mean"].sum())
    frame = pd.read_csv(io.StringIO(csv.text))
    assert list(frame[["date", "period_end", "days", "partial"]].iloc[0]) == ["2026-07-01", "2026-07-31", 28, True]
    assert frame["p90"].iloc[0] == pytest.approx(july["p90"], abs=1e-3)
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    header = [c.value for c in sheet[1]]
    row = dict(zip(header, [c.value for c in sheet[2]], strict=True))
    assert row["Начало периода"].date().isoformat() == "2026-07-01" and row["Неполный период"] == "да"
    assert row["Верхняя граница (p90)"] == pytest.approx(july["p90"]) and row["Дней в прогнозе"] == 28


def test_quarters_and_bad_periods(settings: Settings) -> None:
    with _serving(settings) as client:
        quarters = client.get("/v1/forecasts", params={"period": "quarter", "segment": "youth", "region": "north"},
                              headers=PLANNER).json()["items"]
        bad = client.get("/v1/forecasts", params={"period": "year"}, headers=PLANNER)
    assert [(q["date"], q["period_end"], q["days"], q["partial"]) for q in quarters] == [
        ("2026-07-01", "2026-09-30", 28, True)]
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "period"]
