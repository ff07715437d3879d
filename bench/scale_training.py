"""Training at scale: `train_demand` against one plain mlforecast + LightGBM fit of the same data, same run.

Usage: `.venv/bin/python -m bench scale_training [--series 300,1200] [--dask] [--no-docs]`.
- Data: `bench.scale.usage_blocks` (N daily series x 3 years, zeros dropped, log-normal levels), in memory.
- Reference: one `MLForecast` fit of LightGBM (300 trees, lags 7/14/21/28, day of week) on the same series frame,
  one thread as needcast's default: the unit the ratios are in.
- legacy: the backtest layout before this release (4 windows, each refitted: 4 + 1 fits on a first run, 9 on a
  retrain when the data changed); now: the layout `DemandConfig.for_series` picks (legacy's up to 1,000 series;
  beyond, 2 windows and one backtest fit: 2 fits); large: that large-panel layout forced, to measure it on
  fewer series; dask: `large` on a LocalCluster of 2 workers x 1 thread (in-process workers, so one process
  holds all and its peak RSS is the run's). Except legacy, each is followed by a retrain on 7 appended days
  with the champion in place (the same configuration: its backtest is not re-run, 0 extra fits).
- Each measurement runs in its own child process: wall seconds of the step inside it, the child's peak RSS
  (`bench.scale.PeakRss`), full LightGBM fits made, backtest WAPE, and the held-out WAPE of the fitted model on
  the 28 days after the training data (single process vs Dask).
- postgres (`--kinds postgres --no-reference --no-docs`): the whole `needcast train --horizon 28` in a child
  process on a throwaway PostgreSQL server (`tests.postgres.postgres_server`) whose `usage` table was loaded with
  N series x 3 years by `COPY` (not through `needcast ingest`, measured in `## Scale`: 110 M rows would take over
  an hour), the last 28 days held out: wall seconds, the command's peak RSS, the load average, LightGBM fits and
  the held-out WAPE of the served p50 over every series; the command's timed log in `FOLDER/postgres-N/train.log`
  with `--profile FOLDER`.
Writes the section `## Training at scale` of `docs/benchmarks.md` unless `--no-docs`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

SECTION = "## Training at scale"
HELD_OUT_DAYS = 28
KINDS = ("reference", "legacy", "large", "dask")
OTHER_KINDS = ("cli", "compare", "sampled", "postgres", "postgres-dask")
"""cli: the whole `needcast train` command; compare: held-out WAPE of one final fit, Dask vs single process;
sampled: the global model fitted on a seeded sample of SAMPLED_SERIES series, then every series forecast;
postgres: the whole `needcast train` on a PostgreSQL store loaded by `COPY` (`_postgres_command`); postgres-dask:
the same with `NEEDCAST_DASK_SCHEDULER=local` (peak RSS summed over the command and its worker processes)."""
SAMPLED_SERIES = 2_000
# The backtest layout of each kind: legacy, the one before this release; now, `DemandConfig.for_series`'s choice;
# large, its choice beyond LARGE_PANEL series (forced, to measure it on fewer series); dask, `large` on Dask.
LAYOUTS = {"legacy": (4, True, 1.0), "now": (None, None, None), "large": (2, False, 0.5), "dask": (2, False, 0.5)}
"""Backtest windows, refit, and share of the series backtested (large: as 1,000 of 2,000 series)."""
PHASES = (("backtesting", "backtest"), ("fitting the final", "final fit"), ("logging", "log, register, champion"))


def usage_frame(series: int) -> pd.DataFrame:
    """The scale benchmark's usage (bench.scale) as one frame: date, service, segment, region, count."""
    from bench.scale import usage_blocks

    usage = pd.concat(list(usage_blocks(series)), ignore_index=True)
    return usage.assign(date=pd.to_datetime(usage["date"]), count=usage["count"].astype(float))


