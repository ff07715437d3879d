"""API latency while a refresh runs: p99 of a filtered forecast during a refresh in the worker, as a ratio to idle.

Usage: `.venv/bin/python -m bench refresh_latency [--rounds 3] [--idle 5] [--concurrency 8] [--no-write]`.
Builds the `sample` world (bench.load's: ingest, demand champion; its feedback makes the refresh load the
embedding model too), starts `needcast serve` (one uvicorn worker) and `needcast worker`, and in each round
drives `GET /v1/forecasts?service=&segment=&region=` for `--idle` seconds with nothing else running, then queues a
refresh (`POST /v1/refresh`) and drives the same route while the worker runs it (only seconds wholly inside the
job's `running` window count). Rounds alternate, so a change in the machine's other load hits both sides alike;
the table gives each round and the median. On two or more cores the API and the worker share one core and the
client has the others: the worst case for the API (in production the worker has its own host or cores), and the
client's own timing is not slowed by the refresh. Writes the section `## API latency during a refresh` of
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
from datetime import date
from pathlib import Path

import httpx
import numpy as np

from bench.docs import replace_section
from bench.load import KEYS, Endpoint, _run, build_world, endpoints, start_server

SECTION = "## API latency during a refresh"
ADMIN = "bench-admin"


def _forecast_endpoint(url: str) -> Endpoint:
    return next(e for e in endpoints(url) if e.name == "forecasts")


def _drive(url: str, endpoint: Endpoint, seconds: float, concurrency: int) -> list[float]:
    return asyncio.run(_run(url, endpoint, seconds, concurrency))[2]


def _during_refresh(url: str, endpoint: Endpoint, concurrency: int, admin: httpx.Client) -> tuple[list[float], float]:
    """Latencies of 1-second slices that lie wholly inside a refresh job's running window; the job's seconds."""
    job_id = admin.post("/v1/refresh").json()["job_id"]
    while (state := admin.get(f"/v1/jobs/{job_id}").json()["state"]) == "queued":
        time.sleep(0.05)
    started = time.perf_counter()
    inside: list[float] = []
    while state == "running":
        latencies = _drive(url, endpoint, 1.0, concurrency)
        job = admin.get(f"/v1/jobs/{job_id}").json()
        state = job["state"]
        if state == "running":
            inside += latencies
    if state != "succeeded":
        raise RuntimeError(f"refresh failed: {job['progress']}")
    return inside, time.perf_counter() - started


def markdown(rounds: list[dict], command: str, concurrency: int, idle_s: float, pinned: str, series: int,
             load_before: float) -> str:
    ratios = [r["busy_p99"] / r["idle_p99"] for r in rounds]
    lines = [
        f"`{command}` — {date.today():%Y-%m-%d}, {os.cpu_count()} CPU cores; {pinned}; 1-minute load average "
        f"before the run {load_before:.1f} (other work on the machine competes for the cores)", "",
        f"`needcast serve --workers 1` and `needcast worker` on the `sample` world ({series} series); {concurrency} "
        f"connections request one series' forecast (`GET /v1/forecasts?service=&segment=&region=`) for {idle_s:g} s "
        "with nothing else running (idle), then while the worker runs a queued refresh (forecasts with the "
        "champion, the embedding model loaded for the needs, segments and suggestions; only 1-second slices wholly "
        "inside the job's running time count). The API only queues the job and later re-reads what the worker "
        "stored.", "",
        "| round | idle p50 ms | idle p99 ms | refresh p50 ms | refresh p99 ms | p99 ratio (refresh / idle) "
        "| refresh s | requests during refresh |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, r in enumerate(rounds, 1):
        lines.append(f"| {i} | {r['idle_p50']:.1f} | {r['idle_p99']:.1f} | {r['busy_p50']:.1f} | {r['busy_p99']:.1f} "
                     f"| {r['busy_p99'] / r['idle_p99']:.2f} | {r['job_s']:.1f} | {r['busy_n']} |")
    med = {k: float(np.median([r[k] for r in rounds])) for k in ("idle_p50", "idle_p99", "busy_p50", "busy_p99")}
    lines.append(f"| median | {med['idle_p50']:.1f} | {med['idle_p99']:.1f} | {med['busy_p50']:.1f} "
                 f"| {med['busy_p99']:.1f} | {float(np.median(ratios)):.2f} | | |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--idle", type=float, default=5.0, help="seconds of idle measurement per round")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    command = shlex.join(["python", "-m", "bench", "refresh_latency", *sys.argv[1:]])
    cpus = sorted(os.sched_getaffinity(0))
    api_cpus, other_cpus = ({cpus[0]}, set(cpus[1:])) if len(cpus) >= 2 else (None, None)
    pinned = (f"API and worker pinned to CPU {cpus[0]} (sharing it), client to CPU {', '.join(map(str, cpus[1:]))}"
              if api_cpus else "API, client and worker share the only core")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="needcast-refresh-latency-") as tmp:
        folder = Path(tmp)
        env = build_world(folder)
        env["NEEDCAST_API_KEYS"] += f",{ADMIN}:admin"
        env["NEEDCAST_RELOAD_INTERVAL"] = "1"
        os.environ.update(env)
        worker = subprocess.Popen([sys.executable, "-m", "needcast", "worker", "--no-schedule"], cwd=folder,
                                  env={**os.environ, "NEEDCAST_WORKER_POLL": "0.2"},
                                  stdout=(folder / "worker.log").open("w"), stderr=subprocess.STDOUT,
                                  preexec_fn=(lambda: os.sched_setaffinity(0, api_cpus)) if api_cpus else None)
        server, url = start_server(folder, env, api_cpus, timeout=600)
        try:
            if other_cpus:
                os.sched_setaffinity(0, other_cpus)
            endpoint = _forecast_endpoint(url)
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEYS['planner']}"}) as c:
                series = len(c.get("/v1/forecasts", params={"horizon": 1}).json()["items"])
            _drive(url, endpoint, 2.0, args.concurrency)  # warm-up
            rounds = []
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30) as admin:
                for i in range(args.rounds):
                    idle = np.asarray(_drive(url, endpoint, args.idle, args.concurrency))
                    busy, job_s = _during_refresh(url, endpoint, args.concurrency, admin)
                    busy = np.asarray(busy)
                    if not len(busy):
                        raise RuntimeError("the refresh ended within a second: nothing measured during it")
                    rounds.append({"idle_p50": np.percentile(idle, 50), "idle_p99": np.percentile(idle, 99),
                                   "busy_p50": np.percentile(busy, 50), "busy_p99": np.percentile(busy, 99),
                                   "busy_n": len(busy), "job_s": job_s})
                    print(f"round {i + 1}: idle p99 {rounds[-1]['idle_p99']:.1f} ms, during refresh p99 "
                          f"{rounds[-1]['busy_p99']:.1f} ms ({job_s:.1f} s refresh)", file=sys.stderr)
        finally:
            server.terminate()
            worker.terminate()
            server.wait(timeout=30)
            worker.wait(timeout=60)
    text = markdown(rounds, command, args.concurrency, args.idle, pinned, series, load_before)
    print(text)
    if not args.no_write:
        replace_section(SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
