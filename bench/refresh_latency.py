"""API latency while a refresh runs: p99 of a filtered forecast during a refresh in the worker, as a ratio to idle.

Usage: `.venv/bin/python -m bench refresh_latency [--rounds 3] [--idle 5] [--concurrency 8] [--no-write]`.
Builds the `sample` world (bench.load's: ingest, demand champion; its feedback makes the refresh load the
embedding model too) and starts `needcast serve` (one uvicorn worker). Each round runs two workers one after the
other, as peers in the same run: `needcast worker` as it was before it yielded the CPU (`NEEDCAST_WORKER_NICE=0`,
a compute thread per core it may use) and with its defaults (nice +10, threads = cores less one). For each,
`--concurrency` connections drive `GET /v1/forecasts?service=&segment=&region=` without a pause: `--idle` seconds
with the worker waiting, then while it runs a queued refresh (`POST /v1/refresh`). A request counts for the
refresh when it started after the job was seen `running` and ended before it was seen finished (the job is polled
every 0.25 s, idle or not, on its own connection). On two or more cores the API and the worker share one core and
the client has the others: the worst case for the API (in production the worker has its own host or cores), and
the client's own timing is not slowed by the refresh. Writes the section `## API latency during a refresh` of
`docs/benchmarks.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx
import numpy as np

from bench.docs import replace_section
from bench.load import KEYS, Endpoint, build_world, endpoints, start_server

SECTION = "## API latency during a refresh"
ADMIN = "bench-admin"
GOAL = 1.3  # p99 during a refresh at most this many times idle
POLL_S = 0.25


@dataclass(frozen=True)
class WorkerSetup:
    name: str
    env: dict[str, str]


def setups(worker_cores: int) -> list[WorkerSetup]:
    """The worker as it was (nice 0, a thread per core it may use) and with its defaults."""
    return [WorkerSetup("before: nice 0, a thread per core",
                        {"NEEDCAST_WORKER_NICE": "0", "NEEDCAST_WORKER_THREADS": str(worker_cores)}),
            WorkerSetup("defaults: nice +10, cores - 1 threads", {})]


@dataclass
class Phase:
    """Latencies (ms) of requests that ran wholly inside a phase, and the phase's seconds."""

    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0


async def _measure(url: str, endpoint: Endpoint, concurrency: int, idle_s: float) -> tuple[Phase, Phase]:
    """Drive the route without a pause: `idle_s` with the worker waiting, then a refresh from queued to done."""
    requests: list[tuple[float, float]] = []  # (start, end) of each request, perf_counter seconds
    done = asyncio.Event()

    async def connection() -> None:
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {endpoint.key}"},
                                     limits=httpx.Limits(max_connections=1), timeout=60) as client:
            while not done.is_set():
                started = time.perf_counter()
                response = await client.get(endpoint.path, params=endpoint.params)
                if response.status_code != 200:
                    raise RuntimeError(f"{endpoint.path}: {response.status_code} {response.text[:200]}")
                requests.append((started, time.perf_counter()))

    async def conduct() -> tuple[tuple[float, float], tuple[float, float]]:
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"},
                                     timeout=60) as admin:
            await asyncio.sleep(1.0)  # connections warm
            idle_from = time.perf_counter()
            while time.perf_counter() < idle_from + idle_s:  # the same polling as during the job
                await admin.get("/v1/jobs", params={"limit": 1})
                await asyncio.sleep(POLL_S)
            idle_to = time.perf_counter()
            job_id = (await admin.post("/v1/refresh")).json()["job_id"]
            running_from = None
            while True:
                job = (await admin.get(f"/v1/jobs/{job_id}")).json()
                if job["state"] == "running" and running_from is None:
                    running_from = time.perf_counter()
                elif job["state"] in ("succeeded", "failed"):
                    running_to = time.perf_counter()
                    break
                await asyncio.sleep(POLL_S)
            if job["state"] != "succeeded" or running_from is None:
                raise RuntimeError(f"refresh {job['state']}: {job['progress']}")
            done.set()
            return (idle_from, idle_to), (running_from, running_to)

    results = await asyncio.gather(conduct(), *(connection() for _ in range(concurrency)))
    phases = []
    for start, end in results[0]:
        inside = [1000 * (b - a) for a, b in requests if a >= start and b <= end]
        phases.append(Phase(inside, end - start))
    return phases[0], phases[1]


