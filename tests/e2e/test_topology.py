"""The production topology end to end, started by deploy/run-local's own code: a real PostgreSQL (initdb), a real
`mlflow server` on it, `needcast serve --workers 2` and `needcast worker`.

Ingest over HTTP -> a refresh and a retraining queued over HTTP run in the worker -> both API workers serve the new
champion -> the worker killed -9 mid-training: the job is failed, the old champion keeps serving the same answers,
a job queued again succeeds.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deploy.topology import Topology, free_port, postgres_binaries
from needcast.jobs import run_training
from needcast.settings import get_settings
from tests.conftest import API_KEYS, make_usage, skip_unless_required
from training.config import DemandConfig

RELOAD_S = 1.0
WORSE = DemandConfig(backtest_windows=2, lgbm={"n_estimators": 2, "num_leaves": 2, "learning_rate": 0.01,
                                                 "verbosity": -1})


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    if postgres_binaries() is None:
        skip_unless_required("PostgreSQL is not installed (initdb/pg_ctl not found); .ci/run installs it")
    # Not under pytest's private tmp folder: as root, PostgreSQL runs as `postgres` and must reach its folder.
    state = Path(tempfile.mkdtemp(prefix="needcast-topology-"))
    state.chmod(0o755)
    topo = Topology(state, api_port=free_port(), mlflow_port=free_port(), workers=2, env_extra={
        "NEEDCAST_API_KEYS": API_KEYS, "NEEDCAST_RELOAD_INTERVAL": str(RELOAD_S), "NEEDCAST_WORKER_POLL": "0.5",
        "NEEDCAST_REFRESH_CRON": "", "NEEDCAST_RETRAIN_CRON": "", "NEEDCAST_LOG_LEVEL": "INFO"})
    try:
        started = time.monotonic()
        topo.start()
        print(f"topology: PostgreSQL, MLflow server, API and worker up in {time.monotonic() - started:.0f} s")
        yield topo
    finally:
        topo.stop()
        shutil.rmtree(state, ignore_errors=True)


def _api_pids(api_pid: int) -> set[int]:
    """The uvicorn worker processes under `needcast serve`."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == api_pid:
            children.add(int(stat.parent.name))
    return children


def _answered_by(topo: Topology, path: str, key: str) -> tuple[int, int, dict]:
    """GET `path` on a fresh connection: the pid of the API worker that accepted it (from /proc), status, body."""
    conn = http.client.HTTPConnection("127.0.0.1", topo.api_port, timeout=60)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {key}"})
        response = conn.getresponse()
        body = json.loads(response.read())
        client_port = conn.sock.getsockname()[1]
        inode = next(line.split()[9] for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
                     if int(line.split()[1].split(":")[1], 16) == topo.api_port
                     and int(line.split()[2].split(":")[1], 16) == client_port)
        for pid in _api_pids(topo.processes["api"].pid):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    if os.readlink(fd) == f"socket:[{inode}]":
                        return pid, response.status, body
                except OSError:
                    continue
        raise AssertionError("no API worker holds the connection")
    finally:
        conn.close()


def _until_every_worker_serves(topo: Topology, check, timeout: float = 60, ready: bool = True) -> float:
    """Seconds until each of the 2 API workers answered a forecast that passes `check` (all answers 200 when
    `ready`: no failed request during a switch)."""
    started = time.monotonic()
    latest: dict[int, dict | None] = {}
    while time.monotonic() - started < timeout:
        pid, status, body = _answered_by(topo, "/v1/forecasts?horizon=1", "plan-key")
        assert status == 200 or (not ready and status == 503), (status, body)
        latest[pid] = body if status == 200 else None
        if len(latest) == 2 and all(b is not None and check(b) for b in latest.values()):
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not every API worker serves it after {timeout} s: "
                         f"{ {pid: b and (b['model'], b['data_until']) for pid, b in latest.items()} }")


def _wait_job(admin: httpx.Client, job_id: str, until=("succeeded", "failed"), timeout: float = 400) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = admin.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in until:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still {job['state']}: {job}")


def _rows(usage) -> list[dict]:
    return [{"date": d.strftime("%Y-%m-%d"), "service": s, "segment": g, "count": int(c)}
            for d, s, g, c in usage[["date", "service", "segment", "count"]].itertuples(index=False)]