def _split(usage: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    cut = usage["date"].max() - pd.Timedelta(days=HELD_OUT_DAYS)
    return usage[usage["date"] <= cut], usage[usage["date"] > cut]


def _held_out_wape(forecaster, train: pd.DataFrame, held: pd.DataFrame, pred: pd.DataFrame | None = None) -> float:
    from features.series import series_frame

    series = series_frame(train)
    if pred is None:
        pred = forecaster.predict(series, None, HELD_OUT_DAYS)
    actual = series_frame(pd.concat([train, held]))
    actual = actual[actual["ds"] > series["ds"].max()][["unique_id", "ds", "y"]]
    both = actual.merge(pred[["unique_id", "ds", "p50"]], on=["unique_id", "ds"], how="left").fillna({"p50": 0.0})
    return float((both["y"] - both["p50"]).abs().sum() / both["y"].sum())


def _reference(usage: pd.DataFrame) -> dict[str, float]:
    import lightgbm as lgb
    from mlforecast import MLForecast

    from features.series import series_frame

    frame = series_frame(usage)[["unique_id", "ds", "y"]]
    mlf = MLForecast(models={"lgbm": lgb.LGBMRegressor(n_estimators=300, verbosity=-1, n_jobs=1, random_state=0)},
                     freq="D", lags=[7, 14, 21, 28], date_features=["dayofweek"])
    start = time.perf_counter()
    mlf.fit(frame)
    return {"seconds": time.perf_counter() - start, "rows": len(frame)}


def _train(kind: str, usage: pd.DataFrame, folder: Path) -> dict[str, float]:
    from training.config import DemandConfig
    from training.demand_training import train_demand
    from training.distributed import dask_engine
    from training.model_format import load_forecaster
    from training.registry import DEMAND_MODEL, configure

    client = configure(f"sqlite:///{folder}/mlruns/mlflow.db")
    windows, refit, share = LAYOUTS[kind]
    n_series = usage.groupby(["service", "segment", "region"]).ngroups
    config = DemandConfig(backtest_windows=windows, backtest_refit=refit,
                          backtest_series=None if share is None else max(1, round(share * n_series)))
    train, held = _split(usage)
    first_days = train[train["date"] <= train["date"].max() - pd.Timedelta(days=7)]
    out: dict[str, float] = {}

    marks: list[tuple[str, float]] = []

    def run(data: pd.DataFrame, dask) -> object:
        marks.clear()
        return train_demand(data, None, client, str(folder / "mlruns"), config, dask=dask,
                            step=lambda msg: marks.append((msg, time.perf_counter())))

    def measured(dask) -> None:
        start = time.perf_counter()
        first = run(first_days, dask)
        out.update(seconds=time.perf_counter() - start, fits=first.fits, wape=first.metrics["wape"])
        ends = [t for _, t in marks[1:]] + [start + out["seconds"]]
        # Seconds per step of the first run: features, backtest, final fit, logging with the champion rule.
        out["phases"] = {}
        for (msg, t), end in zip(marks, ends, strict=True):
            name = next((short for prefix, short in PHASES if msg.startswith(prefix)), "features")
            out["phases"][name] = round(out["phases"].get(name, 0.0) + end - t, 1)
        if kind != "legacy":  # a retrain on 7 new days, the champion in place
            start = time.perf_counter()
            again = run(train, dask)
            out.update(retrain_seconds=time.perf_counter() - start, retrain_fits=again.fits)
            forecaster = load_forecaster(f"models:/{DEMAND_MODEL}/{again.version}").forecaster
            out["held_out_wape"] = _held_out_wape(forecaster, train, held)

    if kind == "dask":
        with dask_engine("local", n_workers=2, threads_per_worker=1, processes=False) as dask:
            measured(dask)
    else:
        measured(None)
    return out


def _whole_command(series: int, folder: Path, profile: bool) -> dict[str, float]:
    """`needcast train --horizon 28` in a child process on an SQLite store holding the usage (ingested first,
    not timed): wall seconds and peak RSS of the whole command (features, backtest, fit, MLflow, registry,
    served forecasts, segments and suggestions; no feedback, so no needs model)."""
    from bench.scale import PeakRss, usage_blocks
    from features.contract import InputLimits, Kind
    from features.ingest import ingest_chunks
    from features.readers import Chunk
    from store.engine import get_engine

    home = folder / "home"
    home.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{home}/needcast.db"
    start = time.perf_counter()
    engine = get_engine(url)
    lifted = InputLimits(new_series_per_batch=10**7, new_series_per_day=10**7)
    report = ingest_chunks(engine, (Chunk(f, 0, 0.0) for f in usage_blocks(series, block_days=56)), Kind.usage,
                           source="bench", limits=lifted)
    engine.dispose()
    ingest_s = time.perf_counter() - start
    env = {**os.environ, "NEEDCAST_HOME": str(home), "NEEDCAST_DATABASE_URL": url,
           "MLFLOW_TRACKING_URI": f"sqlite:///{home}/mlruns/mlflow.db", "PYTHONPATH": str(Path.cwd())}
    env.pop("NEEDCAST_DASK_SCHEDULER", None)
    profiler = ["-m", "cProfile", "-o", str(folder / "train.prof")] if profile else []
    args = [sys.executable, *profiler, "-m", "needcast", "train", "--horizon", str(HELD_OUT_DAYS)]
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = PeakRss(proc.pid)  # not wait4's ru_maxrss: it would carry this process's own peak (bench.scale)
    _, status, _ = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    out, err = proc.stdout.read(), proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"needcast train failed: {err.strip()[-2000:]}")
    fits = _logged_fits(env["MLFLOW_TRACKING_URI"])
    print(out.strip()[-600:], file=sys.stderr)
    return {"seconds": seconds, "command_rss_mib": peak.stop(), "ingest_s": ingest_s,
            "rows": report.accepted, "fits": fits}


