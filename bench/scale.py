"""Scale: ingest rows/s and peak RSS of `needcast ingest usage`, and windowed reads, on SQLite and PostgreSQL.

Usage: `.venv/bin/python -m bench scale [--series 180,1800] [--backends sqlite,postgresql]
[--parts ingest,training,needs] [--quick]`.
- Data: `generate_usage` writes N daily series x 3 years as a CSV export, date by date, zeros dropped: each
  series has a log-normal level (most series are small and intermittent, a few large), a weekly cycle (weekends
  at 20%), a yearly wave with its own phase and Poisson noise. 180 series are ~100k rows, 1,800 ~1M, 18,000 ~10M.
- Ingest: the real CLI, `needcast ingest usage FILE`, in a child process on an empty database; wall time,
  rows/s, CPU seconds (the child's, plus the PostgreSQL backends' from the postmaster's reaped-children times)
  and the child's peak RSS (its `VmHWM`, polled: `PeakRss`). Then the same file again (everything a duplicate).
  Reference in the same run: PostgreSQL `COPY` of the same CSV into a table without keys or hashes.
- Reads: the whole history, the last 365 days, and 10% of the series through `store.reads.load_usage`, against
  what the same read cost before (SQLAlchemy row mappings into pandas) and `pandas.read_sql` on the engine;
  median of 3 (one run from 1,000 series up).
- PostgreSQL is a throwaway server with the production settings of `deploy/compose.yaml` (`production_server`:
  its shared buffers, WAL and checkpoint sizes; fsync on), not the tests' server (defaults, fsync off).
- Hooks: `train_figures(...)` and `needs_figures(...)` return the training and needs sections' rows when
  `bench/scale_training.py` / `bench/scale_needs.py` exist (imported lazily; skipped when absent).
Writes the section `## Scale` of `docs/benchmarks.md`; `--quick` (180 series, no docs) only prints.
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from bench.docs import replace_section

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Scale"
YEARS = 3
END = "2026-06-30"
AGAIN_UP_TO = 500_000  # rows: the second ingest of larger files is left out to keep a run short
SERVICES, SEGMENTS = 300, 4  # a series is (service, segment, region): 1,200 series per region


def series_keys(n: int) -> pd.DataFrame:
    """The first `n` series of a region-major catalogue (300 services x 4 segments per region)."""
    i = np.arange(n)
    return pd.DataFrame({"service": [f"svc{s:03d}" for s in i % SERVICES],
                         "segment": [f"seg{g}" for g in (i // SERVICES) % SEGMENTS],
                         "region": [f"r{r:03d}" for r in i // (SERVICES * SEGMENTS)]})


def usage_blocks(series: int, years: int = YEARS, seed: int = 0, block_days: int = 28) -> Iterator[pd.DataFrame]:
    """Daily usage of `series` series over `years` years, date by date in blocks, zero days dropped."""
    rng = np.random.default_rng(seed)
    keys = series_keys(series)
    level = rng.lognormal(mean=0.3, sigma=1.3, size=series)  # median ~1.3 a day; a few series in the hundreds
    phase = rng.uniform(0, 365, size=series)
    dates = pd.date_range(end=END, periods=365 * years + 1, freq="D")
    for start in range(0, len(dates), block_days):
        days = dates[start : start + block_days]
        weekly = np.where(days.dayofweek >= 5, 0.2, 1.0)
        yearly = 1 + 0.3 * np.sin(2 * np.pi * (days.dayofyear.to_numpy()[:, None] + phase[None, :]) / 365)
        counts = rng.poisson(level[None, :] * weekly[:, None] * yearly)  # days x series
        day_idx, series_idx = np.nonzero(counts)
        frame = keys.iloc[series_idx].reset_index(drop=True)
        frame.insert(0, "date", days[day_idx].strftime("%Y-%m-%d"))
        frame["count"] = counts[day_idx, series_idx]
        yield frame


def generate_usage(path: Path, series: int, years: int = YEARS, seed: int = 0) -> int:
    """Write the usage export of `series` series to `path` (CSV, or CSV.gz by its name); returns its rows."""
    rows = 0
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8", newline="") as f:
        for i, frame in enumerate(usage_blocks(series, years, seed)):
            frame.to_csv(f, header=i == 0, index=False)
            rows += len(frame)
    return rows


class PeakRss:
    """A running process's peak RSS in MiB: its `VmHWM`, read every `every` seconds until it exits.

    Not `wait4`'s `ru_maxrss`: Linux carries the spawning process's peak over `exec` into it, so a child started
    by a parent that had grown (this benchmark after reading a million rows) reported the parent's size. `VmHWM`
    is the peak of the child's own memory since `exec`; the last read is at most `every` seconds before the end.
    """

    def __init__(self, pid: int, every: float = 0.1, tree: bool = False) -> None:
        import threading

        self.mib = 0.0
        self._pid = pid
        self._status = Path(f"/proc/{pid}/status")
        self._done = threading.Event()
        target = self._poll_tree if tree else self._poll
        self._thread = threading.Thread(target=target, args=(every,), daemon=True)
        self._thread.start()

    def _poll(self, every: float) -> None:
        while not self._done.is_set():
            try:
                line = next(x for x in self._status.read_text().splitlines() if x.startswith("VmHWM:"))
            except (OSError, StopIteration):  # exited (a zombie has no VmHWM line)
                return
            self.mib = max(self.mib, int(line.split()[1]) / 1024)
            self._done.wait(every)

    def _poll_tree(self, every: float) -> None:
        """With `tree`: the peak of the summed `VmRSS` of the process and its descendants (Dask's worker
        processes), as sampled (each process's own high-water marks do not add up)."""
        while not self._done.is_set() and self._status.exists():
            self.mib = max(self.mib, sum(_rss_kib(pid) for pid in _descendants(self._pid)) / 1024)
            self._done.wait(every)

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self.mib


def _descendants(pid: int) -> list[int]:
    """`pid` and every process below it (Linux /proc children lists)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(c) for c in task.read_text().split())
            except OSError:
                continue
    return found


def _rss_kib(pid: int) -> int:
    try:
        line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0
    return int(line.split()[1])


def run_child(args: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """Run a command; returns its wall seconds, CPU seconds, peak RSS in MiB (of that child alone) and stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = PeakRss(proc.pid)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    rss = peak.stop()
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {err.strip()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, rss, out


def server_cpu(url: str) -> Callable[[], float]:
    """CPU seconds PostgreSQL's ended backends used so far (the postmaster's reaped children: cutime + cstime)."""
    if not url.startswith("postgresql"):
        return lambda: 0.0
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        status = Path(f"/proc/{backend}/status").read_text()
    postmaster = next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:"))

    def seconds() -> float:
        fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")  # cutime, cstime

    return seconds


@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    """An empty database URL of `backend` (a throwaway PostgreSQL server, or an SQLite file)."""
    if backend == "sqlite":
        yield f"sqlite:///{folder}/needcast.db"
        return
    with production_server() as url:
        yield url


def production_settings(compose: Path = ROOT / "deploy" / "compose.yaml") -> list[str]:
    """The `-c name=value` settings of the production compose file's PostgreSQL service."""
    import yaml

    command = yaml.safe_load(compose.read_text())["services"]["postgres"].get("command", [])
    return [value for flag, value in itertools.pairwise(command) if flag == "-c"]


@contextmanager
def production_server() -> Iterator[str]:
    """A throwaway PostgreSQL server (initdb + pg_ctl on a free loopback port) with the production settings
    (`production_settings`; fsync on, as in production), unlike the tests' server (defaults, fsync off)."""
    from tests.postgres import postgres_server

    with postgres_server(settings=production_settings(), fsync=True) as url:
        if url is None:
            raise RuntimeError("PostgreSQL is not installed (initdb/pg_ctl not found)")
        yield url


def ingest_figures(backend: str, csv: Path, rows: int, folder: Path, reads: bool = True) -> dict[str, object]:
    """`needcast ingest usage` of `csv` into an empty database of `backend`, then again; plus reads."""
    home = folder / f"home-{backend}-{rows}"
    home.mkdir(parents=True, exist_ok=True)
    with database(backend, home) as url:
        env = {**os.environ, "NEEDCAST_HOME": str(home), "NEEDCAST_DATABASE_URL": url,
               "MLFLOW_TRACKING_URI": f"sqlite:///{home}/mlflow.db", "PYTHONPATH": str(ROOT),
               # A first bulk load opens every series at once: lift the new-series caps meant for live feeds.
               "NEEDCAST_MAX_NEW_SERIES_PER_BATCH": "1000000", "NEEDCAST_MAX_NEW_SERIES_PER_DAY": "1000000"}
        cli = [str(Path(sys.executable).with_name("needcast")), "ingest", "usage", str(csv)]
        server = server_cpu(url) if backend == "postgresql" else (lambda: 0.0)
        load = os.getloadavg()[0]
        before = server()
        wall, cpu, rss, out = run_child(cli, env)
        cpu += server() - before
        print(f"  {backend} {rows:,} rows: {wall:.1f} s, {rows / wall:,.0f} rows/s, CPU {cpu:.1f} s "
              f"({rows / cpu:,.0f} rows per CPU-s), peak RSS {rss:,.0f} MiB, load {load:.1f} | "
              f"{out.strip().splitlines()[0]}", flush=True)
        figures = {"backend": backend, "rows": rows, "seconds": wall, "rows_per_s": rows / wall, "rss_mib": rss,
                   "cpu_s": cpu, "load": load}
        if rows <= AGAIN_UP_TO:
            before = server()
            again, again_cpu, again_rss, out2 = run_child(cli, env)
            again_cpu += server() - before
            print(f"  again: {again:.1f} s, CPU {again_cpu:.1f} s, peak RSS {again_rss:,.0f} MiB | "
                  f"{out2.strip().splitlines()[0]}", flush=True)
            figures.update(again_s=again, again_cpu_s=again_cpu, again_rss_mib=again_rss)
        if backend == "postgresql":
            figures["copy_s"] = plain_copy_seconds(url, csv)
            print(f"  plain COPY: {figures['copy_s']:.1f} s", flush=True)
        if reads:
            figures.update(read_figures(url))
    return figures


def plain_copy_seconds(url: str, csv: Path) -> float:
    """The reference: PostgreSQL `COPY` of the same CSV into a table without keys, hashes or validation."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        conn.execute('CREATE TABLE plain_usage ("date" date, service text, segment text, region text, "count" int)')
        start = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY plain_usage FROM STDIN (FORMAT csv, HEADER true)") as copy, \
                csv.open("rb") as f:
            while block := f.read(1 << 20):
                copy.write(block)
        conn.commit()
        return time.perf_counter() - start


def rows_then(engine) -> pd.DataFrame:
    """How `load_usage` read before: SQLAlchemy row mappings into pandas."""
    from sqlalchemy import select

    from store import tables

    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(select(tables.usage)).mappings().all(),
                             columns=["date", "service", "segment", "region", "count"])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def read_sql(engine) -> pd.DataFrame:
    """`pandas.read_sql` on the engine."""
    from sqlalchemy import select

    from store import tables

    frame = pd.read_sql(select(tables.usage), engine)
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def median_seconds(read: Callable[[], pd.DataFrame], repeats: int = 3) -> tuple[float, int]:
    times, rows = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        rows = len(read())
        times.append(time.perf_counter() - start)
    return statistics.median(times), rows


def read_figures(url: str) -> dict[str, float]:
    """Median seconds of the whole history (three ways), a 365-day window and 10% of the series."""
    from store.engine import get_engine
    from store.reads import load_series_keys, load_usage, usage_last_day

    engine = get_engine(url)
    last = usage_last_day(engine)
    keys = load_series_keys(engine)
    subset = keys.iloc[:: 10]
    figures = {}
    repeats = 3 if len(keys) <= 500 else 1
    reads = [("read_rows_s", lambda: rows_then(engine))] if repeats > 1 else []  # minutes at a million rows
    for name, read in [*reads, ("read_sql_s", lambda: read_sql(engine)), ("read_s", lambda: load_usage(engine)),
                       ("read_year_s", lambda: load_usage(engine, since=last - pd.Timedelta(days=364))),
                       ("read_tenth_s", lambda: load_usage(engine, series=subset))]:
        figures[name], rows = median_seconds(read, repeats)
        print(f"  {name}: {figures[name]:.2f} s ({rows:,} rows)", flush=True)
    engine.dispose()
    return figures


def optional_figures(module: str, function: str, **kwargs) -> str | None:
    """The markdown another scale benchmark returns (`bench/<module>.py`), or None when it does not exist."""
    try:
        found = importlib.import_module(f"bench.{module}")
    except ModuleNotFoundError as exc:
        if exc.name != f"bench.{module}":
            raise
        return None
    return getattr(found, function)(**kwargs)


def train_figures(series: list[int], folder: Path, **kwargs) -> str | None:
    """Training at scale (single process and Dask): `bench.scale_training.train_figures`, when present."""
    rows = optional_figures("scale_training", "train_figures", series=series, folder=folder,
                            generate=generate_usage, **kwargs)
    if not rows:
        return None
    from bench.scale_training import training_table  # it returns rows (list[dict]); the section is its table

    return training_table(rows)


def needs_figures(folder: Path, **kwargs) -> str | None:
    """Needs at volume (embedding texts/s, recall of rare needs): `bench.scale_needs.needs_figures`, when present."""
    rows = optional_figures("scale_needs", "needs_figures", folder=folder, **kwargs)
    if not rows:
        return None
    from bench.scale_needs import needs_table  # it returns rows (list[dict]); the section is its table

    return needs_table(rows)


def ingest_table(results: list[dict[str, object]]) -> str:
    lines = ["| backend | rows | ingest s (load) | rows/s | CPU s | rows per CPU-s | peak RSS MiB | RSS vs smallest | "
             "again s (CPU s) | plain COPY s | read all: rows / read_sql / now s | last 365 d s | 10% of series s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    smallest: dict[str, float] = {}
    for r in results:
        base = smallest.setdefault(str(r["backend"]), float(r["rss_mib"]))
        copy = f"{r['copy_s']:.1f}" if "copy_s" in r else "—"
        again = f"{r['again_s']:.1f} ({r['again_cpu_s']:.1f})" if "again_s" in r else "—"
        lines.append(
            f"| {r['backend']} | {r['rows']:,} | {r['seconds']:.1f} ({r['load']:.0f}) | {r['rows_per_s']:,.0f} | "
            f"{r['cpu_s']:.1f} | {r['rows'] / r['cpu_s']:,.0f} | {r['rss_mib']:,.0f} | "
            f"{float(r['rss_mib']) / base:.2f}x | "
            f"{again} | {copy} | "
            + (f"{r.get('read_rows_s', float('nan')):.2f} / {r['read_sql_s']:.2f} / **{r['read_s']:.2f}** | "
               f"{r['read_year_s']:.2f} | {r['read_tenth_s']:.2f} |" if "read_s" in r else "— | — | — |"))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", default="180,1800", help="comma-separated series counts (x 3 years each)")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--quick", action="store_true", help="180 series, print only")
    ap.add_argument("--keep", type=Path, help="write the data and databases here and keep them")
    ap.add_argument("--parts", default="ingest,training,needs",
                    help="what to run: ingest (this module), training and needs (their modules, when present)")
    ap.add_argument("--no-reads", action="store_true", help="ingest only (large sizes: the reads take minutes)")
    ap.add_argument("--no-docs", action="store_true", help="print the tables only")
    args = ap.parse_args()
    sizes = [180] if args.quick else [int(s) for s in args.series.split(",")]
    backends = args.backends.split(",")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="needcast-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for n in sizes if "ingest" in args.parts.split(",") else []:
            csv = folder / f"usage-{n}.csv"
            start = time.perf_counter()
            rows = generate_usage(csv, n)
            print(f"{n:,} series x {YEARS} years: {rows:,} rows, {csv.stat().st_size / 2**20:,.0f} MiB CSV "
                  f"(generated in {time.perf_counter() - start:.0f} s)", flush=True)
            for backend in backends:
                results.append(ingest_figures(backend, csv, rows, folder, reads=not args.no_reads))
            csv.unlink()
        parts = args.parts.split(",")
        sections = [ingest_table(results)] if results else []
        if "training" in parts and (extra := train_figures(sizes, folder)):
            sections.append(extra)
        if "needs" in parts and (extra := needs_figures(folder)):
            sections.append(extra)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    body = "\n\n".join(sections)
    print(body)
    if args.quick or args.no_docs:
        return 0
    command = (f".venv/bin/python -m bench scale --series {','.join(map(str, sizes))} --backends {args.backends} "
               f"--parts {args.parts}")
    replace_section(SECTION, f"""Measured {date.today()} on this machine ({os.cpu_count()} cores) with `{command}`.
Usage: N daily series x {YEARS} years, zeros dropped (log-normal levels: most series small and intermittent),
a CSV export date by date. Ingest is the real CLI (`needcast ingest usage FILE`) in a child process on an empty
database: wall time (with the machine's 1-minute load average: other work on the 2 cores stretches it), CPU
seconds (the CLI process, plus PostgreSQL's backends: what the ingest costs whatever else runs) and the child's
peak RSS; "again" is the same file a second time (every row a duplicate; files up to 500,000 rows).
"plain COPY" is PostgreSQL loading the same CSV into a table without keys, hashes or validation: the floor.
PostgreSQL runs with the production settings of `deploy/compose.yaml` ({", ".join(production_settings())}; fsync on).
Reads (median of 3): the whole history as before (SQLAlchemy row mappings) / `pandas.read_sql` / now
(`store.reads.load_usage`: PostgreSQL `COPY ... TO STDOUT` into pyarrow; SQLite's cursor in batches), then
windows through `load_usage(since=...)` and `load_usage(series=...)`; from 1,000 series up one run each, and
no row-mappings peer (nan).

{body}
""")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
