"""The worker is a good neighbour of an API on the same host: a lower CPU priority and capped compute threads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from needcast.settings import Settings


def _nice(pid: int) -> int:
    """A process's nice value (Linux /proc: field 19 of stat)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_needcast_worker_runs_at_the_configured_lower_priority(settings: Settings) -> None:
    log = settings.home.parent / "worker.log"
    worker = subprocess.Popen([sys.executable, "-m", "needcast", "worker", "--no-schedule"],
                              env={**os.environ, "NEEDCAST_WORKER_NICE": "7", "NEEDCAST_WORKER_THREADS": "1"},
                              stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "waiting for jobs" not in log.read_text():
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.2)
        assert _nice(worker.pid) == _nice(os.getpid()) + 7
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    assert "with 1 compute threads" in log.read_text()


def test_yield_cpu_caps_the_threads_of_every_runtime() -> None:
    probe = """
import json, os
import numpy, lightgbm, torch  # loaded before, as the worker's imports load them
from threadpoolctl import threadpool_info
from jobs.worker import yield_cpu
from text.encoders import cpu_threads
before = os.nice(0)
threads = yield_cpu(3, 2)
print(json.dumps({"threads": threads, "nice": os.nice(0) - before, "omp": os.environ["OMP_NUM_THREADS"],
                  "pools": sorted({p["num_threads"] for p in threadpool_info()}), "torch": torch.get_num_threads(),
                  "onnx": cpu_threads()}))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"threads": 2, "nice": 3, "omp": "2", "pools": [2], "torch": 2, "onnx": 2}