def _copy_usage(url: str, series: int, held_out_from: pd.Timestamp) -> tuple[int, pd.DataFrame]:
    """`bench.scale.usage_blocks` into the store's `usage` table by PostgreSQL `COPY` (no ingest: no row hashes,
    no provenance; training reads `usage` alone). Days from `held_out_from` on are kept out and returned."""
    import pyarrow as pa
    from pyarrow import csv
    from sqlalchemy import text

    from bench.scale import usage_blocks
    from store.engine import get_engine

    engine = get_engine(url)  # the schema, as the CLI would create it
    rows, held = 0, []
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            for block in usage_blocks(series, block_days=28):
                late = pd.to_datetime(block["date"]) >= held_out_from
                held.append(block[late])
                block = block[~late]
                buffer = pa.BufferOutputStream()
                csv.write_csv(pa.Table.from_pandas(block, preserve_index=False), buffer,
                              csv.WriteOptions(include_header=False))
                with cursor.copy('COPY usage ("date", service, segment, region, "count") FROM STDIN (FORMAT csv)') \
                        as copy:
                    copy.write(memoryview(buffer.getvalue()))
                rows += len(block)
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as conn:
        conn.execute(text("ANALYZE usage"))
    engine.dispose()
    return rows, pd.concat(held, ignore_index=True)


def _served_wape(url: str, held: pd.DataFrame) -> tuple[float, int]:
    """WAPE of the served p50 over every served series and day against the held-out days (absent: 0 requests),
    and how many series are served."""
    from sqlalchemy import text

    from store.engine import get_engine

    engine = get_engine(url)
    keys = ["service", "segment", "region", "date"]
    with engine.connect() as conn:
        served = pd.DataFrame(conn.execute(text(f"SELECT {', '.join(keys)}, p50 FROM served_forecasts")).all(),
                              columns=[*keys, "p50"])
    engine.dispose()
    served["date"] = pd.to_datetime(served["date"])
    actual = held.assign(date=pd.to_datetime(held["date"]), y=held["count"].astype(float))[[*keys, "y"]]
    both = served.merge(actual, on=keys, how="left").fillna({"y": 0.0})
    missed = len(actual) - int(both["y"].gt(0).sum())  # held-out rows of days or series not served
    if missed:
        print(f"{missed} held-out rows not served", file=sys.stderr)
    return float((both["y"] - both["p50"]).abs().sum() / actual["y"].sum()), served[keys[:3]].drop_duplicates().shape[0]


