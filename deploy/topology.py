"""needcast's production topology on one host without Docker: the services of deploy/compose.yaml as processes.

    deploy/run-local [--state DIR] [--api-port 8000] [--mlflow-port 5000] [--workers 2]

PostgreSQL (initdb on the first run, under DIR/postgres, with a generated password in DIR/postgres.password),
an MLflow tracking server on PostgreSQL that stores artifacts under DIR/mlartifacts and proxies them to clients,
`needcast db upgrade`, the API (`needcast serve --workers N`) and the job worker (`needcast worker`), all bound to
127.0.0.1; logs in DIR/logs. Later runs reuse the data. Ctrl-C (or SIGTERM) stops everything; so does any
service that dies. Needs PostgreSQL's server programs (initdb, pg_ctl) and needcast installed with its
`postgres` extra. It only starts processes, so the end-to-end test drives the very same code.
"""

from __future__ import annotations

import argparse
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.error import URLError

__all__ = ["Topology", "free_port", "postgres_binaries"]

DATABASES = ("needcast", "mlflow")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_binaries() -> tuple[str, str] | None:
    """initdb and pg_ctl from PATH or the Debian layout (/usr/lib/postgresql/N/bin), or None."""
    found = []
    for name in ("initdb", "pg_ctl"):
        path = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                                                      reverse=True)), None)
        if path is None:
            return None
        found.append(path)
    return found[0], found[1]


