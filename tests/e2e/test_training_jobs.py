"""Jobs queued over HTTP run in a real `needcast worker`; the running server follows without a restart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import delete

from features.contract import Kind
from features.ingest import ingest_frame
from needcast.jobs import run_training
from needcast.settings import Settings, get_settings
from store import tables
from store.engine import get_engine
from tests.conftest import isolate, make_usage
from tests.e2e.conftest import Server, start_server, start_worker
from training.config import DemandConfig
from training.registry import DEMAND_MODEL, configure, set_champion

WORSE = DemandConfig(lgbm={"n_estimators": 2, "num_leaves": 2, "learning_rate": 0.01, "verbosity": -1})


@dataclass
class Deployment:
    server: Server
    settings: Settings


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A server whose champion is a deliberately weak model (so a default retrain wins), and a worker."""
    with pytest.MonkeyPatch.context() as mp:
        settings = isolate(tmp_path_factory.mktemp("jobs"), mp)
        ingest_frame(get_engine(settings.db_url), make_usage(days=420).astype({"count": str}), Kind.usage)
        run_training(settings, config=WORSE, with_needs=False)
        folder = settings.home.parent
        worker = start_worker(folder)
        server = start_server(folder, {"NEEDCAST_RELOAD_INTERVAL": "1"})
        try:
            yield Deployment(server, settings)
        finally:
            server.process.terminate()
            worker.terminate()
            server.process.wait(timeout=20)
            worker.wait(timeout=20)
    get_settings.cache_clear()


def _wait_job(c: httpx.Client, job_id: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = c.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def _wait_served(planner: httpx.Client, version: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        response = planner.get("/v1/forecasts", params={"horizon": 1})
        assert response.status_code == 200  # never a failed request during a switch
        body = response.json()
        if body["model"]["version"] == version:
            return body
        time.sleep(0.3)
    raise AssertionError(f"version {version} not served in {timeout} s: {body.get('model')}")


def test_train_job_moves_the_champion_and_the_server_follows(deployment: Deployment) -> None:
    with deployment.server.client("admin-key") as admin, deployment.server.client("plan-key") as planner:
        assert planner.post("/v1/train").status_code == 403
        assert planner.get("/v1/forecasts", params={"horizon": 1}).json()["model"]["version"] == "1"

        with ThreadPoolExecutor(4) as pool:  # simultaneous requests: the database admits one
            answers = list(pool.map(lambda _: admin.post("/v1/train", json={"freq": "D"}), range(4)))
        assert sorted(a.status_code for a in answers) == [202, 409, 409, 409]
        job_id = next(a.json()["job_id"] for a in answers if a.status_code == 202)
        assert all(job_id in a.json()["detail"] for a in answers if a.status_code == 409)
        second = admin.post("/v1/train")  # queued or running: still refused
        assert second.status_code == 409 and job_id in second.json()["detail"]

        job = _wait_job(admin, job_id)
        assert job["state"] == "succeeded", job
        assert job["kind"] == "train" and job["attempts"] == 1
        assert job["result"]["champion_moved"] is True and job["result"]["version"] == "2"

        _wait_served(planner, "2")
        assert planner.get("/v1/models").json()["live_version"] == "2"
        assert admin.get("/v1/jobs/nope").status_code == 404
        assert [j["id"] for j in admin.get("/v1/jobs").json()["items"]] == [job_id]


def test_refresh_recomputes_from_new_data_without_retraining(deployment: Deployment) -> None:
    with deployment.server.client("admin-key") as admin, deployment.server.client("plan-key") as planner:
        live = planner.get("/v1/models").json()["live_version"]
        rows = [{"date": "2026-07-01", "service": "svc0", "segment": "seg0", "count": 5}]
        assert admin.post("/v1/usage", json=rows).json()["accepted"] == 1
        started = admin.post("/v1/refresh")
        assert started.status_code == 202
        job = _wait_job(admin, started.json()["job_id"])
        assert job["state"] == "succeeded" and job["kind"] == "refresh", job
        assert job["result"]["data_until"] == "2026-07-01" and job["result"]["model_version"] == live

        deadline = time.monotonic() + 15
        while (body := planner.get("/v1/forecasts").json())["data_until"] != "2026-07-01":
            assert time.monotonic() < deadline, "the refreshed forecasts were not picked up"
            time.sleep(0.3)
        assert body["model"]["version"] == live
        assert min(i["date"] for i in body["items"]) == "2026-07-02"


def test_a_champion_without_stored_forecasts_is_refreshed_by_the_worker(deployment: Deployment) -> None:
    """The alias moved by hand to a version whose forecasts were pruned: the API queues a refresh, never computes."""
    engine = get_engine(deployment.settings.db_url)
    with deployment.server.client("admin-key") as admin, deployment.server.client("plan-key") as planner:
        earlier = {j["id"] for j in admin.get("/v1/jobs").json()["items"]}
        with engine.begin() as conn:
            conn.execute(delete(tables.served_forecasts).where(tables.served_forecasts.c.model_version == "1"))
            conn.execute(delete(tables.served_meta).where(tables.served_meta.c.key.like("%:1")))
        set_champion(configure(deployment.settings.mlflow_tracking_uri), DEMAND_MODEL, "1")

        deadline = time.monotonic() + 30
        while not (queued := [j for j in admin.get("/v1/jobs").json()["items"] if j["id"] not in earlier]):
            assert time.monotonic() < deadline, "no refresh was queued for the new champion"
            time.sleep(0.3)
        assert queued[0]["kind"] == "refresh"
        while (job := admin.get(f"/v1/jobs/{queued[0]['id']}").json())["state"] != "succeeded":
            assert job["state"] != "failed", job
            # Until the worker has stored them, the previous champion keeps serving.
            assert planner.get("/v1/forecasts", params={"horizon": 1}).json()["model"]["version"] == "2"
            assert time.monotonic() < deadline + 120, job
            time.sleep(0.3)
        body = _wait_served(planner, "1")
        assert body["data_until"] == "2026-07-01"
        assert planner.get("/readyz").json()["model_version"] == "1"
