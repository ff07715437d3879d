"""A training job started over HTTP moves the champion, and the running server switches without a restart."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from features.contract import Kind
from features.ingest import ingest_frame
from features.store import get_engine
from needcast.jobs import run_training
from needcast.settings import get_settings
from tests.conftest import isolate, make_usage
from tests.e2e.conftest import Server, start_server
from training.config import DemandConfig

WORSE = DemandConfig(lgbm={"n_estimators": 2, "num_leaves": 2, "learning_rate": 0.01, "verbosity": -1})


@pytest.fixture(scope="module")
def weak_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose champion is a deliberately weak model, so a default retrain wins."""
    with pytest.MonkeyPatch.context() as mp:
        settings = isolate(tmp_path_factory.mktemp("jobs"), mp)
        ingest_frame(get_engine(settings.db_url), make_usage(days=420).astype({"count": str}), Kind.usage)
        run_training(settings, config=WORSE)
        server = start_server(settings.home.parent, {"NEEDCAST_RELOAD_INTERVAL": "1"})
        yield server
        server.process.terminate()
        server.process.wait(timeout=20)
    get_settings.cache_clear()


def _wait_job(c: httpx.Client, job_id: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = c.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_train_job_moves_the_champion_and_the_server_follows(weak_server: Server) -> None:
    with weak_server.client("admin-key") as admin, weak_server.client("plan-key") as planner:
        assert planner.post("/v1/train").status_code == 403
        before = planner.get("/v1/forecasts", params={"horizon": 1}).json()
        assert before["model"]["version"] == "1"

        started = admin.post("/v1/train", json={"freq": "D"})
        assert started.status_code == 202
        job_id = started.json()["job_id"]
        second = admin.post("/v1/train")
        assert second.status_code == 409 and job_id in second.json()["detail"]

        job = _wait_job(admin, job_id)
        assert job["state"] == "succeeded", job
        assert job["result"]["champion_moved"] is True and job["result"]["version"] == "2"

        deadline = time.monotonic() + 30
        version = None
        while time.monotonic() < deadline:
            response = planner.get("/v1/forecasts", params={"horizon": 1})
            assert response.status_code == 200  # never a failed request during the switch
            version = response.json()["model"]["version"]
            if version == "2":
                break
            time.sleep(0.5)
        assert version == "2"
        assert planner.get("/v1/models").json()["live_version"] == "2"
        assert admin.get("/v1/jobs/nope").status_code == 404


def test_refresh_recomputes_from_new_data_without_retraining(weak_server: Server) -> None:
    with weak_server.client("admin-key") as admin, weak_server.client("plan-key") as planner:
        live = planner.get("/v1/models").json()["live_version"]
        rows = [{"date": "2026-07-01", "service": "svc0", "segment": "seg0", "count": 5}]
        assert admin.post("/v1/usage", json=rows).json()["accepted"] == 1
        refreshed = admin.post("/v1/refresh").json()
        assert refreshed["data_until"] == "2026-07-01" and refreshed["model_version"] == live
        body = planner.get("/v1/forecasts").json()
        assert body["data_until"] == "2026-07-01" and body["model"]["version"] == live
        assert min(i["date"] for i in body["items"]) == "2026-07-02"
