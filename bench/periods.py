"""Daily forecasts summed to weeks and months: held-out p10-p90 coverage of the period bands that `period=` serves.

`python -m bench periods [--cases sample_seed11,alt_seed7] [--horizons 28,62] [--write]`

Per case: needcast's backtest, calibration and final fit (`bench.forecast_peers.run_needcast`), then the bands
of period sums three ways: with the dependence of days fitted on the backtest (`training/period_intervals.py`,
what the API serves), as independent days (kappa 0) and as summed daily quantiles (kappa 1). Two held-out
measures: cross-conformal over the backtest windows (each window's sums banded with the dependence fitted on
the other windows: many sums none of which the fit saw) and the case's own held-out days after its cutoff
(one window: few sums, correlated; read with care). Levels: the bottom series and the grand total.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from bench.docs import replace_section
from bench.forecast_peers import needcast_config, run_needcast
from bench.peer_cases import load_case, load_world, world_case
from features.contract import SERIES_KEY
from features.series import PERIODS, split_series_id, to_period_start
from forecast.aggregate import ALL, aggregate
from forecast.periods import to_periods
from training.aggregate_intervals import fit_aggregate_dependence
from training.period_intervals import fit_period_dependence

SECTION = "## Sums over weeks and months: interval coverage"
METHODS = ("fitted", "independent", "summed quantiles")
LEVELS = {"bottom": list(SERIES_KEY), "total": []}


def _keyed(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.reset_index(drop=True)
    keys = split_series_id(rows["unique_id"].astype(str))
    return pd.concat([keys, rows.drop(columns="unique_id").rename(columns={"ds": "date"})], axis=1)


def _fixed(code: str, kappa: float) -> list[dict]:
    return [{"period": code, "summed": s, "kappa_lo": kappa, "kappa_hi": kappa, "rows": 0}
            for s in ([], ["service", "segment", "region"])]


def _inside(pred: pd.DataFrame, actual: pd.DataFrame, period: str, dependence: list[dict], agg: list[dict],
            level: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per method: (actual inside the band, band width, partial) of each period sum of `pred` (keys, date, p..)."""
    keep = LEVELS[level]
    summed = [k for k in SERIES_KEY if k not in keep]
    rows = aggregate(pred, keep, agg) if summed else pred
    truth = actual.assign(date=to_period_start(actual["date"], PERIODS[period]), **{k: ALL for k in summed})
    truth = truth.groupby([*SERIES_KEY, "date"], as_index=False)["y"].sum()
    out = {}
    for method, table in (("fitted", dependence), ("independent", _fixed(PERIODS[period], 0.0)),
                          ("summed quantiles", _fixed(PERIODS[period], 1.0))):
        band = to_periods(rows, period, "D", table, summed).merge(truth, on=[*SERIES_KEY, "date"])
        out[method] = (((band["y"] >= band["p10"]) & (band["y"] <= band["p90"])).to_numpy(),
                       (band["p90"] - band["p10"]).to_numpy(), band["partial"].to_numpy())
    return out


def _table(results: dict[tuple[str, str], dict[str, list]]) -> list[str]:
    lines = ["| level | period | sums (partial) | coverage: fitted | independent | summed quantiles | "
             "width vs fitted: independent | summed quantiles |", "|---|---|---|---|---|---|---|---|"]
    for (level, period), by_method in results.items():
        cov = {m: np.concatenate([x[0] for x in by_method[m]]) for m in METHODS}
        width = {m: np.concatenate([x[1] for x in by_method[m]]) for m in METHODS}
        partial = np.concatenate([x[2] for x in by_method["fitted"]])
        ratio = {m: np.median(width[m] / np.maximum(width["fitted"], 1e-9)) for m in METHODS}
        lines.append(f"| {level} | {period} | {len(partial)} ({int(partial.sum())}) | {cov['fitted'].mean():.3f} | "
                     f"{cov['independent'].mean():.3f} | {cov['summed quantiles'].mean():.3f} | "
                     f"{ratio['independent']:.2f} | {ratio['summed quantiles']:.2f} |")
    return lines


