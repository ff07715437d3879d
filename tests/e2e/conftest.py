"""A real uvicorn serving the app from a subprocess, on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from features.contract import Kind
from features.ingest import ingest_frame
from needcast.jobs import run_training
from needcast.settings import Settings, get_settings
from store.engine import get_engine
from tests.conftest import isolate, make_usage


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def start_server(tmp: Path, env_extra: dict[str, str] | None = None, wait_ready: bool = True,
                 workers: int = 1) -> Server:
    port = free_port()
    log = tmp / f"server-{port}.log"
    env = {**os.environ, **(env_extra or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "needcast", "serve", "--port", str(port), "--workers", str(workers)], cwd=tmp,
        env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240  # imports alone take a minute on a loaded 2-core machine
    path = "/readyz" if wait_ready else "/healthz"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(url + path, timeout=2).status_code == 200:
                return Server(url, process, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.terminate()
    raise RuntimeError(f"server not ready in time: {log.read_text()[-3000:]}")


def start_worker(tmp: Path, env_extra: dict[str, str] | None = None) -> subprocess.Popen:
    """A real `needcast worker` (no schedule) running the jobs the server queues; its log beside the server's."""
    env = {**os.environ, "NEEDCAST_WORKER_POLL": "0.5", **(env_extra or {})}
    log = tmp / "worker.log"
    return subprocess.Popen([sys.executable, "-m", "needcast", "worker", "--no-schedule"], cwd=tmp, env=env,
                            stdout=log.open("a"), stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A store with usage of a small world and a trained champion, shared by a module's tests."""
    with pytest.MonkeyPatch.context() as mp:
        settings = isolate(tmp_path_factory.mktemp("world"), mp)
        engine = get_engine(settings.db_url)
        ingest_frame(engine, make_usage(days=450, regions=("center", "north")).astype({"count": str}), Kind.usage)
        run_training(settings)
        yield settings
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def server(trained: Settings) -> Iterator[Server]:
    srv = start_server(trained.home.parent, {"NEEDCAST_RELOAD_INTERVAL": "1"})
    yield srv
    srv.process.terminate()
    srv.process.wait(timeout=20)
