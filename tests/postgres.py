"""A throwaway PostgreSQL server for the tests that need one (initdb + pg_ctl on a free loopback port)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _as_postgres_user(args: list[str]) -> list[str]:
    # initdb refuses to run as root; CI runs as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@contextmanager
def postgres_server(settings: list[str] | None = None, fsync: bool = False) -> Iterator[str | None]:
    """Yields an SQLAlchemy URL of a fresh server, or None when PostgreSQL is not installed.

    `settings`: more `name=value` server settings (the benchmarks pass the production compose file's); `fsync`
    off by default (a test server's data is thrown away)."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if not initdb or not pg_ctl:
        yield None
        return
    # Not under pytest's tmp folder: that one is private to root, and the server runs as `postgres`.
    folder = Path(tempfile.mkdtemp(prefix="needcast-pg-"))
    data = folder / "pgdata"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(_as_postgres_user([initdb, "-D", str(data), "-U", "needcast", "--auth=trust", "-E", "UTF8"]),
                   check=True, capture_output=True)
    extra = [*([] if fsync else ["fsync=off"]), *(settings or [])]
    options = " ".join([f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", *(f"-c {s}" for s in extra)])
    subprocess.run(_as_postgres_user([pg_ctl, "-D", str(data), "-o", options, "-w", "-l", str(folder / "pg.log"),
                                      "start"]), check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://needcast@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres_user([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