def _as_postgres(args: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: as root, run its programs as the `postgres` system user.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _wait_http(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (URLError, OSError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not up in {timeout:.0f} s: {log.read_text()[-2000:]}")


@dataclass
class Topology:
    """The services and their ports; `start()` brings them up in order, `stop()` takes them down."""

    state: Path
    api_port: int = 8000
    mlflow_port: int = 5000
    workers: int = 2
    python: str = sys.executable
    env_extra: dict[str, str] = field(default_factory=dict)  # e.g. NEEDCAST_API_KEYS, NEEDCAST_RELOAD_INTERVAL
    startup_timeout: float = 240.0
    pg_port: int = 0
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state = self.state.resolve()
        self.logs = self.state / "logs"

    # ---- addresses -------------------------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    def database_url(self, name: str = "needcast") -> str:
        password = (self.state / "postgres.password").read_text().strip()
        return f"postgresql+psycopg://needcast:{password}@127.0.0.1:{self.pg_port}/{name}"

    def needcast_env(self) -> dict[str, str]:
        """What every needcast process of the topology gets (the same for the API and the worker)."""
        return {**os.environ, "NEEDCAST_HOME": str(self.state / "home"),
                "NEEDCAST_DATABASE_URL": self.database_url(), "MLFLOW_TRACKING_URI": self.mlflow_url,
                "NEEDCAST_MLFLOW_ARTIFACT_ROOT": "mlflow-artifacts:/",  # artifacts through the server
                **self.env_extra}

    # ---- services --------------------------------------------------------------------------------------------
    def start_postgres(self) -> None:
        binaries = postgres_binaries()
        if binaries is None:
            raise RuntimeError("PostgreSQL's initdb and pg_ctl were not found (apt-get install postgresql)")
        initdb, pg_ctl = binaries
        folder = self.state / "postgres"
        self.pg_port = self.pg_port or free_port()
        if not (folder / "data" / "PG_VERSION").exists():
            folder.mkdir(parents=True, exist_ok=True)
            password_file = self.state / "postgres.password"
            password_file.write_text(secrets.token_urlsafe(24) + "\n")
            password_file.chmod(0o600)
            pwfile = folder / "initial-password"
            shutil.copy(password_file, pwfile)
            if os.geteuid() == 0:
                shutil.chown(folder, "postgres")
                shutil.chown(pwfile, "postgres")
            subprocess.run(_as_postgres([initdb, "-D", str(folder / "data"), "-U", "needcast", "-E", "UTF8",
                                         "--auth=scram-sha-256", f"--pwfile={pwfile}"]),
                           check=True, capture_output=True)
            pwfile.unlink()
        options = f"-p {self.pg_port} -k {folder} -c listen_addresses=127.0.0.1"
        subprocess.run(_as_postgres([pg_ctl, "-D", str(folder / "data"), "-o", options, "-w", "-t", "120",
                                     "-l", str(folder / "postgres.log"), "start"]), check=True, capture_output=True)
        self._pg_ctl = pg_ctl
        from sqlalchemy import create_engine, text

        admin = create_engine(self.database_url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            present = set(conn.execute(text("SELECT datname FROM pg_database")).scalars())
            for name in DATABASES:
                if name not in present:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{name}.log").open("a")
        process = subprocess.Popen(args, env=env, cwd=self.state, stdout=log, stderr=subprocess.STDOUT)
        self.processes[name] = process
        return process

    def start_mlflow(self) -> None:
        # The store URI travels in the environment, not the command line (`ps` would show its password).
        env = {**os.environ, "MLFLOW_BACKEND_STORE_URI": self.database_url("mlflow"),
               "MLFLOW_ARTIFACTS_DESTINATION": str(self.state / "mlartifacts")}
        env.pop("MLFLOW_TRACKING_URI", None)
        process = self._spawn("mlflow", [self.python, "-m", "mlflow", "server", "--host", "127.0.0.1",
                                         "--port", str(self.mlflow_port), "--workers", "1"], env)
        _wait_http(f"{self.mlflow_url}/health", process, self.logs / "mlflow.log", self.startup_timeout)

    def upgrade_schema(self) -> None:
        subprocess.run([self.python, "-m", "needcast", "db", "upgrade"], env=self.needcast_env(), cwd=self.state,
                       check=True, capture_output=True)

    def start_api(self) -> None:
        process = self._spawn("api", [self.python, "-m", "needcast", "serve", "--host", "127.0.0.1",
                                      "--port", str(self.api_port), "--workers", str(self.workers)],
                              self.needcast_env())
        _wait_http(f"{self.api_url}/healthz", process, self.logs / "api.log", self.startup_timeout)

    def start_worker(self) -> subprocess.Popen:
        return self._spawn("worker", [self.python, "-m", "needcast", "worker"], self.needcast_env())

    def stop_process(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def start(self) -> None:
        (self.state / "home").mkdir(parents=True, exist_ok=True)
        self.start_postgres()
        self.start_mlflow()
        self.upgrade_schema()
        self.start_api()
        self.start_worker()

    def stop(self) -> None:
        for name in ("worker", "api", "mlflow"):
            self.stop_process(name)
        if getattr(self, "_pg_ctl", None):
            subprocess.run(_as_postgres([self._pg_ctl, "-D", str(self.state / "postgres" / "data"), "-m", "fast",
                                         "stop"]), capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy/run-local", description=__doc__.split("\n\n")[0])
    parser.add_argument("--state", type=Path, default=Path("deploy-state"), help="data and logs (kept)")
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--mlflow-port", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of the API")
    args = parser.parse_args(argv)
    topology = Topology(args.state, args.api_port, args.mlflow_port, args.workers)
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        topology.start()
        print(f"needcast API  {topology.api_url}/  (docs {topology.api_url}/docs)\n"
              f"MLflow UI     {topology.mlflow_url}/\n"
              f"PostgreSQL    127.0.0.1:{topology.pg_port} (user needcast, password in "
              f"{topology.state / 'postgres.password'})\n"
              f"logs          {topology.logs}/\nCtrl-C stops everything.", flush=True)
        while not stopping:
            dead = [name for name, p in topology.processes.items() if p.poll() is not None]
            if dead:
                print(f"{', '.join(dead)} stopped: see {topology.logs}/; stopping the rest", file=sys.stderr)
                return 1
            time.sleep(1)
        return 0
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        detail = exc.stderr.decode(errors="replace")[-500:] if isinstance(exc, subprocess.CalledProcessError) \
            and exc.stderr else ""
        print(f"error: {exc} {detail}".strip(), file=sys.stderr)
        return 1
    finally:
        topology.stop()


if __name__ == "__main__":
    sys.exit(main())
