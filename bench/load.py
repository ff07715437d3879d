"""API load: requests/s and latency of the served routes against a real uvicorn, each as a ratio to `/healthz`.

Usage: `.venv/bin/python -m bench.load [--seconds 10] [--warmup 2] [--concurrency 32] [--no-write]`.
Builds the `sample` world in a temporary folder (ingest, train the demand model; no needs model, so no
embedding model is loaded), starts `needcast serve` (one uvicorn worker) on a free loopback port, and drives it
from this process with an asyncio httpx client holding `--concurrency` connections, one route after the other for
a fixed time after a warm-up. On a machine with two or more cores the server is pinned to one core and the client
to another, so the load generator does not take the server's CPU. Writes the section `## API load` of
`docs/benchmarks.md` (only that section is replaced).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import numpy as np

__all__ = ["Endpoint", "Result", "drive", "markdown"]

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## API load"
KEYS = {"planner": "bench-planner", "portal": "bench-portal"}
GOALS = {"suggestions": (0.5, 100.0), "forecasts": (0.3, 150.0)}  # ratio to /healthz at least, p99 ms at most


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    params: dict[str, str]
    key: str | None


@dataclass
class Result:
    endpoint: Endpoint
    requests: int
    errors: int
    seconds: float
    latencies_ms: np.ndarray
    server_cpu_s: float
    client_cpu_s: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q))


def build_world(folder: Path) -> dict[str, str]:
    """Ingest the `sample` world into `folder` and train its champion; returns the environment of its stores."""
    env = {
        "NEEDCAST_HOME": str(folder / "home"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{folder}/mlruns/mlflow.db",
        "NEEDCAST_MLFLOW_ARTIFACT_ROOT": str(folder / "mlruns"),
        "NEEDCAST_API_KEYS": ",".join(f"{key}:{role}" for role, key in KEYS.items()),
        "NEEDCAST_RELOAD_INTERVAL": "60",
        # The benchmark measures throughput from one address and key: the rate limits would cap it.
        "NEEDCAST_RATE_LIMIT_IP": "1000000/second",
        "NEEDCAST_RATE_LIMIT_KEY": "1000000/second",
    }
    os.environ.update(env)
    os.environ.pop("NEEDCAST_DATABASE_URL", None)
    from features.contract import Kind
    from needcast.jobs import ingest_files, run_training
    from needcast.sample_data import generate_world
    from needcast.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    files = generate_world(folder / "sample", world="sample")
    ingest_files(settings, {Kind.services: files.services, Kind.usage: files.usage, Kind.feedback: files.feedback})
    run_training(settings, with_needs=False)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: Path, env: dict[str, str], cpus: set[int] | None,
                 timeout: float = 120) -> tuple[subprocess.Popen, str]:
    """`needcast serve` with one worker on a free loopback port, pinned to `cpus`; waits until it is ready."""
    port = _free_port()
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "needcast", "serve", "--port", str(port), "--workers", "1"],
        cwd=folder, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {(folder / 'server.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.terminate()
    raise RuntimeError(f"server not ready in {timeout:.0f} s")


def _process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _run(url: str, endpoint: Endpoint, seconds: float, concurrency: int) -> tuple[int, int, list[float]]:
    # One client per connection: a single pool shared by many tasks spends more CPU on its own locking than on
    # the requests (about 4x fewer requests/s from the same core).
    headers = {"Authorization": f"Bearer {endpoint.key}"} if endpoint.key else {}
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def connection() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=url, headers=headers, limits=httpx.Limits(max_connections=1),
                                     timeout=30) as client:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                response = await client.get(endpoint.path, params=endpoint.params)
                latencies.append((time.perf_counter() - started) * 1000)
                errors += response.status_code != 200

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return len(latencies), errors, latencies


def drive(url: str, pid: int, endpoint: Endpoint, seconds: float, warmup: float, concurrency: int) -> Result:
    """Warm up, then keep `concurrency` requests in flight for `seconds`; closed loop, so latency includes queueing."""
    asyncio.run(_run(url, endpoint, warmup, concurrency))
    server0, client0, started = _process_cpu_s(pid), time.process_time(), time.perf_counter()
    requests, errors, latencies = asyncio.run(_run(url, endpoint, seconds, concurrency))
    elapsed = time.perf_counter() - started
    return Result(endpoint, requests, errors, elapsed, np.asarray(latencies), _process_cpu_s(pid) - server0,
                  time.process_time() - client0)


def endpoints(url: str) -> list[Endpoint]:
    """The bare probe, one segment's suggestions and one series' forecasts, taken from what is served."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEYS['planner']}"}) as c:
        first = c.get("/v1/forecasts", params={"horizon": 1}).json()["items"][0]
    return [
        Endpoint("healthz", "/healthz", {}, None),
        Endpoint("suggestions", f"/v1/segments/{first['segment']}/suggestions", {}, KEYS["portal"]),
        Endpoint("forecasts", "/v1/forecasts",
                 {k: first[k] for k in ("service", "segment", "region")}, KEYS["planner"]),
    ]


