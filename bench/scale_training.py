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
  (`os.wait4`), full LightGBM fits made, backtest WAPE, and the held-out WAPE of the fitted model on the 28 days
  after the training data (single process vs Dask).
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


def _held_out_wape(forecaster, train: pd.DataFrame, held: pd.DataFrame) -> float:
    from features.series import series_frame

    series = series_frame(train)
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


def child(kind: str, series: int, folder: Path) -> None:
    """One measurement in this process; prints its figures as JSON."""
    usage = usage_frame(series)
    figures = _reference(usage) if kind == "reference" else _train(kind, usage, folder)
    print(json.dumps(figures))


def _run_child(kind: str, series: int, folder: Path) -> dict[str, float]:
    folder.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "bench.scale_training", "--child", kind, "--series", str(series),
            "--folder", str(folder)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    _, status, usage = os.wait4(proc.pid, 0)
    out, err = proc.stdout.read(), proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{kind} at {series} series failed: {err.strip()[-2000:]}")
    return {**json.loads(out.strip().splitlines()[-1]), "rss_mib": usage.ru_maxrss / 1024}


def train_figures(series: list[int], folder: Path | None = None, kinds: tuple[str, ...] = KINDS,
                  **_ignored) -> list[dict]:
    """Per series count, one row per kind (reference, legacy, now, dask) with seconds, peak RSS, fits, WAPEs.

    `ratio` is the step's seconds over the reference fit's in the same run.
    """
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="needcast-train-scale-") as tmp:
        base = Path(folder or tmp)
        for n in series:
            results = {}
            for kind in kinds if "reference" in kinds else ("reference", *kinds):
                results[kind] = _run_child(kind, n, base / f"{kind}-{n}")
                print(f"{n:,} series, {kind}: {results[kind]}", flush=True)
            ref = results["reference"]["seconds"]
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
        retrain = (f"{r['retrain_seconds']:.0f} ({r['retrain_ratio']:.1f}x, {r['retrain_fits']})"
                   if "retrain_seconds" in r else "—")
        lines.append(f"| {r['series']:,} | {r['kind']} | {r['seconds']:.0f} | {r['ratio']:.1f}x | "
                     f"{cell(r, 'fits', 'd')} | {retrain} | {r['rss_mib']:,.0f} | {cell(r, 'wape', '.4f')} | "
                     f"{cell(r, 'held_out_wape', '.4f')} | "
                     f"{'; '.join(f'{k} {v:.0f}' for k, v in r.get('phases', {}).items()) or '—'} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", default="300,1200")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--no-docs", action="store_true")
    ap.add_argument("--child")
    ap.add_argument("--folder", type=Path)
    args = ap.parse_args()
    if args.child:
        child(args.child, int(args.series), args.folder)
        return 0
    sizes = [int(s) for s in args.series.split(",")]
    rows = train_figures(sizes, kinds=tuple(args.kinds.split(",")))
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
