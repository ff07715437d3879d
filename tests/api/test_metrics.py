"""`/metrics`: withheld small cells are counted (`needcast_suppressed_cells_total`), by the kind of item."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from forecast.served import _store, load_served
from needcast.settings import Settings
from store.engine import get_engine

PLANNER = {"Authorization": "Bearer plan-key"}
SEGMENTS = [  # one segment of a single feedback (its rating is one person's), one of 240
    {"segment": "youth", "series": 1, "services": ["passport_issue"], "regions": ["center"], "recent_volume": 350.0,
     "previous_volume": 300.0, "trend": 0.1, "mean_rating": 1.0, "recent_mean_rating": 1.0, "feedback_count": 1,
     "recent_feedback_count": 1},
    {"segment": "pensioners", "series": 1, "services": ["passport_issue"], "regions": ["center"],
     "recent_volume": 900.0, "previous_volume": 800.0, "trend": 0.0, "mean_rating": 3.7, "recent_mean_rating": 3.5,
     "feedback_count": 240, "recent_feedback_count": 40},
]


def _suppressed(client: TestClient) -> dict[str, float]:
    """`needcast_suppressed_cells_total` per kind, as `/metrics` exposes it (no key needed)."""
    answer = client.get("/metrics")
    assert answer.status_code == 200
    family = next(f for f in text_string_to_metric_families(answer.text) if f.name == "needcast_suppressed_cells")
    return {s.labels["kind"]: s.value for s in family.samples if s.name.endswith("_total")}


@pytest.fixture
def serving(settings: Settings, request: pytest.FixtureRequest):
    """An app serving stored forecasts of version 1 and the segments above, with `min_cell` from the test."""
    dates = pd.date_range("2026-07-01", periods=7, freq="D")
    table = pd.DataFrame({"service": "passport_issue", "segment": "youth", "region": "center", "date": dates,
                          "p10": 40.0, "p50": 50.0, "p90": 60.0, "mean": 51.0})
    meta = {"model": {"name": "needcast-demand", "version": "1", "trained_at": "2026-06-30T00:00:00+00:00"},
            "freq": "D", "horizon": 7, "data_until": "2026-06-30", "refreshed_at": "2026-06-30T01:00:00+00:00",
            "backtest": {}}
    _store(get_engine(settings.db_url), "1", table, meta)
    app = create_app(settings.model_copy(update={"min_cell": request.param}))
    with TestClient(app, raise_server_exceptions=False) as client:
        app.state.live.forecasts = load_served(app.state.engine, "1")
        app.state.live.insights = {"segments": SEGMENTS, "suggestions": {}}
        yield client


@pytest.mark.parametrize("serving", [10], indirect=True)
def test_each_withheld_segment_is_counted(serving: TestClient) -> None:
    before = _suppressed(serving)
    assert set(before) >= {"needs", "topics", "segments", "need_labels"}  # every kind exposed from the start
    for _ in range(3):
        items = serving.get("/v1/segments", headers=PLANNER).json()["items"]
        assert [i["suppressed"] for i in items] == [True, False]
    after = _suppressed(serving)
    assert after["segments"] - before["segments"] == 3  # one withheld segment per answer
    assert all(after[k] == before[k] for k in after if k != "segments")


@pytest.mark.parametrize("serving", [1], indirect=True)
def test_nothing_is_counted_when_nothing_is_withheld(serving: TestClient) -> None:
    before = _suppressed(serving)
    items = serving.get("/v1/segments", headers=PLANNER).json()["items"]
    assert not any(i["suppressed"] for i in items)
    assert _suppressed(serving) == before
