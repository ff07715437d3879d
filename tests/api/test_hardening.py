"""Issue 11 on the API side: each finding reproduced as the attacker sent it, and what the service answers now.

The app runs in process on a real SQLite store; served forecasts are real `ServedForecasts` stored with the same
code a refresh uses, so no training is needed to reach the routes behind them.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes import ingest as ingest_route
from forecast.served import _store, load_served
from needcast.settings import Settings
from store.engine import get_engine

PLANNER = {"Authorization": "Bearer plan-key"}
INGEST = {"Authorization": "Bearer ingest-key"}
ADMIN = {"Authorization": "Bearer admin-key"}
PORTAL = {"Authorization": "Bearer portal-key"}
FORMULA = '=HYPERLINK("http://evil.example","click")'


def _forecast_table(segment: str = "youth") -> pd.DataFrame:
    dates = pd.date_range("2026-07-01", periods=7, freq="D")
    return pd.DataFrame({"service": "passport_issue", "segment": segment, "region": "center", "date": dates,
                         "p10": 40.0, "p50": 50.0, "p90": 60.0, "mean": 51.0})


def _meta(version: str = "1") -> dict:
    return {"model": {"name": "needcast-demand", "version": version, "trained_at": "2026-06-30T00:00:00+00:00"},
            "freq": "D", "horizon": 7, "data_until": "2026-06-30", "refreshed_at": "2026-06-30T01:00:00+00:00",
            "backtest": {}}


def _client(settings: Settings, **overrides: object) -> TestClient:
    return TestClient(create_app(settings.model_copy(update=overrides)), raise_server_exceptions=False)


@contextlib.contextmanager
def _serving(settings: Settings, **overrides: object) -> Iterator[TestClient]:
    """A client of an app serving the stored version 1 (as if its champion were loaded)."""
    app = create_app(settings.model_copy(update=overrides))
    with TestClient(app, raise_server_exceptions=False) as client:
        app.state.live.forecasts = load_served(app.state.engine, "1")
        yield client


@pytest.fixture
def stored(settings: Settings) -> Settings:
    """A store holding version 1's forecasts (one segment named like a spreadsheet formula); no MLflow at all."""
    table = pd.concat([_forecast_table(), _forecast_table(FORMULA)], ignore_index=True)
    _store(get_engine(settings.db_url), "1", table, _meta())
    return settings


# --- finding 7: `[NaN]` as a body -------------------------------------------------------------------------
def test_nan_body_is_a_422_not_a_500(settings: Settings) -> None:
    with _client(settings) as client:
        for body in (b"[NaN]", b"[Infinity]", b"NaN", b"[-Infinity, NaN]"):
            answer = client.post("/v1/usage", content=body, headers={**INGEST, "content-type": "application/json"})
            assert answer.status_code == 422, (body, answer.text)
            detail = answer.json()["detail"]
            assert detail and all(set(e) == {"loc", "msg", "type"} for e in detail)
            assert detail[0]["loc"][0] == "body"


