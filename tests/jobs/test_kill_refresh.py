"""Issue 11, fault injection: `kill -9` of a worker in the middle of a refresh, and of `needcast train`.

The process is held at a chosen point by a hook in the child (fault injection only: the code under test is the
real one) and killed from here with SIGKILL, so nothing of it can clean up. Then: the job is `failed` with its
reason, the champion and the served answers in needcast.db are what they were, and a refresh queued again
succeeds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from features.contract import Kind
from features.ingest import ingest_frame
from forecast.insights import load_insights
from forecast.live import LiveModels
from forecast.served import load_served
from jobs import queue
from needcast.jobs import run_training
from needcast.settings import Settings
from store.engine import get_engine
from tests.conftest import make_usage
from training.registry import DEMAND_MODEL, champion_info, configure

# Run in the child before the CLI: when the hook's point is reached, write the marker file and wait to be killed.
_HOLD = """
import sys, time
from pathlib import Path
marker = Path(sys.argv[1])

def hold():
    marker.write_text("reached")
    time.sleep(600)  # the test kills the process here
{hook}
sys.argv = ["needcast", *sys.argv[2:]]
from needcast.cli import main
main()
"""

# Inside the transaction that replaces the served forecasts: the old rows deleted, the first new ones inserted.
_MID_STORE = """
from sqlalchemy import Engine, event

@event.listens_for(Engine, "after_cursor_execute")
def _after(conn, cursor, statement, parameters, context, executemany):
    if statement.lstrip().upper().startswith("INSERT INTO SERVED_FORECASTS"):
        hold()
"""

# In the middle of a training: the first LightGBM fit (the backtest's).
_MID_FIT = """
import lightgbm

def _held_fit(self, *args, **kwargs):
    hold()

lightgbm.LGBMRegressor.fit = _held_fit
"""


def _run_until_killed(folder: Path, hook: str, *command: str, timeout: float = 300) -> None:
    """`needcast COMMAND` in a child process, killed with SIGKILL once it reached `hook`'s point."""
    marker = folder / f"reached-{time.monotonic_ns()}"
    log = (folder / "child.log").open("a")
    child = subprocess.Popen([sys.executable, "-c", _HOLD.format(hook=hook), str(marker), *command],
                             cwd=folder, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if child.poll() is not None:
            log_tail = (folder / "child.log").read_text()[-3000:]
            raise AssertionError(f"{command} ended before the fault point: {log_tail}")
        assert time.monotonic() < deadline, f"{command} did not reach the fault point in {timeout:.0f} s"
        time.sleep(0.1)
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL


@pytest.fixture
def trained(settings: Settings) -> Settings:
    """A small world with a champion and its served answers, then two weeks of newer usage not yet served."""
    engine = get_engine(settings.db_url)
    ingest_frame(engine, make_usage(days=400, services=2, segments=2).astype({"count": str}), Kind.usage)
    run_training(settings, with_needs=False)
    newer = make_usage(days=14, end="2026-07-14", services=2, segments=2)
    ingest_frame(engine, newer.astype({"count": str}), Kind.usage)
    return settings


def _served_state(settings: Settings) -> tuple[str, pd.DataFrame, dict, dict | None]:
    """The champion's version, its stored forecasts and meta, and its stored segments and suggestions."""
    engine = get_engine(settings.db_url)
    champion = champion_info(configure(settings.mlflow_tracking_uri), DEMAND_MODEL)
    served = load_served(engine, champion.version)
    return champion.version, served.table, served.meta, load_insights(engine, champion.version)


def _assert_unchanged(settings: Settings, before: tuple) -> None:
    version, table, meta, insights = _served_state(settings)
    assert version == before[0]
    pd.testing.assert_frame_equal(table, before[1])
    assert meta == before[2] and insights == before[3]


def test_a_worker_killed_mid_refresh_fails_the_job_and_leaves_the_served_answers(trained: Settings) -> None:
    engine = get_engine(trained.db_url)
    before = _served_state(trained)
    doomed = queue.enqueue(engine, "refresh")

    _run_until_killed(Path.cwd(), _MID_STORE, "worker", "--once", "--no-schedule")

    assert queue.get_job(engine, doomed)["state"] == "running"  # nobody has noticed yet
    _assert_unchanged(trained, before)  # the half-written transaction never became visible
    live = LiveModels(engine, configure(trained.mlflow_tracking_uri))
    live.sync()
    assert live.forecasts.version == before[0] and live.forecasts.meta == before[2]  # what the API would serve

    again = queue.enqueue(engine, "refresh")  # the dead job holds no slot: a new refresh can be queued
    done = subprocess.run([sys.executable, "-m", "needcast", "worker", "--once", "--no-schedule"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    failed = queue.get_job(engine, doomed)
    assert failed["state"] == "failed" and "ended while running the job" in failed["progress"], failed
    retried = queue.get_job(engine, again)
    assert retried["state"] == "succeeded", retried
    assert retried["result"]["data_until"] == "2026-07-14"  # the newer usage is served now
    version, table, meta, _ = _served_state(trained)
    assert version == before[0] and meta["data_until"] == "2026-07-14" and len(table) == len(before[1])
    assert table["date"].min() > before[1]["date"].min()


def test_needcast_train_killed_mid_training_leaves_the_champion_and_the_served_answers(
        trained: Settings) -> None:
    before = _served_state(trained)

    _run_until_killed(Path.cwd(), _MID_FIT, "train")

    _assert_unchanged(trained, before)
    client = configure(trained.mlflow_tracking_uri)
    versions = client.search_model_versions(f"name='{DEMAND_MODEL}'")
    assert [str(v.version) for v in versions] == [before[0]]  # nothing half-registered
