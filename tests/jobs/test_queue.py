"""The job queue on SQLite and PostgreSQL: single flight by the database, claims once, leases and dead workers."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import IntegrityError

from jobs import queue
from jobs.queue import JobAlreadyQueued
from store.engine import get_engine
from store.tables import jobs as job_table
from tests.conftest import skip_unless_required
from tests.postgres import postgres_server


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Engine]]:
    """One database with the schema per backend for the module (PostgreSQL started on first use)."""
    made: dict[str, Engine] = {}
    with ExitStack() as stack:

        def get(backend: str) -> Engine:
            if backend not in made:
                if backend == "sqlite":
                    made[backend] = get_engine(f"sqlite:///{tmp_path_factory.mktemp('jobs')}/jobs.db")
                else:
                    url = stack.enter_context(postgres_server())
                    if url is None:
                        skip_unless_required("PostgreSQL is not installed (initdb/pg_ctl not found)")
                    made[backend] = get_engine(url)
            return made[backend]

        yield get  # type: ignore[misc]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, databases) -> Engine:
    """The backend's database with an empty job table."""
    engine = databases(request.param)
    with engine.begin() as conn:
        conn.execute(delete(job_table))
    return engine


def _states(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(job_table.c.id, job_table.c.state)).all())


def test_simultaneous_train_requests_queue_exactly_one(engine: Engine) -> None:
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def request_training() -> None:
        start.wait()
        try:
            outcomes.append(queue.enqueue(engine, "train", {"freq": "D"}))
        except JobAlreadyQueued as exc:
            outcomes.append(f"conflict:{exc.job_id}")

    threads = [threading.Thread(target=request_training) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accepted = [o for o in outcomes if not o.startswith("conflict:")]
    assert len(accepted) == 1 and len(outcomes) == 8
    assert {o.removeprefix("conflict:") for o in outcomes} == set(accepted)  # every 409 names the one job
    assert list(_states(engine).values()) == ["queued"]


def test_the_database_itself_refuses_a_second_active_train_job(engine: Engine) -> None:
    first = queue.enqueue(engine, "train")
    row = {"kind": "train", "state": "queued", "progress": "queued", "params": {}, "attempts": 0,
           "created_at": datetime(2026, 1, 1)}
    with pytest.raises(IntegrityError), engine.begin() as conn:  # no check in Python stands in the way here
        conn.execute(job_table.insert().values(id="bypass", **row))
    assert queue.claim(engine, "host-a", 1).id == first  # running still holds the slot
    with pytest.raises(JobAlreadyQueued):
        queue.enqueue(engine, "train")
    queue.finish(engine, first, True, {"version": "1"}, "done")
    second = queue.enqueue(engine, "train")  # a finished job frees it
    assert second != first and _states(engine)[second] == "queued"


def test_a_waiting_refresh_is_joined_and_a_running_one_is_not(engine: Engine) -> None:
    prune = queue.enqueue(engine, "prune")
    assert queue.enqueue(engine, "prune") == prune
    first = queue.enqueue(engine, "refresh")
    assert queue.enqueue(engine, "refresh") == first
    assert queue.claim(engine, "host-a", 1).id == prune
    assert queue.claim(engine, "host-a", 1).id == first
    second = queue.enqueue(engine, "refresh")  # new data may have arrived since the running one read it
    assert second != first
    assert queue.enqueue(engine, "train") not in (first, second)  # kinds do not block each other


def test_concurrent_workers_claim_each_job_once(engine: Engine) -> None:
    queued = [queue.enqueue(engine, "embed", {"n": i}) for i in range(12)]  # embed jobs are never joined
    start = threading.Barrier(4)
    claimed: list[tuple[int, str]] = []

    def work(worker: int) -> None:
        start.wait()
        while (job := queue.claim(engine, f"host-{worker}", 1000 + worker)) is not None:
            claimed.append((worker, job.id))
            queue.finish(engine, job.id, True, {}, "done")

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(job_id for _, job_id in claimed) == sorted(queued)
    assert set(_states(engine).values()) == {"succeeded"}


def test_claims_are_first_in_first_out_and_count_attempts(engine: Engine) -> None:
    a = queue.enqueue(engine, "embed")
    b = queue.enqueue(engine, "refresh")
    job = queue.claim(engine, "host-a", 1)
    assert (job.id, job.kind, job.attempts) == (a, "embed", 1)
    queue.release(engine, a, "queued again: the worker was stopped")
    assert queue.get_job(engine, a)["state"] == "queued"
    assert queue.claim(engine, "host-a", 1).attempts == 2  # it kept its place ahead of `b`
    assert queue.claim(engine, "host-a", 1).id == b
    assert queue.claim(engine, "host-a", 1) is None


def test_an_expired_lease_fails_the_job_and_frees_the_slot(engine: Engine) -> None:
    job_id = queue.enqueue(engine, "train")
    queue.claim(engine, "host-a", 1)
    assert queue.fail_expired(engine, lease_s=60) == 0
    with engine.begin() as conn:
        conn.execute(update(job_table).values(heartbeat_at=datetime.now(UTC).replace(tzinfo=None)
                                              - timedelta(seconds=61)))
    again = queue.enqueue(engine, "train", lease_s=60)  # an enqueue looks for expired leases first
    job = queue.get_job(engine, job_id)
    assert job["state"] == "failed" and "heartbeats" in job["progress"] and job["finished_at"]
    assert not queue.finish(engine, job_id, True, {}, "done")  # a late finish does not revive it
    assert queue.get_job(engine, job_id)["state"] == "failed"
    assert queue.get_job(engine, again)["state"] == "queued"


def test_a_worker_starting_fails_the_jobs_of_a_dead_worker_on_its_host(engine: Engine) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead_job = queue.enqueue(engine, "train")
        queue.claim(engine, "this-host", gone.pid)
        live_job = queue.enqueue(engine, "embed")
        queue.claim(engine, "this-host", alive.pid)
        other_host = queue.enqueue(engine, "refresh")
        queue.claim(engine, "other-host", gone.pid)
        assert queue.fail_dead_local(engine, "this-host") == [dead_job]
    finally:
        alive.kill()
        alive.wait()
    states = _states(engine)
    assert (states[dead_job], states[live_job], states[other_host]) == ("failed", "running", "running")
    assert f"pid {gone.pid}" in queue.get_job(engine, dead_job)["progress"]


def test_a_job_reads_without_host_or_pid(engine: Engine) -> None:
    job_id = queue.enqueue(engine, "train", {"horizon": 14, "freq": "W"})
    queue.claim(engine, "secret-host", 4242)
    job = queue.get_job(engine, job_id)
    assert {"pid", "worker", "heartbeat_at"}.isdisjoint(job) and "secret-host" not in str(job)
    assert (job["kind"], job["state"], job["params"], job["attempts"]) == ("train", "running",
                                                                           {"horizon": 14, "freq": "W"}, 1)
    assert queue.get_job(engine, "nope") is None
    assert [j["id"] for j in queue.recent_jobs(engine)] == [job_id]
    with pytest.raises(ValueError, match="unknown job kind"):
        queue.enqueue(engine, "bake")


def test_a_missing_forecast_refresh_waits_for_a_running_training(engine: Engine) -> None:
    train = queue.enqueue(engine, "train")
    queue.claim(engine, "host-a", 1)
    assert queue.refresh_unless_training(engine) is None  # the training stores the new champion's forecasts
    assert list(_states(engine)) == [train]
    queue.finish(engine, train, False, None, "RuntimeError: out of memory")
    refresh = queue.refresh_unless_training(engine)
    assert refresh and queue.refresh_unless_training(engine) == refresh  # joined while it waits