def _postgres_command(series: int, folder: Path, dask: bool = False) -> dict[str, float]:
    """`needcast train --horizon 28` in a child process on a PostgreSQL store (`tests.postgres.postgres_server`)
    whose `usage` holds the series' 3 years but the last HELD_OUT_DAYS, loaded by `COPY` (not timed with the
    command): wall seconds, peak RSS of the command, load average, and the held-out WAPE of what it served."""
    from bench.scale import END, PeakRss
    from tests.postgres import postgres_server

    home = folder / "home"
    home.mkdir(parents=True, exist_ok=True)
    with postgres_server() as url:
        if url is None:
            raise RuntimeError("PostgreSQL is not installed (initdb/pg_ctl not found)")
        start = time.perf_counter()
        rows, held = _copy_usage(url, series, pd.Timestamp(END) - pd.Timedelta(days=HELD_OUT_DAYS - 1))
        load_s = time.perf_counter() - start
        print(f"{rows:,} usage rows loaded in {load_s:.0f} s", file=sys.stderr, flush=True)
        env = {**os.environ, "NEEDCAST_HOME": str(home), "NEEDCAST_DATABASE_URL": url,
               "MLFLOW_TRACKING_URI": f"sqlite:///{home}/mlruns/mlflow.db", "PYTHONPATH": str(Path.cwd()),
               "NEEDCAST_LOG_LEVEL": "INFO"}
        env.pop("NEEDCAST_DASK_SCHEDULER", None)
        if dask:  # a LocalCluster sized to the machine; its worker processes count in the peak RSS
            env["NEEDCAST_DASK_SCHEDULER"] = "local"
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "needcast", "train", "--horizon", str(HELD_OUT_DAYS)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        peak = PeakRss(proc.pid, tree=dask)
        log_lines = []
        with (folder / "train.log").open("w", encoding="utf-8") as log:
            for line in proc.stdout:  # the command's steps, timed as they come
                log_lines.append(f"{time.perf_counter() - start:7.1f}s {line.rstrip()}")
                print(log_lines[-1], file=log, flush=True)
        status = proc.wait()
        seconds = time.perf_counter() - start
        rss = peak.stop()
        load_after = os.getloadavg()[0]
        if status != 0:
            raise RuntimeError(f"needcast train failed: {log_lines[-20:]}")
        wape, served_series = _served_wape(url, held)
        serving = _serving_start(folder, env)
    return {"seconds": seconds, "command_rss_mib": rss, "load_s": load_s, "rows": rows, "held_out_wape": wape,
            "served_series": served_series, "load_avg": f"{load_before:.1f}-{load_after:.1f}",
            "fits": _logged_fits(env["MLFLOW_TRACKING_URI"]), **serving}


def _serving_start(folder: Path, env: dict[str, str]) -> dict[str, float]:
    """`needcast serve` (one worker) on the trained store: seconds until /readyz answers 200, the first and a
    repeated /v1/forecasts of one service and segment (ms; after a first look-up of a segment's services), and
    the server's peak RSS (MiB) over all of it."""
    import httpx

    from bench.load import KEYS, start_server
    from bench.scale import PeakRss

    env = {**env, "NEEDCAST_API_KEYS": f"{KEYS['planner']}:planner"}
    start = time.perf_counter()
    process, url = start_server(folder, env, None, timeout=1800)
    ready_s = time.perf_counter() - start
    peak = PeakRss(process.pid)
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEYS['planner']}"}, timeout=600) as c:
            segment = c.get("/v1/segments").json()["items"][0]["segment"]
            service = c.get("/v1/forecasts", params={"segment": segment, "horizon": 1}).json()["items"][0]["service"]
            timings = []
            for _ in range(2):
                t0 = time.perf_counter()
                answer = c.get("/v1/forecasts", params={"service": service, "segment": segment})
                timings.append((time.perf_counter() - t0) * 1000)
                answer.raise_for_status()
    finally:
        process.terminate()
        process.wait(timeout=60)
        rss = peak.stop()
    return {"serve_ready_s": ready_s, "first_forecast_ms": timings[0], "again_forecast_ms": timings[1],
            "server_rss_mib": rss}


def _logged_fits(tracking_uri: str) -> int:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    runs = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])
            if "lgbm_fits" in r.data.tags]
    return sum(int(r.data.tags["lgbm_fits"]) for r in runs)


