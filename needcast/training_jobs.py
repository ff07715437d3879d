"""Training jobs started from the API: one at a time, run as a separate `needcast train` process.

A separate process keeps the serving workers responsive (training holds the GIL in pandas code) and
lets a crash of training never take the API down. State lives in the database, so every worker sees it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select, update

from features.tables import training_jobs

__all__ = ["JobAlreadyRunning", "finish_job", "get_job", "report_progress", "start_training_job"]

ACTIVE = ("queued", "running")


class JobAlreadyRunning(RuntimeError):
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"training job {job_id} is still running")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a finished child that was never waited for is a zombie: not alive
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def _reap_dead(engine: Engine) -> None:
    """Mark jobs whose process died without reporting as failed."""
    j = training_jobs
    with engine.begin() as conn:
        for row in conn.execute(select(j.c.id, j.c.pid).where(j.c.state.in_(ACTIVE))).all():
            if row.pid and not _alive(row.pid):
                conn.execute(update(j).where(j.c.id == row.id, j.c.state.in_(ACTIVE)).values(
                    state="failed", progress="the training process ended without reporting", finished_at=_now()))


def start_training_job(engine: Engine, params: dict[str, Any]) -> str:
    """Queue a job and start its process; raises JobAlreadyRunning while another one is active."""
    _reap_dead(engine)
    j = training_jobs
    job_id = uuid.uuid4().hex[:16]
    with engine.begin() as conn:
        active = conn.execute(select(j.c.id).where(j.c.state.in_(ACTIVE))).scalar()
        if active:
            raise JobAlreadyRunning(active)
        conn.execute(j.insert().values(id=job_id, state="queued", progress="queued", params=params,
                                       created_at=_now()))
    args = [sys.executable, "-m", "needcast", "train", "--job-id", job_id]
    if params.get("horizon"):
        args += ["--horizon", str(params["horizon"])]
    if params.get("freq"):
        args += ["--freq", params["freq"]]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    with engine.begin() as conn:
        conn.execute(update(j).where(j.c.id == job_id).values(pid=process.pid))
    return job_id


def report_progress(engine: Engine, job_id: str, message: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(training_jobs).where(training_jobs.c.id == job_id).values(
            state="running", progress=message[:300]))


def finish_job(engine: Engine, job_id: str, ok: bool, result: dict[str, Any] | None, message: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(training_jobs).where(training_jobs.c.id == job_id).values(
            state="succeeded" if ok else "failed", progress=message[:300], result=result, finished_at=_now()))


def get_job(engine: Engine, job_id: str) -> dict[str, Any] | None:
    _reap_dead(engine)
    with engine.connect() as conn:
        row = conn.execute(select(training_jobs).where(training_jobs.c.id == job_id)).mappings().first()
    if row is None:
        return None
    out = dict(row)
    out.pop("pid", None)
    for key in ("created_at", "finished_at"):
        out[key] = out[key].isoformat() if out[key] else None
    return out