def run_case(name: str, horizon: int) -> tuple[str, float]:
    """The markdown of one case and its seconds."""
    started = time.perf_counter()
    case = load_case(name)
    if horizon != case.h:
        world = {"sample": ("sample", 7), "sample_seed11": ("sample", 11), "alt_seed7": ("alt", 7)}[name]
        source = case.source.replace(f"{case.h} held-out days", f"{horizon} held-out days")
        case = world_case(name, load_world(*world), source, h=horizon)
    result = run_needcast(case, needcast_config(case))
    cv, interval = result.cv, result.interval
    periods = ("week", "month")
    cross: dict[tuple[str, str], dict[str, list]] = {(lv, p): {m: [] for m in METHODS} for lv in LEVELS
                                                     for p in periods}
    for cutoff in cv["cutoff"].unique():
        others, held = cv[cv["cutoff"] != cutoff], cv[cv["cutoff"] == cutoff]
        agg = fit_aggregate_dependence(others, interval)
        dependence = fit_period_dependence(others, "D", interval, agg)
        rows = _keyed(held[["unique_id", "ds", "p10", "p50", "p90", "mean"]])
        actual = _keyed(held[["unique_id", "ds", "y"]])
        for (level, period), acc in cross.items():
            for method, value in _inside(rows, actual, period, dependence, agg, level).items():
                acc[method].append(value)
    agg = fit_aggregate_dependence(cv, interval)
    dependence = fit_period_dependence(cv, "D", interval, agg)
    pred = _keyed(result.pred[["unique_id", "ds", "p10", "p50", "p90", "mean"]])
    actual = _keyed(case.actual[["unique_id", "ds", "y"]])
    future = {(lv, p): {m: [v] for m, v in _inside(pred, actual, p, dependence, agg, lv).items()}
              for lv in LEVELS for p in periods}
    kappas = ", ".join(f"{r['period']} {r['kappa_lo']:.2f}/{r['kappa_hi']:.2f}" for r in dependence
                       if not r["summed"])
    seconds = time.perf_counter() - started
    body = [f"### {name}, horizon {horizon} days", "", f"{case.source}; {cv['cutoff'].nunique()} backtest windows; "
            f"bottom-level kappa (lower/upper) fitted on all of them: {kappas}.", "",
            "Cross-conformal over the backtest windows:", "", *_table(cross), "",
            f"The held-out {horizon} days after {case.cutoff.date()}:", "", *_table(future), ""]
    return "\n".join(body), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="sample_seed11,alt_seed7")
    parser.add_argument("--horizons", default="28,62", help="forecast horizons in days (62: whole months too)")
    parser.add_argument("--write", action="store_true", help=f"write the `{SECTION}` section of docs/benchmarks.md")
    args = parser.parse_args()
    parts = []
    for horizon in (int(h) for h in args.horizons.split(",")):
        for name in args.cases.split(","):
            text, seconds = run_case(name, horizon)
            print(text, f"({seconds:.0f}s)", sep="\n", flush=True)
            parts.append(text)
    load = os.getloadavg()[0]
    command = f"python -m bench periods --cases {args.cases} --horizons {args.horizons} --write"
    intro = (f"`{command}` (`bench/periods.py`; load average {load:.1f}). Daily forecasts summed to ISO weeks and "
             "calendar months as `GET /v1/forecasts?period=` serves them: the mean adds up the days' means; the "
             "p10-p90 band combines the days' half-widths with a dependence factor kappa per period kind and level, "
             "fitted by split conformal on the backtest's own period sums (`training/period_intervals.py`), against "
             "independent days (kappa 0) and the summed daily quantiles (kappa 1). Nominal coverage 0.80. Sums the "
             "forecast covers only in part (edges of a window: with 28 days every month) count as partial, as "
             "served; with 62 days some months are whole. Width ratios are medians over sums (> 1: wider than the "
             "fitted band).")
    if args.write:
        replace_section(SECTION, "\n\n".join([intro, *parts]))
        print(f"wrote {SECTION} to docs/benchmarks.md")


if __name__ == "__main__":
    main()