def _compare(usage: pd.DataFrame) -> dict[str, float]:
    """Held-out WAPE of the final fit in this process and on Dask (LocalCluster, 2 workers x 1 thread), same
    frame, same interval calibration (one backtest window in this process), so only the fit differs."""
    from features.series import series_frame
    from training.backtest import run_backtest
    from training.config import DemandConfig
    from training.demand_model import fit_forecaster, model_frame, with_events_in_history
    from training.distributed import dask_engine

    train, held = _split(usage)
    series = series_frame(train)
    config = with_events_in_history(DemandConfig(backtest_windows=1, backtest_refit=False), series, None)
    config = config.for_series(series["unique_id"].nunique())
    frame = model_frame(series, None, config)
    calibration = run_backtest(frame, config).calibration
    out: dict[str, float] = {}
    start = time.perf_counter()
    out["wape_local"] = _held_out_wape(fit_forecaster(frame, config, calibration), train, held)
    out["seconds_local"] = time.perf_counter() - start
    with dask_engine("local", n_workers=2, threads_per_worker=1, processes=False) as dask:
        start = time.perf_counter()
        out["wape_dask"] = _held_out_wape(fit_forecaster(frame, config, calibration, dask), train, held)
        out["seconds_dask"] = time.perf_counter() - start
    out["seconds"] = out["seconds_local"] + out["seconds_dask"]
    return out


def _sampled(usage: pd.DataFrame, folder: Path) -> dict[str, float]:
    """`train_demand` with `max_train_series=SAMPLED_SERIES` (first run), then the forecast of every series from
    its own history, as serving makes it: seconds of each, and the held-out WAPE over all series."""
    from features.series import series_frame
    from training.config import DemandConfig
    from training.demand_training import train_demand
    from training.model_format import load_forecaster
    from training.registry import DEMAND_MODEL, configure

    client = configure(f"sqlite:///{folder}/mlruns/mlflow.db")
    train, held = _split(usage)
    del usage
    start = time.perf_counter()
    run = train_demand(train, None, client, str(folder / "mlruns"), DemandConfig(max_train_series=SAMPLED_SERIES))
    out = {"train_s": time.perf_counter() - start, "fits": run.fits, "wape": run.metrics["wape"]}
    forecaster = load_forecaster(f"models:/{DEMAND_MODEL}/{run.version}").forecaster
    start = time.perf_counter()
    pred = forecaster.predict(series_frame(train), None, HELD_OUT_DAYS)
    out["predict_s"] = time.perf_counter() - start
    out["seconds"] = out["train_s"] + out["predict_s"]
    out["held_out_wape"] = _held_out_wape(forecaster, train, held, pred)
    return out


def child(kind: str, series: int, folder: Path, profile: bool = False) -> None:
    """One measurement in this process; prints its figures as JSON."""
    if kind == "cli":
        print(json.dumps(_whole_command(series, folder, profile)))
        return
    if kind in ("postgres", "postgres-dask"):
        print(json.dumps(_postgres_command(series, folder, dask=kind == "postgres-dask")))
        return
    usage = usage_frame(series)
    figures = (_reference(usage) if kind == "reference" else _compare(usage) if kind == "compare"
               else _sampled(usage, folder) if kind == "sampled" else _train(kind, usage, folder))
    print(json.dumps(figures))


def _run_child(kind: str, series: int, folder: Path, profile: bool = False) -> dict[str, float]:
    from bench.scale import PeakRss

    folder.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "bench.scale_training", "--child", kind, "--series", str(series),
            "--folder", str(folder), *(["--profile", str(folder)] if profile else [])]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    peak = PeakRss(proc.pid)
    _, status, _ = os.wait4(proc.pid, 0)
    rss = peak.stop()
    out, err = proc.stdout.read(), proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{kind} at {series} series failed: {err.strip()[-2000:]}")
    figures = json.loads(out.strip().splitlines()[-1])
    # cli: the command's own peak RSS (its parent only ingested the data).
    return {**figures, "rss_mib": figures.pop("command_rss_mib", rss)}