def _start_worker(folder: Path, setup: WorkerSetup, cpus: set[int] | None, n: int) -> subprocess.Popen:
    """`needcast worker` with `setup`'s environment, on `cpus`; returns once it waits for jobs."""
    log = folder / f"worker-{n}.log"
    process = subprocess.Popen([sys.executable, "-m", "needcast", "worker", "--no-schedule"], cwd=folder,
                               env={**os.environ, "NEEDCAST_WORKER_POLL": "0.2", **setup.env},
                               stdout=log.open("w"), stderr=subprocess.STDOUT,
                               preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    deadline = time.monotonic() + 300
    while "waiting for jobs" not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"worker did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)
    return process


def _stats(idle: Phase, busy: Phase) -> dict:
    if not busy.latencies:
        raise RuntimeError("the refresh ended before a request could run inside it")
    i, b = np.asarray(idle.latencies), np.asarray(busy.latencies)
    return {"idle_p50": np.percentile(i, 50), "idle_p99": np.percentile(i, 99), "idle_n": len(i),
            "busy_p50": np.percentile(b, 50), "busy_p99": np.percentile(b, 99), "busy_n": len(b),
            "job_s": busy.seconds, "ratio": np.percentile(b, 99) / np.percentile(i, 99)}


def markdown(rounds: list[dict], names: list[str], command: str, concurrency: int, idle_s: float, pinned: str,
             series: int, load_before: float, load_after: float) -> str:
    lines = [
        f"`{command}` — {date.today():%Y-%m-%d}, {os.cpu_count()} CPU cores; {pinned}; 1-minute load average "
        f"{load_before:.1f} before the run, {load_after:.1f} after (other work on the machine competes for the "
        "cores)", "",
        f"`needcast serve --workers 1` on the `sample` world ({series} series); {concurrency} connections request "
        f"one series' forecast (`GET /v1/forecasts?service=&segment=&region=`) without a pause: {idle_s:g} s with "
        "the worker waiting (idle), then while it runs a queued refresh (forecasts with the champion, the embedding "
        "model loaded for the needs, segments and suggestions; a request counts when it ran wholly inside the "
        "job's running time). Each round runs both workers, one after the other, against the same server. The API "
        "answers this route from memory (the encoded answer is kept per served snapshot); it re-reads what the "
        "worker stored once the job has replaced it.", "",
        "| round | worker | idle p50 ms | idle p99 ms | refresh p50 ms | refresh p99 ms "
        "| p99 ratio (refresh / idle) | refresh s | requests idle / during refresh |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, by_setup in enumerate(rounds, 1):
        for name in names:
            r = by_setup[name]
            lines.append(f"| {i} | {name} | {r['idle_p50']:.1f} | {r['idle_p99']:.1f} | {r['busy_p50']:.1f} "
                         f"| {r['busy_p99']:.1f} | {r['ratio']:.2f} | {r['job_s']:.1f} | {r['idle_n']} / "
                         f"{r['busy_n']} |")
    medians = {}
    for name in names:
        med = {k: float(np.median([r[name][k] for r in rounds]))
               for k in ("idle_p50", "idle_p99", "busy_p50", "busy_p99", "ratio", "job_s")}
        medians[name] = med
        lines.append(f"| median | {name} | {med['idle_p50']:.1f} | {med['idle_p99']:.1f} | {med['busy_p50']:.1f} "
                     f"| {med['busy_p99']:.1f} | **{med['ratio']:.2f}** | {med['job_s']:.1f} | |")
    before, after = medians[names[0]], medians[names[-1]]
    verdict = "met" if after["ratio"] <= GOAL else "missed"
    lines += ["", f"Goal: p99 during a refresh at most {GOAL:g}x idle (median over rounds) with the worker's "
              f"defaults: {verdict} ({after['ratio']:.2f}x; {before['ratio']:.2f}x with the worker as before, at "
              "nice 0, in the same run). The price: the refresh took "
              f"{after['job_s']:.1f} s instead of {before['job_s']:.1f} s (medians), since the worker now runs on what "
              "the saturated API leaves of their shared core."]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--idle", type=float, default=5.0, help="seconds of idle measurement per round and worker")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    command = shlex.join(["python", "-m", "bench", "refresh_latency", *sys.argv[1:]])
    cpus = sorted(os.sched_getaffinity(0))
    api_cpus, other_cpus = ({cpus[0]}, set(cpus[1:])) if len(cpus) >= 2 else (None, None)
    pinned = (f"API and worker pinned to CPU {cpus[0]} (sharing it), client to CPU {', '.join(map(str, cpus[1:]))}"
              if api_cpus else "API, client and worker share the only core")
    load_before = os.getloadavg()[0]
    workers = setups(len(api_cpus) if api_cpus else len(cpus))
    with tempfile.TemporaryDirectory(prefix="needcast-refresh-latency-") as tmp:
        folder = Path(tmp)
        env = build_world(folder)
        env["NEEDCAST_API_KEYS"] += f",{ADMIN}:admin"
        env["NEEDCAST_RELOAD_INTERVAL"] = "1"
        os.environ.update(env)
        server, url = start_server(folder, env, api_cpus, timeout=600)
        try:
            if other_cpus:
                os.sched_setaffinity(0, other_cpus)
            endpoint = next(e for e in endpoints(url) if e.name == "forecasts")
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEYS['planner']}"}) as c:
                series = len(c.get("/v1/forecasts", params={"horizon": 1}).json()["items"])
            rounds = []
            for i in range(args.rounds):
                by_setup = {}
                # Alternate which goes first, so a drift in the machine's other load hits both alike.
                for setup in workers if i % 2 == 0 else workers[::-1]:
                    worker = _start_worker(folder, setup, api_cpus, len(rounds) * 2 + len(by_setup))
                    try:
                        idle, busy = asyncio.run(_measure(url, endpoint, args.concurrency, args.idle))
                    finally:
                        worker.terminate()
                        worker.wait(timeout=60)
                    by_setup[setup.name] = stats = _stats(idle, busy)
                    print(f"round {i + 1}, {setup.name}: idle p99 {stats['idle_p99']:.1f} ms, during refresh p99 "
                          f"{stats['busy_p99']:.1f} ms ({stats['ratio']:.2f}x; {stats['job_s']:.1f} s refresh)",
                          file=sys.stderr)
                rounds.append(by_setup)
        finally:
            server.terminate()
            server.wait(timeout=30)
    text = markdown(rounds, [w.name for w in workers], command, args.concurrency, args.idle, pinned, series,
                    load_before, os.getloadavg()[0])
    print(text)
    if not args.no_write:
        replace_section(SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
