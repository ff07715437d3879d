"""The durable job queue in the database: enqueue, claim, heartbeat, finish, and find jobs whose worker died.

Single flight is the database's job, not a check-then-act: the partial unique index `uq_jobs_single_flight`
admits one train job queued or running and one refresh and one prune waiting, so of two simultaneous
`POST /v1/train` one insert fails, whichever API worker or host made it. A second refresh (or prune) request while
one waits joins it.

A claim is one statement, `UPDATE jobs SET state = 'running' ... WHERE id = (SELECT ... queued ...) AND
state = 'queued'`: on PostgreSQL the subquery takes the row `FOR UPDATE SKIP LOCKED`, so workers never wait on
each other; SQLite runs one writer at a time and the state condition makes the second claimant miss.

A worker refreshes `heartbeat_at` while it runs a job. A job whose heartbeat is older than the lease is marked
failed by whoever looks next (a worker, an enqueue, a read of the job); a worker starting on a host also fails at
once the jobs of that host whose worker process is gone (killed -9, out of memory).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from store.tables import jobs as job_table

__all__ = [
    "ACTIVE", "KINDS", "Job", "JobAlreadyQueued", "active_job", "claim", "enqueue", "fail_dead_local", "fail_expired",
    "finish", "get_job", "heartbeat", "recent_jobs", "refresh_unless_training", "release", "report_progress",
]

Kind = Literal["train", "refresh", "embed", "prune"]
KINDS: tuple[str, ...] = ("train", "refresh", "embed", "prune")
JOINED = ("refresh", "prune")
"""Kinds whose waiting job a new request joins (the single-flight index admits one queued job of each)."""
ACTIVE = ("queued", "running")
_MESSAGE = 300  # the width of `progress`

j = job_table


class JobAlreadyQueued(RuntimeError):
    """A train job is queued or running already (the single-flight index refused a second one)."""

    def __init__(self, kind: str, job_id: str) -> None:
        self.kind = kind
        self.job_id = job_id
        super().__init__(f"a {kind} job is already queued or running: {job_id}")


@dataclass(frozen=True)
class Job:
    """A claimed job, as the worker runs it."""

    id: str
    kind: str
    params: dict[str, Any]
    attempts: int


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _active_id(engine: Engine, kind: str) -> str | None:
    states = ACTIVE if kind == "train" else ("queued",)
    with engine.connect() as conn:
        return conn.execute(select(j.c.id).where(j.c.kind == kind, j.c.state.in_(states))
                            .order_by(j.c.created_at)).scalar()


def enqueue(engine: Engine, kind: str, params: dict[str, Any] | None = None, lease_s: float | None = None) -> str:
    """Queue a job and return its id.

    A second train job while one is queued or running raises `JobAlreadyQueued`; a refresh (or prune) while another
    one is still waiting returns that one's id (it will read the same latest data).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}; known: {', '.join(KINDS)}")
    if lease_s is not None:
        fail_expired(engine, lease_s)
    job_id = uuid.uuid4().hex[:16]
    for _attempt in range(3):  # the holder of the slot may finish between the failed insert and the look-up
        try:
            with engine.begin() as conn:
                conn.execute(j.insert().values(id=job_id, kind=kind, state="queued", progress="queued",
                                               params=params or {}, attempts=0, created_at=_now()))
            return job_id
        except IntegrityError:
            holder = _active_id(engine, kind)
            if holder is None:
                continue
            if kind in JOINED:
                return holder
            raise JobAlreadyQueued(kind, holder) from None
    raise RuntimeError(f"could not queue a {kind} job: the single-flight slot kept changing hands")


def active_job(engine: Engine, kind: str) -> str | None:
    """The id of the `kind` job waiting or, for `train`, running now (the single-flight slot's holder), or None."""
    return _active_id(engine, kind)


def refresh_unless_training(engine: Engine, lease_s: float | None = None) -> str | None:
    """Queue a refresh for a champion without stored forecasts, unless a train job is queued or running: that one
    stores the forecasts of the champion it leaves (the alias moves a moment before they are written)."""
    if lease_s is not None:
        fail_expired(engine, lease_s)
    if _active_id(engine, "train") is not None:
        return None
    return enqueue(engine, "refresh")


