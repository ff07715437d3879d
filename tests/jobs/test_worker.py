"""The worker loop and its schedule: runs jobs, survives a failing one, hands a job back when stopped."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from typer.testing import CliRunner

from jobs import queue
from jobs.schedule import Schedule, ScheduleError, parse_schedule, start_schedule
from jobs.tasks import TASKS
from jobs.worker import Worker, stop_on_signals
from needcast.cli import app
from needcast.settings import Settings
from store.engine import get_engine


def _worker(settings: Settings, **tasks) -> Worker:
    return Worker(get_engine(settings.db_url), settings, {**TASKS, **tasks}, lease_s=2.0, poll_s=0.1)


def test_the_worker_runs_queued_jobs_and_survives_a_failing_one(settings: Settings) -> None:
    def broken_training(_settings, _params, step) -> dict:  # fault injected: training raises half-way
        step("fitting the final model")
        raise RuntimeError("LightGBM ran out of memory")

    worker = _worker(settings, train=broken_training)
    train = queue.enqueue(worker.engine, "train")
    embed = queue.enqueue(worker.engine, "embed")  # the real backfill, on a store with no feedback
    prune = queue.enqueue(worker.engine, "prune")  # the real retention, with no champion yet
    assert worker.run(until_idle=True) == 3
    failed, done = queue.get_job(worker.engine, train), queue.get_job(worker.engine, embed)
    assert failed["state"] == "failed" and failed["progress"] == "RuntimeError: LightGBM ran out of memory"
    assert done["state"] == "succeeded" and done["result"] == {"texts": 0} and done["progress"] == "done"
    pruned = queue.get_job(worker.engine, prune)
    assert pruned["state"] == "succeeded" and pruned["result"]["served_forecasts"] == 0, pruned
    assert queue.enqueue(worker.engine, "train")  # the failed job no longer holds the slot


def test_a_stopped_worker_puts_its_job_back_in_the_queue(settings: Settings) -> None:
    def stopped_half_way(_settings, _params, step) -> dict:
        step("backtesting")
        os.kill(os.getpid(), signal.SIGTERM)  # what `docker stop` sends
        time.sleep(5)
        raise AssertionError("not reached: the signal interrupts the job")

    worker = _worker(settings, train=stopped_half_way)
    job_id = queue.enqueue(worker.engine, "train")
    with stop_on_signals(worker):
        assert worker.run() == 0
    job = queue.get_job(worker.engine, job_id)
    assert job["state"] == "queued" and job["attempts"] == 1 and "stopped" in job["progress"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is removed again


def test_the_heartbeat_keeps_a_long_job_alive_past_its_lease(settings: Settings) -> None:
    def slow(_settings, _params, _step) -> dict:
        time.sleep(3 * 2.0 / 2)  # 1.5 leases without a progress report
        return {"slow": True}

    worker = _worker(settings, embed=slow)
    job_id = queue.enqueue(worker.engine, "embed")
    expired: list[int] = []
    done = threading.Event()

    def watch() -> None:  # another process looking for dead jobs all along
        while not done.is_set():
            expired.append(queue.fail_expired(worker.engine, worker.lease_s))
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        worker.run(max_jobs=1)
    finally:
        done.set()
        watcher.join()
    assert sum(expired) == 0 and queue.get_job(worker.engine, job_id)["state"] == "succeeded"


def test_the_schedule_queues_one_job_of_each_kind_however_often_it_fires(settings: Settings) -> None:
    worker = _worker(settings)
    every_second = CronTrigger(second="*")
    scheduler = start_schedule(Schedule({"refresh": every_second, "train": every_second, "prune": every_second}),
                               worker.queue_job)
    try:
        time.sleep(3.5)
    finally:
        scheduler.shutdown(wait=True)
    jobs = queue.recent_jobs(worker.engine)
    assert sorted(j["kind"] for j in jobs) == ["prune", "refresh", "train"]  # single flight and joined ones
    assert {j["state"] for j in jobs} == {"queued"}


def test_schedule_settings() -> None:
    plan = parse_schedule("0 3 * * *", "0 4 * * 0", "Europe/Moscow")
    moscow = ZoneInfo("Europe/Moscow")
    monday = datetime(2026, 11, 30, 12, 0, tzinfo=moscow)
    assert plan.triggers["refresh"].get_next_fire_time(None, monday) == datetime(2026, 12, 1, 3, 0, tzinfo=moscow)
    assert plan.triggers["train"].get_next_fire_time(None, monday) == datetime(2026, 12, 6, 4, 0, tzinfo=moscow)
    weekdays = parse_schedule("30 7 * * 1-5", "", "Europe/Moscow").triggers["refresh"]  # crontab: 0 = Sunday
    saturday = datetime(2026, 12, 5, 12, 0, tzinfo=moscow)
    assert weekdays.get_next_fire_time(None, saturday) == datetime(2026, 12, 7, 7, 30, tzinfo=moscow)
    assert set(parse_schedule("", " ", None).triggers) == set()  # empty disables
    assert start_schedule(parse_schedule("", "", None), lambda _kind: None) is None
    with pytest.raises(ScheduleError, match="NEEDCAST_RETRAIN_CRON"):
        parse_schedule("0 3 * * *", "every sunday", None)
    with pytest.raises(ScheduleError, match="NEEDCAST_SCHEDULE_TIMEZONE"):
        parse_schedule("0 3 * * *", "", "Mars/Olympus_Mons")


def test_worker_command(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.setenv("NEEDCAST_RETRAIN_CRON", "61 * * * *")
    monkeypatch.setenv("NEEDCAST_WORKER_NICE", "0")  # the command runs in this process: keep its priority
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_MAX_THREADS",
                     "VECLIB_MAXIMUM_THREADS"):  # the worker's thread cap, undone after the test
        monkeypatch.setenv(variable, os.environ.get(variable, str(len(os.sched_getaffinity(0)))))
    from needcast.settings import get_settings

    get_settings.cache_clear()
    bad = runner.invoke(app, ["worker"])
    assert bad.exit_code == 1 and "NEEDCAST_RETRAIN_CRON" in bad.output and "Traceback" not in bad.output
    job_id = queue.enqueue(get_engine(settings.db_url), "embed")
    once = runner.invoke(app, ["worker", "--once"])  # no schedule: the bad expression does not matter
    assert once.exit_code == 0, once.output
    assert "after 1 jobs" in once.output
    assert queue.get_job(get_engine(settings.db_url), job_id)["state"] == "succeeded"
