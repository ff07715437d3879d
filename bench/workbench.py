"""The planner's workbench answered on demand: a what-if scenario, `explain=true` and the chart's history.

On the `events` sample world (past campaigns registered), trained once without the needs model, the app is
called in-process (FastAPI's TestClient, a real app and database, no network) for every segment:
`POST /v1/scenarios` (one segment, a two-week campaign), `GET /v1/forecasts?explain=true` and
`GET /v1/history`. The first call of each kind loads the champion; it is reported apart from the medians.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.docs import replace_section

HEADING = "## Planner's workbench: answers computed on demand"
KEY = "bench-planner-key"


def _prepare(folder: Path, days: int) -> list[str]:
    os.environ.update({
        "NEEDCAST_HOME": str(folder / "home"), "MLFLOW_TRACKING_URI": f"sqlite:///{folder}/mlruns/mlflow.db",
        "NEEDCAST_MLFLOW_ARTIFACT_ROOT": str(folder / "mlruns"), "NEEDCAST_API_KEYS": f"{KEY}:planner",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    })
    os.environ.pop("NEEDCAST_DATABASE_URL", None)
    from bench.screenshots import _ingest_planner_files
    from features.contract import Kind
    from needcast.jobs import ingest_files, run_training
    from needcast.sample_data import generate_world
    from needcast.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    files = generate_world(folder / "world", world="events", days=days)
    ingest_files(settings, {Kind.services: files.services, Kind.usage: files.usage})
    _ingest_planner_files(settings, files)
    started = time.perf_counter()
    run_training(settings, with_needs=False)
    print(f"trained in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return list(files.truth["segments"])


def _timed(call) -> tuple[float, float, object]:
    """Wall seconds, CPU seconds of this process (the app runs in it) and the answer."""
    started, cpu = time.perf_counter(), time.process_time()
    answer = call()
    return time.perf_counter() - started, time.process_time() - cpu, answer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=500, help="days of generated history")
    parser.add_argument("--repeats", type=int, default=5, help="calls per segment and kind")
    parser.add_argument("--segments", type=int, default=0, help="at most this many segments (0: all)")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args(argv)
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="needcast-workbench-") as tmp:
        segments = _prepare(Path(tmp), args.days)
        segments = segments[:args.segments] if args.segments else segments
        from fastapi.testclient import TestClient

        from api.app import create_app

        times: dict[str, list[float]] = {"scenario": [], "explain": [], "history": []}
        cpu_times: dict[str, list[float]] = {k: [] for k in times}
        first: dict[str, float] = {}
        series_per_segment = []
        app = create_app()
        with TestClient(app, headers={"X-API-Key": KEY}) as client:
            until = dt.date.fromisoformat(client.get("/v1/forecasts", params={"horizon": 1}).json()["data_until"])
            event = {"name": "bench campaign", "start": (until + dt.timedelta(days=8)).isoformat(),
                     "end": (until + dt.timedelta(days=21)).isoformat(), "kind": "campaign"}
            horizons = itertools.cycle(range(28, 0, -1))
            calls = {
                "scenario": lambda g: client.post("/v1/scenarios", json={"event": {**event, "segments": [g]},
                                                                         "segment": g}),
                # A fresh horizon and no kept drivers per call, so nothing cached serves it.
                "explain": lambda g: (setattr(app.state, "forecast_drivers", {}), client.get("/v1/forecasts", params={
                    "segment": g, "explain": "true", "horizon": next(horizons)}))[1],
                "history": lambda g: client.get("/v1/history", params={"segment": g}),
            }
            for kind, call in calls.items():
                first[kind], _, answer = _timed(lambda call=call: call(segments[0]))
                assert answer.status_code in (200, 201), answer.text
            for segment in segments:
                for _ in range(args.repeats):
                    for kind, call in calls.items():
                        seconds, cpu, answer = _timed(lambda call=call, segment=segment: call(segment))
                        assert answer.status_code in (200, 201), answer.text
                        times[kind].append(seconds)
                        cpu_times[kind].append(cpu)
                        if kind == "scenario":
                            series_per_segment.append(answer.json()["series"])
    cpus = os.cpu_count()
    load = os.getloadavg()[0]
    rows = "\n".join(
        f"| {kind} | {statistics.median(v):.2f} | {statistics.median(cpu_times[kind]):.2f} | {max(v):.2f} | "
        f"{first[kind]:.2f} | {len(v)} |" for kind, v in times.items())
    seg_arg = f" --segments {args.segments}" if args.segments else ""
    command = f"python -m bench workbench --days {args.days} --repeats {args.repeats}{seg_arg}"
    body = f"""Command: `flock /tmp/team/bench.lock nice .venv/bin/{command}` (measured
{dt.date.today().isoformat()} on {cpus} CPUs shared with other jobs, 1-minute load average {load_start:.1f} at the
start, {load:.1f} at the end).
The `events` world, {len(segments)} segments, {min(series_per_segment)}-{max(series_per_segment)} series per
segment; in-process app (TestClient), seconds per call (CPU: this process's CPU time, which a loaded machine
does not inflate):

| answer | median wall | median CPU | max wall | first call (loads the champion) | calls |
|---|---|---|---|---|---|
{rows}

`scenario` is `POST /v1/scenarios` for one segment (both forecasts in one recursive pass, on the days of
history the forecast reads: its longest lag and rolling window, not every stored year); `explain` is
`GET /v1/forecasts?segment=G&explain=true` (LightGBM `pred_contrib` at every recursive step); `history` is
`GET /v1/history?segment=G` (12+ weeks of actuals and the backtest rows, read from the run once)."""
    print(body)
    if not args.no_docs:
        replace_section(HEADING, body)


if __name__ == "__main__":
    main()