def markdown(results: list[Result], command: str, concurrency: int, seconds: float, pinned: str,
             series: int, load_before: float) -> str:
    base = results[0].rps
    lines = [
        SECTION, "",
        f"`{command}` — {date.today():%Y-%m-%d}, {os.cpu_count()} CPU cores; {pinned}; 1-minute load average "
        f"before the run {load_before:.1f} (other work on the machine competes for the cores)", "",
        f"One uvicorn worker (`needcast serve --workers 1`, asyncio + h11, JSON access log at INFO) serving the "
        f"`sample` world ({series} series, demand model only); an asyncio httpx client keeps {concurrency} requests "
        f"in flight for {seconds:g} s per route after a warm-up (closed loop: latency includes queueing). The "
        "ratio is to `/healthz` of the same run. CPU is seconds used per second of the run (1.00 = one core busy); "
        "a client near 1.00 means the load generator, not the server, set the pace, and the server's CPU time "
        "per request is then the better measure of its cost.", "",
        "| route | requests/s | ratio to /healthz | p50 ms | p99 ms | errors | server CPU | server CPU ms/request "
        "| client CPU | goal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        e = r.endpoint
        query = "?" + "&".join(f"{k}=…" for k in e.params) if e.params else ""
        goal = GOALS.get(e.name)
        verdict = ""
        if goal:
            met = r.rps / base >= goal[0] and r.percentile(99) <= goal[1]
            verdict = f"≥ {goal[0]}×, p99 ≤ {goal[1]:g} ms: {'met' if met else 'missed'}"
        lines.append(f"| `GET {e.path}{query}` | {r.rps:,.0f} | {r.rps / base:.2f} | {r.percentile(50):.1f} "
                     f"| {r.percentile(99):.1f} | {r.errors} | {r.server_cpu_s / r.seconds:.2f} "
                     f"| {r.server_cpu_s / r.requests * 1000:.2f} | {r.client_cpu_s / r.seconds:.2f} | {verdict} |")
    return "\n".join(lines) + "\n"


def write_section(text: str, path: Path = DOC) -> None:
    """Replace (or append) our section of docs/benchmarks.md, re-read right before writing; keep the rest."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    new = (pattern.sub(lambda _: text + "\n", old) if pattern.search(old)
           else old.rstrip("\n") + "\n\n" + text)
    path.write_text(new.rstrip("\n") + "\n", encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per route")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each measurement")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    command = shlex.join(["python", "-m", "bench.load", *sys.argv[1:]])
    cpus = sorted(os.sched_getaffinity(0))
    server_cpus, client_cpus = ({cpus[0]}, set(cpus[1:])) if len(cpus) >= 2 else (None, None)
    pinned = (f"server pinned to CPU {cpus[0]}, client to CPU {', '.join(map(str, cpus[1:]))}" if server_cpus
              else "server and client share the only core")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="needcast-load-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        env = build_world(folder)
        print(f"world built and trained in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        process, url = start_server(folder, env, server_cpus)
        try:
            if client_cpus:
                os.sched_setaffinity(0, client_cpus)
            routes = endpoints(url)
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEYS['planner']}"}) as c:
                series = len(c.get("/v1/forecasts", params={"horizon": 1}).json()["items"])
            results = []
            for endpoint in routes:
                result = drive(url, process.pid, endpoint, args.seconds, args.warmup, args.concurrency)
                print(f"{endpoint.name}: {result.rps:.0f} req/s, p50 {result.percentile(50):.1f} ms, "
                      f"p99 {result.percentile(99):.1f} ms, {result.errors} errors", file=sys.stderr)
                results.append(result)
        finally:
            process.terminate()
            process.wait(timeout=30)
    text = markdown(results, command, args.concurrency, args.seconds, pinned, series, load_before)
    print(text)
    if not args.no_write:
        write_section(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