def claim(engine: Engine, worker: str | None = None, pid: int | None = None) -> Job | None:
    """Take the oldest queued job for this worker (state `running`), or None when nothing waits."""
    now = _now()
    oldest = select(j.c.id).where(j.c.state == "queued").order_by(j.c.created_at, j.c.id).limit(1)
    if engine.dialect.name == "postgresql":
        oldest = oldest.with_for_update(skip_locked=True)
    stmt = (update(j).where(j.c.id == oldest.scalar_subquery(), j.c.state == "queued")
            .values(state="running", progress="started", worker=worker or socket.gethostname(),
                    pid=pid or os.getpid(), attempts=j.c.attempts + 1, started_at=now, heartbeat_at=now)
            .returning(j.c.id, j.c.kind, j.c.params, j.c.attempts))
    with engine.begin() as conn:
        row = conn.execute(stmt).first()
    return None if row is None else Job(row.id, row.kind, dict(row.params or {}), row.attempts)


def _running(job_id: str):
    return and_(j.c.id == job_id, j.c.state == "running")


def heartbeat(engine: Engine, job_id: str) -> bool:
    """Extend the lease of a running job; False when it is no longer running (someone failed it)."""
    with engine.begin() as conn:
        return conn.execute(update(j).where(_running(job_id)).values(heartbeat_at=_now())).rowcount == 1


def report_progress(engine: Engine, job_id: str, message: str) -> None:
    """What the job is doing now (also a heartbeat)."""
    with engine.begin() as conn:
        conn.execute(update(j).where(_running(job_id)).values(progress=message[:_MESSAGE], heartbeat_at=_now()))


def finish(engine: Engine, job_id: str, ok: bool, result: dict[str, Any] | None, message: str) -> bool:
    """Record the end of a running job; False when it had been failed meanwhile (its lease expired)."""
    with engine.begin() as conn:
        return conn.execute(update(j).where(_running(job_id)).values(
            state="succeeded" if ok else "failed", progress=message[:_MESSAGE], result=result,
            finished_at=_now())).rowcount == 1


def release(engine: Engine, job_id: str, message: str) -> None:
    """Put a running job back in the queue (its worker was asked to stop); it keeps its place."""
    with engine.begin() as conn:
        conn.execute(update(j).where(_running(job_id)).values(
            state="queued", progress=message[:_MESSAGE], pid=None, worker=None, heartbeat_at=None))


def fail_expired(engine: Engine, lease_s: float) -> int:
    """Fail running jobs whose worker sent no heartbeat for `lease_s` seconds; how many."""
    cutoff = _now() - timedelta(seconds=lease_s)
    stale = and_(j.c.state == "running", or_(j.c.heartbeat_at.is_(None), j.c.heartbeat_at < cutoff))
    with engine.connect() as conn:  # a read first: a write on SQLite would wait for any long writer
        if conn.execute(select(j.c.id).where(stale).limit(1)).scalar() is None:
            return 0
    with engine.begin() as conn:
        return conn.execute(update(j).where(stale).values(
            state="failed", finished_at=_now(),
            progress=f"the worker stopped sending heartbeats (no sign of life for {lease_s:.0f} s)")).rowcount


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_dead_local(engine: Engine, worker: str | None = None) -> list[str]:
    """Fail the running jobs of this host whose worker process is gone (called when a worker starts); their ids.

    A job recorded with this very process's pid belongs to an earlier process that had the same pid (a restarted
    container numbers its processes alike), so it is dead too.
    """
    host = worker or socket.gethostname()
    with engine.connect() as conn:
        rows = conn.execute(select(j.c.id, j.c.pid).where(j.c.state == "running", j.c.worker == host)).all()
    dead = [r for r in rows if not r.pid or r.pid == os.getpid() or not _alive(r.pid)]
    for r in dead:
        with engine.begin() as conn:
            conn.execute(update(j).where(_running(r.id), j.c.pid == r.pid).values(
                state="failed", finished_at=_now(),
                progress=f"the worker (pid {r.pid} on {host}) ended while running the job"))
    return [r.id for r in dead]


def _public(row: Any) -> dict[str, Any]:
    out = dict(row)
    for key in ("pid", "worker", "heartbeat_at"):
        out.pop(key, None)
    for key in ("created_at", "started_at", "finished_at"):
        out[key] = out[key].isoformat() if out.get(key) else None
    return out


def get_job(engine: Engine, job_id: str, lease_s: float | None = None) -> dict[str, Any] | None:
    """A job's public state (no host or pid), or None."""
    if lease_s is not None:
        fail_expired(engine, lease_s)
    with engine.connect() as conn:
        row = conn.execute(select(j).where(j.c.id == job_id)).mappings().first()
    return None if row is None else _public(row)


def recent_jobs(engine: Engine, limit: int = 20) -> list[dict[str, Any]]:
    """The latest jobs, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(j).order_by(j.c.created_at.desc()).limit(limit)).mappings().all()
    return [_public(r) for r in rows]
