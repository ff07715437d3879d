"""Soak: a real server under 32 connections of mixed reads and ingests with one refresh; errors, p99 and memory.

Usage: `.venv/bin/python -m bench soak [--seconds 300] [--concurrency 32] [--no-write]`.
Builds the `sample` world (as `bench.load` does), starts `needcast serve` (one worker) and `needcast worker`,
then drives the API for `--seconds`: every connection loops over forecasts (filtered, aggregated, CSV), segments,
suggestions, emerging needs, staffing and, one request in ten, a POST of 20 usage rows; one refresh is queued at
mid-time. A 503 with `Retry-After` is sent again once after that wait, as a well-behaved client does. Reported:
requests, errors (5xx, 429 or a broken connection in the final answer), every failed answer with its status code
and `detail` (never a request body), p50/p99 per kind, the server's RSS at the start and the end (the goal:
within 10%). Then each route's slowest legitimate request (largest answer, staffing at its bounds) is timed
alone, 20 times: the goal is under 200 ms. Writes `## Soak` and `## Slowest legitimate requests` in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import date, timedelta
from functools import partial
from pathlib import Path

import httpx
import numpy as np

from bench.docs import replace_section
from bench.load import build_world, start_server

KEYS = {"planner": "soak-planner", "portal": "soak-portal", "ingest": "soak-ingest", "admin": "soak-admin"}


def rss_mb(pid: int) -> float:
    """Resident memory of a process (Linux /proc), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reads(series: list[dict]) -> list[tuple[str, str, dict, str]]:
    """(kind, path, params, role) of the read requests a planner or a portal makes."""
    one = series[0]
    segments = sorted({s["segment"] for s in series})
    return [
        ("forecast", "/v1/forecasts", {"service": one["service"], "segment": one["segment"],
                                       "region": one["region"]}, "planner"),
        ("forecast_agg", "/v1/forecasts", {"segment": one["segment"], "aggregate": "true"}, "planner"),
        ("forecast_csv", "/v1/forecasts", {"segment": one["segment"], "format": "csv"}, "planner"),
        ("segments", "/v1/segments", {}, "planner"),
        ("suggestions", f"/v1/segments/{segments[0]}/suggestions", {"lang": "en"}, "portal"),
        ("needs", "/v1/needs/emerging", {"limit": "20"}, "planner"),
        ("staffing", "/v1/staffing", {"service": one["service"]}, "planner"),
    ]


def _detail(response: httpx.Response) -> str:
    """The `detail` of an error answer (what the API says went wrong; request bodies are never recorded)."""
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text
    return " ".join(str(detail).split())[:200] or "-"


def _usage_rows(series: list[dict], rnd: random.Random, day: date) -> list[dict]:
    return [{"date": day.isoformat(), "service": s["service"], "segment": s["segment"], "region": s["region"],
             "count": rnd.randint(0, 5)} for s in rnd.sample(series, min(20, len(series)))]


async def _soak(url: str, series: list[dict], seconds: float, concurrency: int) -> dict:
    reads = _reads(series)
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    failures: Counter[tuple[str, str, str]] = Counter()  # (kind, status or exception, the answer's detail)
    stop = time.perf_counter() + seconds
    refresh_at = time.perf_counter() + seconds / 2
    refreshed: list[int] = []
    day0 = date.fromisoformat("2027-01-01")

    async def connection(n: int) -> None:
        rnd = random.Random(n)
        async with httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=1), timeout=60) as client:
            i = 0
            while time.perf_counter() < stop:
                i += 1
                if n == 0 and not refreshed and time.perf_counter() >= refresh_at:
                    kind, send = "refresh", partial(
                        client.post, "/v1/refresh", headers={"Authorization": f"Bearer {KEYS['admin']}"})
                elif i % 10 == 0:
                    rows = _usage_rows(series, rnd, day0 - timedelta(days=rnd.randint(0, 30)))
                    kind, send = "ingest", partial(
                        client.post, "/v1/usage", json=rows, headers={"Authorization": f"Bearer {KEYS['ingest']}"})
                else:
                    kind, path, params, role = rnd.choice(reads)
                    send = partial(client.get, path, params=params,
                                   headers={"Authorization": f"Bearer {KEYS[role]}"})
                started = time.perf_counter()
                try:
                    response = await send()
                    if response.status_code == 503 and "Retry-After" in response.headers:
                        # As a real client does: wait as told, then send the same request once more.
                        failures[(kind, "503, sent again after Retry-After", _detail(response))] += 1
                        await asyncio.sleep(float(response.headers["Retry-After"]))
                        response = await send()
                    bad = response.status_code >= 500 or response.status_code == 429
                    if kind == "refresh":
                        refreshed.append(response.status_code)
                    if bad:
                        failures[(kind, str(response.status_code), _detail(response))] += 1
                except httpx.HTTPError as exc:
                    bad = True
                    failures[(kind, type(exc).__name__, "no answer")] += 1
                latencies[kind].append(1000 * (time.perf_counter() - started))
                errors[kind] += bad

    await asyncio.gather(*(connection(n) for n in range(concurrency)))
    return {"latencies": latencies, "errors": errors, "refresh": refreshed, "failures": failures}