def test_ingest_refresh_retrain_and_a_worker_killed_mid_training(topology: Topology,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    started = time.monotonic()

    def phase(name: str) -> None:  # shown with -s, or with a failure: where the minutes go
        print(f"topology: {name} at {time.monotonic() - started:.0f} s", flush=True)

    api = httpx.Client(base_url=topology.api_url, timeout=60)
    admin = httpx.Client(base_url=topology.api_url, timeout=60, headers={"Authorization": "Bearer admin-key"})
    usage = make_usage(days=430, services=2, segments=1)
    history, later = usage[usage["date"] < "2026-06-21"], usage[usage["date"] >= "2026-06-21"]

    # Ingest over HTTP; no champion yet, so not ready.
    assert admin.post("/v1/usage", json=_rows(history)).json()["accepted"] == len(history)
    assert api.get("/readyz").status_code == 503

    # A weak first champion, registered from a data scientist's session through the tracking server.
    env = topology.needcast_env()
    for name in ("NEEDCAST_HOME", "NEEDCAST_DATABASE_URL", "MLFLOW_TRACKING_URI", "NEEDCAST_MLFLOW_ARTIFACT_ROOT"):
        monkeypatch.setenv(name, env[name])
    get_settings.cache_clear()
    first = run_training(get_settings(), config=WORSE, with_needs=False).demand
    get_settings.cache_clear()
    assert first.version == "1" and first.promoted
    phase("first champion registered")
    _until_every_worker_serves(topology, lambda b: b["model"]["version"] == "1", timeout=120, ready=False)

    # New days over HTTP, a refresh queued over HTTP: the worker recomputes, both API workers pick it up.
    assert admin.post("/v1/usage", json=_rows(later)).json()["accepted"] == len(later)
    refresh = _wait_job(admin, admin.post("/v1/refresh").json()["job_id"])
    assert refresh["state"] == "succeeded" and refresh["result"]["data_until"] == "2026-06-30", refresh
    _until_every_worker_serves(topology, lambda b: b["data_until"] == "2026-06-30")
    phase("refreshed in the worker, served by both API workers")

    # A retraining queued over HTTP wins; both API workers serve the new champion within a few reload intervals.
    train = admin.post("/v1/train", json={"freq": "D"})
    assert train.status_code == 202 and admin.post("/v1/train").status_code == 409
    job = _wait_job(admin, train.json()["job_id"])
    assert job["state"] == "succeeded" and job["result"]["champion_moved"] and job["result"]["version"] == "2", job
    switch_s = _until_every_worker_serves(topology, lambda b: b["model"]["version"] == "2")
    assert switch_s < 10 * RELOAD_S + 5, switch_s
    phase(f"retrained in the worker; both API workers switched {switch_s:.1f} s after the job ended")
    artifacts = list((topology.state / "mlartifacts").rglob("MLmodel"))
    assert artifacts, "model artifacts did not go through the tracking server"
    served = admin.get("/v1/forecasts").json()

    # The worker killed -9 mid-training.
    doomed = admin.post("/v1/train").json()["job_id"]
    deadline = time.monotonic() + 300
    training = ("building features", "no registered event", "backtesting", "fitting")
    while not (job := admin.get(f"/v1/jobs/{doomed}").json())["progress"].startswith(training):
        assert job["state"] in ("queued", "running") and time.monotonic() < deadline, job
        time.sleep(0.1)
    topology.processes["worker"].send_signal(signal.SIGKILL)
    topology.processes["worker"].wait()
    assert admin.get(f"/v1/jobs/{doomed}").json()["state"] == "running"  # nobody has noticed yet
    assert admin.post("/v1/train").status_code == 409

    phase(f"worker killed -9 during '{job['progress']}'")
    topology.start_worker()  # a restarted worker finds the job of its dead predecessor
    failed = _wait_job(admin, doomed, timeout=120)
    assert failed["state"] == "failed" and "ended while running the job" in failed["progress"], failed
    assert admin.get("/v1/forecasts").json() == served  # the champion and its answers are untouched
    assert admin.get("/v1/models").json()["live_version"] == "2"

    again = admin.post("/v1/train")
    assert again.status_code == 202
    retried = _wait_job(admin, again.json()["job_id"])
    assert retried["state"] == "succeeded" and retried["result"]["version"] == "3", retried
    phase("the job queued again succeeded")
