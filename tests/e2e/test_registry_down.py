"""Issue 11, finding 6: with the MLflow database moved or unreadable, `needcast serve` starts at once and serves
the forecasts stored in needcast.db, saying `registry: unavailable`; before, it answered 503 "train first", or
retried for 111 s and died with a traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from forecast.served import _store
from needcast.settings import Settings
from store.engine import get_engine
from tests.conftest import API_KEYS
from tests.e2e.conftest import start_server


def _world(folder: Path) -> dict[str, str]:
    """A home whose database holds version 1's forecasts, and an MLflow URI that cannot be read."""
    home = folder / "home"
    home.mkdir()
    table = pd.DataFrame({"service": "svc0", "segment": "seg0", "region": "all",
                          "date": pd.date_range("2026-07-01", periods=7, freq="D"),
                          "p10": 1.0, "p50": 2.0, "p90": 3.0, "mean": 2.1})
    meta = {"model": {"name": "needcast-demand", "version": "1", "trained_at": "2026-06-30T00:00:00+00:00"},
            "freq": "D", "horizon": 7, "data_until": "2026-06-30", "refreshed_at": "2026-06-30T01:00:00+00:00",
            "backtest": {}}
    _store(get_engine(f"sqlite:///{home / 'needcast.db'}"), "1", table, meta)
    broken = folder / "mlruns" / "mlflow.db"
    broken.parent.mkdir()
    broken.write_bytes(b"not a database " * 1000)
    return {"NEEDCAST_HOME": str(home), "MLFLOW_TRACKING_URI": f"sqlite:///{broken}",
            "NEEDCAST_API_KEYS": API_KEYS, "NEEDCAST_RELOAD_INTERVAL": "1"}


@pytest.mark.parametrize("damage", ["unreadable", "moved"])
def test_serve_starts_and_serves_stored_forecasts_without_the_registry(tmp_path: Path, damage: str) -> None:
    env = _world(tmp_path)
    if damage == "moved":
        os.remove(env["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///"))
    server = start_server(tmp_path, env)  # waits for /readyz 200 (90 s at most: it used to retry for 111 s)
    try:
        with server.client() as c:
            ready = c.get("/readyz")
            body = ready.json()
            assert (body["status"], body["model_version"], body["registry"]) == ("ready", "1", "unavailable")
            assert str(tmp_path) not in ready.text
            assert "needcast_registry_available 0.0" in c.get("/metrics").text
        with server.client("plan-key") as c:
            assert c.get("/v1/forecasts").json()["items"][0]["p50"] == 2.0
            models = c.get("/v1/models")  # it used to be a 500 (no registry client)
            assert models.status_code == 200, models.text
            body = models.json()
            assert body["registry"] == "unavailable" and body["live_version"] == "1" and body["challengers"] == []
            assert body["champion"]["version"] == "1" and body["champion"]["data_until"] == "2026-06-30"
    finally:
        server.process.terminate()
        server.process.wait(timeout=20)
    lines = [line for line in server.log.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert not [line for line in lines if "Traceback" in line]
    errors = [json.loads(line)["message"] for line in lines if line.startswith("{") and '"ERROR"' in line]
    assert any("registry unavailable" in m for m in errors)


def test_models_answer_from_the_store_when_the_registry_goes_away(trained: Settings, tmp_path: Path) -> None:
    """The registry readable at start, then gone: `/v1/models` says so and names the served version, no 500."""
    server = start_server(trained.home.parent, {"NEEDCAST_RELOAD_INTERVAL": "1"})
    mlflow_db = Path(trained.mlflow_tracking_uri.removeprefix("sqlite:///"))
    try:
        with server.client("plan-key") as c:
            up = c.get("/v1/models").json()
            assert up["registry"] == "available" and up["champion"]["version"] == up["live_version"] == "1"
            mlflow_db.rename(tmp_path / "mlflow.db")  # the registry's database moved away
            try:
                down = c.get("/v1/models")
            finally:
                (tmp_path / "mlflow.db").rename(mlflow_db)
            assert down.status_code == 200, down.text
            body = down.json()
            assert body["registry"] == "unavailable" and body["live_version"] == "1"
            assert body["champion"]["version"] == "1" and body["champion"]["run_id"] is None
            assert body["champion"]["metrics"] == up["champion"]["metrics"]  # the backtest, from the served meta
            assert str(trained.home.parent) not in down.text
            assert c.get("/v1/models").json()["registry"] == "available"  # back once the registry is
    finally:
        server.process.terminate()
        server.process.wait(timeout=20)
