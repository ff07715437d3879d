"""`needcast worker`: claim queued jobs one at a time and run them, with a heartbeat, next to the schedule.

A job runs in the worker's main thread; a side thread renews its lease every few seconds. An exception fails the
job with its type and message and the worker goes on; SIGTERM or SIGINT puts the running job back in the queue
and stops. A worker killed outright leaves its job `running`: the next worker on the host fails it at start-up
(its pid is gone), any process fails it once the lease expires. Nothing a job writes is half-visible: served
answers are replaced in one transaction, and a champion whose answers are not stored yet is not served (the API
queues a refresh for it), so a crashed job leaves what is served as it was.

A worker on the same host as the API is a good neighbour (`yield_cpu`): it runs at a lower CPU priority and caps
its compute threads at the cores less one, so a refresh or a training leaves the API a core and the first turn
on the others.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from jobs import queue
from jobs.queue import Job, JobAlreadyQueued

__all__ = ["Task", "Worker", "WorkerStopped", "yield_cpu"]

log = logging.getLogger(__name__)
Task = Callable[[Any, dict[str, Any], Callable[[str], None]], dict[str, Any]]


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_MAX_THREADS",
                     "VECLIB_MAXIMUM_THREADS")


def default_threads() -> int:
    """The cores this process may use, less one for the API (at least one)."""
    try:
        cores = len(os.sched_getaffinity(0))  # honours taskset and cgroup cpusets, unlike os.cpu_count()
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


def yield_cpu(nice: int, threads: int | None = None) -> int:
    """Lower this process's CPU priority by `nice` and cap its compute threads (default: cores less one).

    The thread cap is set three ways, because libraries read it at different times: the environment (OpenMP,
    BLAS, ONNX Runtime through `text.encoders.cpu_threads`, torch: read when first loaded), threadpoolctl for the
    OpenMP and BLAS runtimes already loaded, and torch's own setting when torch is loaded. Returns the cap.
    """
    threads = threads or default_threads()
    if nice > 0:
        os.nice(nice)  # an increment; a process can lower its priority without privileges, never raise it
    for variable in _THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    log.info("worker at nice +%d with %d compute threads", nice, threads)
    return threads


class WorkerStopped(BaseException):
    """Raised in the main thread by SIGTERM / SIGINT: the running job goes back to the queue.

    A BaseException, so that a task's `except Exception` does not swallow it.
    """


@dataclass
class Worker:
    """Claims and runs jobs from `engine`'s queue with `tasks[kind](settings, params, step)`."""

    engine: Engine
    settings: Any
    tasks: dict[str, Task]
    lease_s: float = 120.0
    poll_s: float = 2.0
    host: str = field(default_factory=socket.gethostname)
    alive_path: Path | None = None  # touched while the worker lives (a container health check reads its age)
    stop: threading.Event = field(default_factory=threading.Event)
    busy: bool = False  # a job is running (a stop signal then interrupts it)

    @property
    def heartbeat_s(self) -> float:
        return max(0.5, min(15.0, self.lease_s / 4))

    def touch(self) -> None:
        if self.alive_path is not None:
            self.alive_path.touch()

    def recover(self) -> list[str]:
        """Fail the jobs that a dead worker of this host left running (at start-up); their ids."""
        failed = queue.fail_dead_local(self.engine, self.host)
        for job_id in failed:
            log.warning("job %s failed: its worker process on %s is gone", job_id, self.host)
        return failed

    def queue_job(self, kind: str) -> None:
        """Queue a job of `kind` (what the schedule fires); one already waiting or running is enough."""
        try:
            job_id = queue.enqueue(self.engine, kind, {}, self.lease_s)
            log.info("scheduled %s job %s queued", kind, job_id)
        except JobAlreadyQueued as exc:
            log.info("scheduled %s job not queued: %s", kind, exc)
        except Exception:  # the schedule must survive a database hiccup
            log.exception("could not queue the scheduled %s job", kind)

    def run_once(self) -> Job | None:
        """Claim one queued job and run it to its end; None when nothing was waiting."""
        queue.fail_expired(self.engine, self.lease_s)
        job = queue.claim(self.engine, self.host, os.getpid())
        if job is not None:
            self._run(job)
        return job

    def run(self, max_jobs: int | None = None, until_idle: bool = False) -> int:
        """Run jobs until `stop` is set, `max_jobs` ran or (`until_idle`) the queue is empty; how many ran."""
        done = 0
        try:
            while not self.stop.is_set() and (max_jobs is None or done < max_jobs):
                self.touch()
                try:
                    job = self.run_once()
                except Exception:  # the database was unreachable: wait and look again
                    log.exception("could not claim a job")
                    job = None
                if job is None and until_idle:
                    break
                if job is None:
                    self.stop.wait(self.poll_s)
                else:
                    done += 1
        except WorkerStopped:
            log.info("worker stopped")
        return done

    def _run(self, job: Job) -> None:
        log.info("job %s (%s) started, attempt %d", job.id, job.kind, job.attempts)
        task = self.tasks.get(job.kind)
        if task is None:
            queue.finish(self.engine, job.id, False, None, f"no task for job kind {job.kind!r}")
            return

        def step(message: str) -> None:
            queue.report_progress(self.engine, job.id, message)

        try:
            self.busy = True
            with self._heartbeat(job.id):
                result = task(self.settings, job.params, step)
        except WorkerStopped:
            queue.release(self.engine, job.id, "queued again: the worker was stopped while running it")
            log.warning("job %s queued again: the worker was stopped", job.id)
            raise
        except Exception as exc:
            # The type and message only: no data rows reach the log.
            log.error("job %s (%s) failed: %s: %s", job.id, job.kind, type(exc).__name__, exc)
            queue.finish(self.engine, job.id, False, None, f"{type(exc).__name__}: {exc}")
            return
        finally:
            self.busy = False
        if queue.finish(self.engine, job.id, True, result, "done"):
            log.info("job %s (%s) succeeded", job.id, job.kind)
        else:
            log.warning("job %s finished after its lease expired; it stays failed", job.id)

    @contextmanager
    def _heartbeat(self, job_id: str) -> Iterator[None]:
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.heartbeat_s):
                try:
                    self.touch()
                    queue.heartbeat(self.engine, job_id)
                except Exception:  # one missed beat is within the lease
                    log.warning("heartbeat of job %s failed", job_id, exc_info=True)

        thread = threading.Thread(target=beat, name=f"heartbeat-{job_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(timeout=5)


@contextmanager
def stop_on_signals(worker: Worker) -> Iterator[None]:
    """SIGTERM / SIGINT: stop claiming, and interrupt a running job so it is queued again.

    An idle worker only sets `stop` (its wait returns at once): raising there could land in a library's
    finaliser and be printed as an ignored exception instead of stopping the loop.
    """

    def handle(signum: int, _frame: object) -> None:
        worker.stop.set()
        if worker.busy:
            raise WorkerStopped(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
