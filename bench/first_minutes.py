"""The first minutes of a newcomer: `needcast demo` on an empty home, timed to its first served forecast.

`needcast demo` runs as a subprocess in a fresh temporary folder (its own NEEDCAST_HOME and MLflow store, the
installed embedding model), exactly as `make demo` runs it after the install. The bench polls the server and
records the seconds from the command's start to the first 200 of `GET /v1/forecasts`, and to the first answer of
`GET /v1/needs/emerging` that carries a needs model (the needs train in the background). It also counts the
console lines that are not needcast's own (library warnings, progress bars, log lines).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.docs import replace_section

__all__ = ["DemoTiming", "time_demo"]

HEADING = "## The first minutes: `needcast demo` to its first served forecast"
KEY = "bench-first-minutes-key"
# needcast's own console lines in `demo` (its progress and the worker's and server's start lines); anything else
# on the console is another library talking to a newcomer.
OWN_LINES = re.compile(
    r"^(sample data written|ingested |training|\s*backtest of|[┏┃┡│└]|\s*$|needcast-|needcast is |"
    r"admin API key|dashboard:|worker |emerging needs|the needs model)")


@dataclass
class DemoTiming:
    forecasts_s: float | None = None
    needs_s: float | None = None
    ready_s: float | None = None
    console: list[str] = field(default_factory=list)
    running_lines: int | None = None  # console lines printed before the bench stopped demo

    @property
    def foreign_lines(self) -> list[str]:
        """Console lines, up to the needs being served, that are not needcast's own."""
        return [line for line in self.console[:self.running_lines] if not OWN_LINES.match(line)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_demo(folder: Path, timeout: float = 600, needs_timeout: float = 600,
              python: str = sys.executable) -> DemoTiming:
    """Run `needcast demo` in `folder` and time it; the process group is stopped at the end."""
    port = _free_port()
    env = {**os.environ, "NEEDCAST_HOME": str(folder / "data"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{folder}/mlruns/mlflow.db",
           "NEEDCAST_MLFLOW_ARTIFACT_ROOT": str(folder / "mlruns"), "NEEDCAST_API_KEYS": f"{KEY}:planner",
           "PYTHONUNBUFFERED": "1", "COLUMNS": "250"}
    for name in ("NEEDCAST_DATABASE_URL", "NEEDCAST_LOG_LEVEL"):
        env.pop(name, None)
    timing = DemoTiming()
    started = time.monotonic()
    process = subprocess.Popen([python, "-m", "needcast", "demo", "--port", str(port)], cwd=folder, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def read_console() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            timing.console.append(line.rstrip("\n"))

    reader = threading.Thread(target=read_console, daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{port}"
    headers = {"X-API-Key": KEY}
    try:
        while time.monotonic() - started < timeout + needs_timeout:
            if process.poll() is not None:
                raise RuntimeError("needcast demo exited:\n" + "\n".join(timing.console[-30:]))
            elapsed = time.monotonic() - started
            if timing.forecasts_s is None and elapsed > timeout:
                raise RuntimeError(f"no forecast served in {timeout:.0f} s")
            try:
                if timing.ready_s is None and httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    timing.ready_s = time.monotonic() - started
                if timing.forecasts_s is None:
                    answer = httpx.get(f"{url}/v1/forecasts", params={"horizon": 1}, headers=headers, timeout=30)
                    if answer.status_code == 200:
                        timing.forecasts_s = time.monotonic() - started
                if timing.forecasts_s is not None:
                    answer = httpx.get(f"{url}/v1/needs/emerging", headers=headers, timeout=30)
                    if answer.status_code == 200 and answer.json().get("model"):
                        timing.needs_s = time.monotonic() - started
                        # demo's own line for it follows once the job has finished; the shutdown is not counted
                        deadline = time.monotonic() + 30
                        while time.monotonic() < deadline and not any(
                                line.startswith("emerging needs ready") for line in timing.console):
                            time.sleep(0.5)
                        timing.running_lines = len(timing.console)
                        break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
    finally:
        try:
            os.killpg(process.pid, 15)
            process.wait(timeout=60)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, 9)
        reader.join(timeout=5)
    return timing


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=420, help="seconds to wait for the first forecast")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--before", default="", help="a line on the figure before this change, kept in the docs")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="needcast-first-minutes-") as tmp:
        timing = time_demo(Path(tmp), timeout=args.timeout)
    load_after = os.getloadavg()[0]
    foreign = timing.foreign_lines
    print("\n".join(timing.console))
    print(f"first forecast {timing.forecasts_s:.1f}s, readyz {timing.ready_s}, needs {timing.needs_s}; "
          f"{len(foreign)} foreign console lines", file=sys.stderr)
    for line in foreign:
        print(f"  foreign: {line}", file=sys.stderr)

    def fmt(seconds: float | None) -> str:
        return "not within the wait" if seconds is None else f"{seconds:.0f} s"

    body = f"""Command: `flock /tmp/team/bench.lock nice .venv/bin/python -m bench first_minutes` (measured
{dt.date.today().isoformat()} on {os.cpu_count()} CPUs shared with other jobs; 1-minute load average
{load_before:.1f} at the start, {load_after:.1f} at the end). `needcast demo` in an empty temporary folder (its
own NEEDCAST_HOME and MLflow store, the embedding model installed, as after `make demo`'s install), seconds from
the command's start:

| moment | seconds |
|---|---|
| first 200 of `GET /v1/forecasts` | {fmt(timing.forecasts_s)} |
| `/readyz` 200 | {fmt(timing.ready_s)} |
| emerging needs served (trained in the background by the worker) | {fmt(timing.needs_s)} |

Console lines that are not needcast's own (library warnings, progress bars, log lines), up to the needs being
served: {len(foreign)}.
{args.before}"""
    print(body)
    if not args.no_docs:
        replace_section(HEADING, body)


if __name__ == "__main__":
    main()