# --- finding 4: a 500 wrote the raw request body to the log ---------------------------------------------------
def test_a_500_logs_the_exception_type_and_place_never_the_body(
        settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken(_engine, frame, _kind, **_kw):  # the fault: an error whose message quotes the input
        raise RuntimeError(f"cannot store {frame.iloc[0].to_dict()}")

    monkeypatch.setattr(ingest_route, "ingest_frame", broken)
    row = {"created_at": "2026-06-29T10:00:00", "id": "fb-1",
           "text": "Меня зовут Секретова Анна, тел. +7 912 345-67-89, anna.secret@mail.ru"}
    caplog.set_level(logging.DEBUG)
    with _client(settings) as client:
        answer = client.post("/v1/feedback", json=[row], headers=INGEST)
    assert answer.status_code == 500 and answer.json() == {"detail": "internal error"}
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "RuntimeError" in logged and "in broken" in logged  # the type and the place it broke
    for fragment in ("Секретова", "912", "anna.secret", "mail.ru", "fb-1"):
        assert fragment not in logged


def test_a_422_echoes_no_input(settings: Settings) -> None:
    with _client(settings) as client:
        answer = client.post("/v1/feedback", json={"text": "Секретова Анна"}, headers=INGEST)
    assert answer.status_code == 422 and "Секретова" not in answer.text


# --- finding 3: no rate limit, no lockout; staffing's cost ---------------------------------------------------
def test_rate_limit_per_address_answers_429_with_retry_after(settings: Settings) -> None:
    with _client(settings, rate_limit_ip="5/minute") as client:
        codes = [client.get("/v1/needs/topics", headers=PLANNER).status_code for _ in range(7)]
        assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
        refused = client.get("/v1/needs/topics", headers=PLANNER)
        assert 1 <= int(refused.headers["Retry-After"]) <= 60 and "at most" in refused.json()["detail"]
        assert client.get("/healthz").status_code == 200  # probes are never limited


def test_rate_limit_per_key(settings: Settings) -> None:
    with _client(settings, rate_limit_key="3/minute") as client:
        codes = [client.get("/v1/needs/topics", headers=PLANNER).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert client.get("/v1/needs/topics", headers=ADMIN).status_code == 200  # another key has its own count


def test_repeated_wrong_keys_lock_the_address_out(settings: Settings) -> None:
    with _client(settings, lockout_failures=5, lockout_seconds=2) as client:
        wrong = [client.get("/v1/needs/topics", headers={"Authorization": f"Bearer guess-{i}"}).status_code
                 for i in range(5)]
        assert wrong == [401] * 5
        locked = client.get("/v1/needs/topics", headers=PLANNER)  # even the right key, for a while
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
        time.sleep(2.2)
        assert client.get("/v1/needs/topics", headers=PLANNER).status_code == 200  # the lockout is time-limited


@pytest.mark.parametrize(("params", "field"), [
    ({"wait_minutes": "5e-324", "handle_minutes": "480"}, "wait_minutes"),
    ({"wait_minutes": "0"}, "wait_minutes"),
    ({"handle_minutes": "1e308"}, "handle_minutes"),
    ({"handle_minutes": "0.0001"}, "handle_minutes"),
])
def test_staffing_inputs_are_bounded(stored: Settings, params: dict, field: str) -> None:
    with _serving(stored) as client:
        answer = client.get("/v1/staffing", params=params, headers=PLANNER)
    assert answer.status_code == 422 and field in str(answer.json()["detail"])


def test_staffing_at_the_bounds_answers_at_once(stored: Settings) -> None:
    with _serving(stored) as client:
        started = time.process_time()
        answer = client.get("/v1/staffing", params={"wait_minutes": "0.5", "handle_minutes": "480"}, headers=PLANNER)
        assert answer.status_code == 200 and answer.json()["items"]
        assert time.process_time() - started < 5  # it took 6 s of CPU per call before; bench measures the ms


# --- finding 6: registry unreachable, paths in /readyz -----------------------------------------------------
def test_registry_unreachable_serves_stored_forecasts(stored: Settings, tmp_path: Path) -> None:
    unreadable = tmp_path / "gone" / "mlflow.db"  # the MLflow database moved away
    with _client(stored, mlflow_tracking_uri=f"sqlite:///{unreadable}") as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ready", "model_version": "1", "registry": "unavailable", "needs": "none"}
        assert client.get("/v1/forecasts", params={"segment": "youth"}, headers=PLANNER).status_code == 200
        metrics = client.get("/metrics").text
        assert "needcast_registry_available 0.0" in metrics


def test_readyz_shows_no_file_path(settings: Settings, tmp_path: Path) -> None:
    broken = tmp_path / "not-a-database.db"
    broken.write_bytes(b"this is not sqlite" * 100)
    with _client(settings, mlflow_tracking_uri=f"sqlite:///{broken}") as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert str(tmp_path) not in ready.text and "/" not in ready.json()["detail"]
    assert ready.json()["registry"] == "unavailable"


# --- finding 7: formula injection in the CSV; /docs from a CDN ---------------------------------------------
def test_forecast_csv_escapes_formulas(stored: Settings) -> None:
    with _serving(stored) as client:
        answer = client.get("/v1/forecasts", params={"format": "csv"}, headers=PLANNER)
    assert answer.status_code == 200
    cells = [line.split(",", 2)[1] for line in answer.text.splitlines()[1:]]
    assert not [c for c in cells if c.lstrip('"').startswith(("=", "+", "-", "@"))]
    assert any(c.lstrip('"').startswith("'=HYPERLINK") for c in cells)


def test_docs_are_served_locally_under_a_csp(settings: Settings) -> None:
    with _client(settings) as client:
        for page in ("/docs", "/redoc"):
            answer = client.get(page)
            assert answer.status_code == 200
            assert "cdn" not in answer.text and "https://" not in answer.text.split("<body")[1]
            csp = answer.headers["Content-Security-Policy"]
            assert "default-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
        assert client.get("/docs-assets/redoc.standalone.js").status_code == 200


# --- finding 5: small cells --------------------------------------------------------------------------------
def test_segments_of_one_feedback_show_no_rating(stored: Settings) -> None:
    with _serving(stored) as client:
        client.app.state.live.insights = {"segments": [
            {"segment": "youth", "series": 1, "services": ["passport_issue"], "regions": ["center"],
             "recent_volume": 350.0, "previous_volume": 300.0, "trend": 0.1, "mean_rating": 1.0,
             "recent_mean_rating": 1.0, "feedback_count": 1, "recent_feedback_count": 1},
            {"segment": "pensioners", "series": 1, "services": ["passport_issue"], "regions": ["center"],
             "recent_volume": 900.0, "previous_volume": 800.0, "trend": 0.0, "mean_rating": 3.7,
             "recent_mean_rating": 3.5, "feedback_count": 240, "recent_feedback_count": 40},
        ], "suggestions": {}}
        items = {i["segment"]: i for i in client.get("/v1/segments", headers=PLANNER).json()["items"]}
    assert items["youth"]["suppressed"] is True
    assert items["youth"]["mean_rating"] is None and items["youth"]["feedback_count"] is None
    assert items["youth"]["recent_volume"] == 350.0  # request volumes are no respondents' statistic
    assert items["pensioners"]["suppressed"] is False and items["pensioners"]["mean_rating"] == 3.7