def _failure_table(failures: Counter[tuple[str, str, str]]) -> list[str]:
    """Markdown lines: each kind of failed request with its status (or exception) and the answer's detail."""
    if not failures:
        return ["", "No request failed."]
    return ["", "Failed answers (status code or exception, and the `detail` of the answer; a 503 with `Retry-After` "
            "is sent once more after that wait, as a client should, and counts as an error only if that fails "
            "too):", "",
            "| kind | status | detail | count |", "|---|---|---|---:|",
            *(f"| {kind} | {status} | {detail.replace('|', '/')} | {n} |"
              for (kind, status, detail), n in failures.most_common())]


def _slowest(url: str, series: list[dict], repeats: int = 20) -> list[tuple[str, float, float]]:
    """(request, median ms, max ms) of the largest legitimate request of each route, one at a time."""
    one = series[0]
    cases = [
        ("GET /v1/forecasts (every series, JSON)", "get", "/v1/forecasts", {}, "planner"),
        ("GET /v1/forecasts (every series, CSV)", "get", "/v1/forecasts", {"format": "csv"}, "planner"),
        ("GET /v1/forecasts?aggregate=true", "get", "/v1/forecasts", {"aggregate": "true"}, "planner"),
        ("GET /v1/staffing (every service, wait 0.5, handle 480)", "get", "/v1/staffing",
         {"wait_minutes": "0.5", "handle_minutes": "480"}, "planner"),
        ("GET /v1/staffing (5e-324 refused)", "get", "/v1/staffing",
         {"wait_minutes": "5e-324", "handle_minutes": "480"}, "planner"),
        ("GET /v1/segments", "get", "/v1/segments", {}, "planner"),
        ("GET /v1/needs/emerging?limit=200", "get", "/v1/needs/emerging", {"limit": "200"}, "planner"),
        ("GET /v1/needs/topics", "get", "/v1/needs/topics", {}, "planner"),
        ("GET /v1/segments/{segment}/suggestions?limit=50", "get",
         f"/v1/segments/{one['segment']}/suggestions", {"limit": "50"}, "portal"),
    ]
    out = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for name, method, path, params, role in cases:
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                response = client.request(method, path, params=params,
                                          headers={"Authorization": f"Bearer {KEYS[role]}"})
                times.append(1000 * (time.perf_counter() - started))
                if response.status_code >= 500:
                    raise RuntimeError(f"{name}: {response.status_code}")
            out.append((name, float(np.median(times)), float(np.max(times))))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=300.0, help="length of the soak (5 minutes by default)")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    command = shlex.join(["python", "-m", "bench", "soak", *sys.argv[1:]])
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="needcast-soak-") as tmp:
        folder = Path(tmp)
        env = {**build_world(folder), "NEEDCAST_API_KEYS": ",".join(f"{k}:{r}" for r, k in KEYS.items()),
               "NEEDCAST_RATE_LIMIT_IP": "1000000/second", "NEEDCAST_RATE_LIMIT_KEY": "1000000/second",
               "NEEDCAST_RELOAD_INTERVAL": "5"}
        server, url = start_server(folder, env, None, timeout=600)
        worker = subprocess.Popen([sys.executable, "-m", "needcast", "worker"], cwd=folder,
                                  env={**os.environ, **env}, stdout=(folder / "worker.log").open("w"),
                                  stderr=subprocess.STDOUT)
        try:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEYS['planner']}"}) as c:
                series = c.get("/v1/forecasts", params={"horizon": 1}).json()["items"]
            rss_start = rss_mb(server.pid)
            started = time.perf_counter()
            result = asyncio.run(_soak(url, series, args.seconds, args.concurrency))
            elapsed = time.perf_counter() - started
            rss_end = rss_mb(server.pid)
            slowest = _slowest(url, series)
        finally:
            for process in (worker, server):
                process.terminate()
                process.wait(timeout=60)
    lat, err = result["latencies"], result["errors"]
    total = sum(len(v) for v in lat.values())
    all_ms = np.concatenate([np.asarray(v) for v in lat.values()])
    rows = [f"| {kind} | {len(v):,} | {err[kind]} | {np.percentile(v, 50):.1f} | {np.percentile(v, 99):.1f} |"
            for kind, v in sorted(lat.items())]
    drift = (rss_end - rss_start) / rss_start
    soak = "\n".join([
        f"`{command}` ({date.today()}): {args.concurrency} connections for {elapsed:.0f} s against one uvicorn "
        f"worker on the `sample` world ({len(series)} series), with `needcast worker` running; machine load "
        f"before the run {load_before:.1f} ({os.cpu_count()} CPUs, shared).",
        "",
        "| kind | requests | errors | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
        *rows,
        f"| **all** | {total:,} | {sum(err.values())} | {np.percentile(all_ms, 50):.1f} | "
        f"{np.percentile(all_ms, 99):.1f} |",
        "",
        f"Server RSS: {rss_start:.0f} MiB at the start, {rss_end:.0f} MiB at the end ({100 * drift:+.1f}%; goal "
        f"within ±10%). The refresh was queued with status {result['refresh'] or 'none (run too short)'}.",
        *_failure_table(result["failures"]),
    ])
    slow = "\n".join([
        f"`{command}` ({date.today()}), after the soak: each route's largest legitimate request, 20 times one "
        "after the other (the goal: under 200 ms).",
        "",
        "| request | median ms | max ms |",
        "|---|---:|---:|",
        *(f"| {name} | {med:.1f} | {mx:.1f} |" for name, med, mx in slowest),
    ])
    print(soak + "\n\n" + slow)
    if not args.no_write:
        replace_section("## Soak", soak)
        replace_section("## Slowest legitimate requests", slow)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
