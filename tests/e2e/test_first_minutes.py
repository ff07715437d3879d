"""`needcast demo`'s first minutes: forecasts are served before the needs model is trained, which a worker then
trains in the background; until it is done the needs endpoints and /readyz say "training", not 500."""

from __future__ import annotations

import time

import pytest

from features.contract import Kind
from features.ingest import ingest_frame
from features.readers import read_table
from needcast.cli import _demo_queue_needs, _demo_train_demand
from needcast.sample_data import generate_world
from needcast.settings import get_settings
from store.engine import get_engine
from tests.conftest import isolate, make_usage
from tests.e2e.conftest import start_server, start_worker


def test_demo_serves_forecasts_before_the_needs_then_the_needs(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = isolate(tmp_path, monkeypatch)
    engine = get_engine(settings.db_url)
    ingest_frame(engine, make_usage(days=420).astype({"count": str}), Kind.usage)
    world = generate_world(tmp_path / "world", world="sample", days=120, feedback_texts=300)
    ingest_frame(engine, read_table(world.feedback), Kind.feedback)

    _demo_train_demand(settings)  # what `needcast demo` does before it serves
    job_id = _demo_queue_needs(settings)
    assert job_id is not None
    server = start_server(tmp_path, {"NEEDCAST_RELOAD_INTERVAL": "1"})  # waits for /readyz 200
    worker = None
    try:
        with server.client("plan-key") as c:
            forecasts = c.get("/v1/forecasts", params={"horizon": 3})
            assert forecasts.status_code == 200 and forecasts.json()["items"]
            # No worker yet: the queued needs training has not run, and the answers say so.
            assert c.get("/readyz").json()["needs"] == "training"
            for path in ("/v1/needs/emerging", "/v1/needs/topics"):
                pending = c.get(path)
                assert pending.status_code == 503, pending.text
                assert pending.json()["status"] == "training" and pending.json()["job_id"] == job_id
                assert int(pending.headers["Retry-After"]) > 0

            worker = start_worker(tmp_path)
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                emerging = c.get("/v1/needs/emerging")
                if emerging.status_code == 200:
                    break
                assert emerging.status_code == 503, emerging.text
                time.sleep(1)
            assert emerging.status_code == 200, "the needs were not served in time"
            assert emerging.json()["model"]["name"] == "needcast-needs"
            assert c.get("/v1/needs/topics").json()["items"]
            assert c.get("/readyz").json()["needs"] == "ready"
            job = c.get(f"/v1/jobs/{job_id}", headers={"Authorization": "Bearer admin-key"}).json()
            assert job["state"] == "succeeded" and job["result"]["model"] == "needcast-needs"
            assert c.get("/v1/forecasts", params={"horizon": 3}).status_code == 200
    finally:
        server.process.terminate()
        server.process.wait(timeout=20)
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        get_settings.cache_clear()