def train_figures(series: list[int], folder: Path | None = None, kinds: tuple[str, ...] = KINDS,
                  profile: bool = False, reference: bool = True, **_ignored) -> list[dict]:
    """Per series count, one row per kind (reference, legacy, now, dask) with seconds, peak RSS, fits, WAPEs.

    `ratio` is the step's seconds over the reference fit's in the same run.
    """
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="needcast-train-scale-") as tmp:
        base = Path(folder or tmp)
        for n in series:
            results = {}
            for kind in kinds if "reference" in kinds or not reference else ("reference", *kinds):
                results[kind] = _run_child(kind, n, base / f"{kind}-{n}", profile and kind == "cli")
                print(f"{n:,} series, {kind}: {results[kind]}", flush=True)
            ref = results["reference"]["seconds"] if "reference" in results else float("nan")
            for kind, figures in results.items():
                rows.append({"series": n, "kind": kind, **figures, "ratio": figures["seconds"] / ref,
                             **({"retrain_ratio": figures["retrain_seconds"] / ref}
                                if "retrain_seconds" in figures else {})})
    return rows


def training_table(rows: list[dict]) -> str:
    """The rows of `train_figures` as a markdown table."""
    def cell(row: dict, key: str, fmt: str) -> str:
        return format(row[key], fmt) if key in row else "—"

    lines = ["| series | run | seconds | x one fit | LightGBM fits | retrain s (x one fit, fits) | peak RSS MiB | "
             "backtest WAPE | held-out WAPE | first run's steps, s |",
             "|---:|---|---:|---:|---:|---|---:|---:|---:|---|"]
    for r in rows:
        held_out = (f"{r['wape_local']:.4f} single / {r['wape_dask']:.4f} dask" if "wape_dask" in r
                    else cell(r, "held_out_wape", ".4f"))
        retrain = (f"{r['retrain_seconds']:.0f} ({r['retrain_ratio']:.1f}x, {r['retrain_fits']})"
                   if "retrain_seconds" in r else "—")
        if "predict_s" in r:
            r = {**r, "phases": {"train": r["train_s"], "predict all": r["predict_s"]}}
        lines.append(f"| {r['series']:,} | {r['kind']} | {r['seconds']:.0f} | {r['ratio']:.1f}x | "
                     f"{cell(r, 'fits', 'd')} | {retrain} | {r['rss_mib']:,.0f} | {cell(r, 'wape', '.4f')} | "
                     f"{held_out} | "
                     f"{'; '.join(f'{k} {v:.0f}' for k, v in r.get('phases', {}).items()) or '—'} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", default="300,1200")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--no-docs", action="store_true")
    ap.add_argument("--no-reference", action="store_true", help="skip the reference fit (large sizes: minutes)")
    ap.add_argument("--child")
    ap.add_argument("--folder", type=Path)
    ap.add_argument("--profile", type=Path, help="keep the run's folder here, with cProfile of `needcast train`")
    args = ap.parse_args()
    if args.child:
        child(args.child, int(args.series), args.folder, args.profile is not None)
        return 0
    sizes = [int(s) for s in args.series.split(",")]
    rows = train_figures(sizes, args.profile, kinds=tuple(args.kinds.split(",")), profile=args.profile is not None,
                         reference=not args.no_reference)
    table = training_table(rows)
    print(table)
    if not args.no_docs:
        from bench.docs import replace_section

        command = f".venv/bin/python -m bench scale_training --series {args.series} --kinds {args.kinds}"
        replace_section(SECTION, f"""Measured {date.today()} on this machine ({os.cpu_count()} cores, shared) with
`{command}`. Usage as in `## Scale` (N daily series x 3 years, zeros dropped); the last {HELD_OUT_DAYS} days are
held out. "x one fit" is the run's seconds over one plain mlforecast + LightGBM fit of the same series in the
same run (300 trees, lags 7-28, one thread). legacy: 4 refitted backtest windows (the layout before; a retrain
on changed data re-ran the champion's backtest too: 9 fits); now: `DemandConfig.for_series` (the same up to 1,000
series, beyond it 2 windows and one backtest fit), then a retrain on 7 appended days with the champion in
place; dask: the same on a LocalCluster of 2 workers x 1 thread (in-process workers, so the peak RSS is all of
it). Held-out WAPE: the retrained model's p50 on the held-out days.

{table}
""")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
