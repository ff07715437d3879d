"""Demand forecasts vs peers, side by side on the same held-out window of real and generated data.

Usage: `.venv/bin/python -m bench.forecast_peers [--cases nyc_daily,nyc_weekly,fms_monthly,sample] [--quick]`.
For each case the peers (seasonal naive, AutoETS, mlforecast + LightGBM) and needcast fit on the history up to
the case's origin and predict its held-out periods in the same run. needcast goes through its own path:
`series_frame` -> `model_frame` -> `run_backtest` -> `fit_forecaster` -> `DemandForecaster.predict`.
Writes one table per case into the section `## Demand forecasts vs peers` of `docs/benchmarks.md` (other
sections are left as they are); `--quick` runs on a subset of series and only prints.
"""

from __future__ import annotations

import argparse
import hashlib
import shlex
import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import pandas as pd

from bench.levels import (
    backtest_coverage,
    case_levels,
    level_case,
    node_case,
    score_level,
    sum_forecast,
    volume_bins,
    zero_share_bins,
)
from bench.peer_cases import CASES, Case, available_cases, case_names
from bench.peers import PEERS, FitStore, PeerResult, run_peer
from bench.reconcile import INTERVAL_METHODS, METHODS, compare_intervals, reconcile_case
from features.series import series_frame
from training.aggregate_intervals import LevelDependence, fit_aggregate_dependence
from training.backtest import run_backtest
from training.config import DemandConfig
from training.demand_model import fit_forecaster, model_frame, with_events_in_history
from training.metrics import forecast_metrics

__all__ = ["needcast_config", "run_case", "run_needcast", "score"]

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Demand forecasts vs peers"
INTRO = (
    "Each table: the peers and needcast fit on the same history and predict the same held-out periods in one run "
    "(`bench/forecast_peers.py`). Peers: seasonal naive; statsforecast's AutoETS, AutoTheta, AutoARIMA and the "
    "median of the three (quantile by quantile); mlforecast + LightGBM with its conformal intervals; "
    "neuralforecast's NHITS (one small network over all series, CPU, 300 steps, multi-quantile loss). Each peer "
    "fits once on every node of the case's hierarchy (its series and their sums: a local model fits each node "
    "alone, a global one learns from all of them) and its seconds are that one fit's; AutoARIMA is restricted to "
    "fit in the run (approximate order search, p and q <= 2; days: the last year; weeks: no seasonal part; "
    "`bench/peers.py`). WAPE is "
    "pooled over series; MASE and the scaled quantile loss (mean of p10, p50, p90) are means over series, scaled "
    "by the in-sample seasonal-naive error. The figure in brackets is the ratio to the best peer on that column "
    "(< 1: needcast is ahead); coverage is the share of actuals inside p10-p90 (nominal 0.80); seconds are fit + "
    "predict (needcast: its backtest, calibration and final fit) with the ratio to mlforecast + LightGBM. "
    "Tables dated 2026-12 were timed on a shared 2-core machine under heavy load from other jobs: compare "
    "seconds within a table only. A fit that `--predictions` kept from an earlier run on the same history is read "
    "back with the seconds of the run that fitted it."
)
LEVELS_SECTION = "## Totals: intervals and accuracy at every level"
LEVELS_INTRO = (
    "Each case's hierarchy, level by level (`bench/forecast_peers.py`, `bench/levels.py`; keys with one value "
    "add no level): the peers of the section above are fitted on each level's summed series themselves (where "
    "the run had peers), needcast sums its bottom-level forecasts (bottom-up, coherent) and combines their "
    "bands with independent errors (the release before) or with the dependence fitted on its backtest's totals "
    "(`training/aggregate_intervals.py`; what `aggregate=true` serves). p10-p90 coverage is nominally 0.80; on "
    "28 held-out days a single total's coverage moves in steps of 0.036 (of 8 weeks: 0.125), so read the "
    "levels with few series together. `--reconcile` adds bottom-up against MinT (shrink) and ERM from "
    "hierarchicalforecast, on base forecasts of needcast's model fitted on every node (`bench/reconcile.py`); "
    "`--intervals` adds the served bands against hierarchicalforecast's probabilistic reconciliation (bootstrap, "
    "conformal, PERMBU) of needcast's served bottom-level forecasts; the volume table splits needcast's "
    "bottom-level series by their mean volume per period. The first row of each table is the bottom level: its "
    "band is the series' own, so both needcast columns show it."
)
NEEDCAST = "needcast"
INDEPENDENT = "needcast, independent errors (before)"
QUICK_SERIES = 30

warnings.filterwarnings("ignore", message="Found null values", module="mlforecast")


@dataclass
class Row:
    """One model's figures on one case."""

    model: str
    metrics: dict[str, float]
    seconds: float
    fit_seconds: float


def needcast_config(case: Case, base: DemandConfig | None = None, threads: int = 1) -> DemandConfig:
    """The default config at the case's frequency and horizon (feedback as the default says, where the case has it)."""
    base = base or DemandConfig()
    lgbm = {**base.lgbm, "n_jobs": threads}
    return replace(base, freq=case.freq, horizon=case.h, use_feedback=base.use_feedback and case.feedback is not None,
                   country=case.country, lgbm=lgbm)


@dataclass
class NeedcastResult(PeerResult):
    """needcast's held-out forecasts (with `mean`) and the dependence of totals fitted on its backtest."""

    dependence: LevelDependence | None = None
    cv: pd.DataFrame | None = None  # the backtest rows (cross-conformal intervals)
    interval: tuple[float, float] = (0.1, 0.9)


def run_needcast(case: Case, config: DemandConfig) -> NeedcastResult:
    """Backtest, calibrate and fit on the history, then predict the held-out periods (the case's events known)."""
    started = time.perf_counter()
    series = series_frame(case.usage, config.freq) if case.usage is not None else case.history
    config = with_events_in_history(config, series, case.events)
    frame = model_frame(series, case.feedback, config, case.events)
    backtest = run_backtest(frame, config)
    forecaster = fit_forecaster(frame, config, backtest.calibration)
    dependence = fit_aggregate_dependence(backtest.cv, config.interval)
    fit_seconds = time.perf_counter() - started
    pred = forecaster.predict(series, case.feedback, case.h, case.events)
    return NeedcastResult(pred[["unique_id", "ds", "p10", "p50", "p90", "mean"]], time.perf_counter() - started,
                          fit_seconds, dependence, backtest.cv, config.interval)


def fit_store(predictions: Path | None, case: Case) -> FitStore | None:
    """Where the case's fits are kept under `--predictions` (none without it)."""
    return FitStore(predictions / case.name / "fits") if predictions is not None else None


def _config_key(case: Case, config: DemandConfig) -> str:
    return f"{case.history_key()}-{hashlib.sha256(repr(config).encode()).hexdigest()[:12]}"


def stored_needcast(case: Case, config: DemandConfig, store: FitStore | None) -> NeedcastResult:
    """`run_needcast`, read from `store` where it holds a fit of the same history and config (and written there)."""
    key = _config_key(case, config)
    if store is not None and (kept := store.load(NEEDCAST, key)) is not None:
        frames, meta = kept
        cv = frames["backtest"]
        return NeedcastResult(frames["pred"], meta["seconds"], meta["fit_seconds"],
                              fit_aggregate_dependence(cv, config.interval), cv, config.interval)
    ours = run_needcast(case, config)
    if store is not None:
        store.save(NEEDCAST, key, {"pred": ours.pred, "backtest": ours.cv}, seconds=ours.seconds,
                   fit_seconds=ours.fit_seconds)
    return ours


def stored_reconcile(case: Case, config: DemandConfig,
                     store: FitStore | None) -> tuple[dict[str, dict[str, float]], float]:
    """`reconcile_case`, read from `store` where it holds one of the same history and config (and written there)."""
    key = _config_key(case, config)
    if store is not None and (kept := store.load("reconciliation", key)) is not None:
        return kept[1]["scores"], kept[1]["seconds"]
    scores, seconds = reconcile_case(case, config)
    if store is not None:
        store.save("reconciliation", key, {}, scores=scores, seconds=seconds)
    return scores, seconds


def score(case: Case, pred: pd.DataFrame) -> dict[str, float]:
    """WAPE, MASE, scaled quantile loss and coverage of held-out predictions against the actuals."""
    rows = case.actual.merge(pred, on=["unique_id", "ds"], how="left")
    if rows["p50"].isna().any():
        raise ValueError(f"{int(rows['p50'].isna().sum())} held-out periods have no prediction")
    rows["cutoff"] = case.cutoff
    return forecast_metrics(rows, case.history, case.season)


def _subset(case: Case, n: int) -> Case:
    """The case on its `n` largest series (for --quick)."""
    return _restrict(case, case.history.groupby("unique_id")["y"].sum().nlargest(n).index)


def _restrict(case: Case, keep: pd.Index) -> Case:
    usage = None
    if case.usage is not None:
        ids = case.history.drop_duplicates("unique_id").set_index("unique_id").loc[keep]
        usage = case.usage.merge(ids[["service", "segment", "region"]], on=["service", "segment", "region"])
    return replace(case, history=case.history[case.history["unique_id"].isin(keep)].reset_index(drop=True),
                   actual=case.actual[case.actual["unique_id"].isin(keep)].reset_index(drop=True), usage=usage)


@dataclass
class CaseResult:
    """Every model's figures on one case: bottom level, each level of totals, and needcast by volume bin."""

    rows: list[Row]
    levels: dict[str, list[Row]] = field(default_factory=dict)
    bins: pd.DataFrame | None = None
    reconciled: dict[str, dict[str, float]] | None = None  # level -> method -> WAPE of the mean
    reconcile_seconds: float = 0.0
    intervals: dict[str, dict[str, dict[str, float]]] | None = None  # level -> interval method -> metrics
    intervals_seconds: float = 0.0


def sample_series(case: Case, n: int, seed: int = 0) -> Case:
    """The case on `n` series drawn at random (a smaller hierarchy of the same shape)."""
    ids = case.history["unique_id"].drop_duplicates().sample(n, random_state=seed)
    return _restrict(case, pd.Index(ids))


def run_case(case: Case, config: DemandConfig, threads: int = 1, peers: list[str] | None = None,
             predictions: Path | None = None, intervals: bool = False) -> CaseResult:
    """Every peer and needcast on one case, at the bottom level and at each level of totals.

    `predictions`: a folder to write every model's held-out predictions of every node into (one CSV per model);
    its `fits` subfolder keeps each fit as it finishes, and a later run on the same history reads them back.
    `intervals`: also needcast's served bands against hierarchicalforecast's probabilistic reconciliation.
    """
    peers = list(PEERS) if peers is None else peers
    levels = case_levels(case)
    nodes, node_ids = node_case(case, levels)
    store = fit_store(predictions, case)
    fitted = {}  # each peer fits once on every node; its seconds are that one fit's
    rows = []
    for name in peers:
        fitted[name] = run_peer(name, nodes, threads, store)
        bottom = fitted[name].pred[fitted[name].pred["unique_id"].isin(node_ids[levels[0].name])]
        rows.append(Row(name, score(case, bottom), fitted[name].seconds, fitted[name].fit_seconds))
        print(f"  {name}: {_brief(rows[-1])}", file=sys.stderr)
    ours = stored_needcast(case, config, store)
    rows.append(Row(NEEDCAST, score(case, ours.pred), ours.seconds, ours.fit_seconds))
    print(f"  {NEEDCAST}: {_brief(rows[-1])}", file=sys.stderr)
    bins = [volume_bins(case, ours.pred, ours.cv), zero_share_bins(case, ours.pred, ours.cv)]
    if predictions is not None:
        _write_predictions(predictions / case.name, case, levels, fitted, ours)
    out = CaseResult(rows, bins=pd.concat(bins, ignore_index=True))
    if intervals:
        out.intervals, out.intervals_seconds = compare_intervals(case, ours.pred, ours.cv, ours.dependence,
                                                                 ours.interval)
    for level in levels:  # the bottom level too: its band is its own at any dependence
        on_level = level_case(case, level)
        level_rows = []
        for name in peers:
            result = fitted[name]
            pred = result.pred[result.pred["unique_id"].isin(node_ids[level.name])]
            level_rows.append(Row(name, score_level(on_level, pred), result.seconds, result.fit_seconds))
        backtest = backtest_coverage(case, ours.cv, level, ours.interval)
        for (label, dependence), cov in zip(((INDEPENDENT, None), (NEEDCAST, ours.dependence)), backtest, strict=True):
            summed = sum_forecast(case, ours.pred, level, dependence)
            metrics = {**score_level(on_level, summed), "backtest_coverage": cov["pooled"],
                       "backtest_low": cov["low"], "backtest_high": cov["high"]}
            level_rows.append(Row(label, metrics, ours.seconds, ours.fit_seconds))
        out.levels[level.name] = level_rows
        print(f"  level {level.name}: " + "; ".join(f"{r.model} {_brief(r)}" for r in level_rows), file=sys.stderr)
    return out


def _write_predictions(folder: Path, case: Case, levels: list, fitted: dict[str, PeerResult],
                       ours: NeedcastResult) -> None:
    """Held-out predictions of every node: the peers' own, needcast's summed with its fitted dependence."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, result in fitted.items():
        result.pred.to_csv(folder / f"{name}.csv", index=False)
    summed = pd.concat([sum_forecast(case, ours.pred, level, ours.dependence) for level in levels], ignore_index=True)
    summed.to_csv(folder / f"{NEEDCAST}.csv", index=False)
    pd.concat([level_case(case, level).actual for level in levels]).to_csv(folder / "actual.csv", index=False)


def _brief(row: Row) -> str:
    m = row.metrics
    return (f"WAPE {m['wape']:.3f} MASE {m['mase']:.3f} SQL {m['scaled_quantile_loss']:.3f} "
            f"cov {m['coverage']:.2f} {row.seconds:.1f}s")


def table(case: Case, result: CaseResult, command: str, note: str = "") -> str:
    """The markdown subsection of one case."""
    rows = result.rows
    peers = [r for r in rows if r.model != NEEDCAST] or rows
    best = {k: min(r.metrics[k] for r in peers) for k in ("wape", "mase", "scaled_quantile_loss")}
    mlf = next((r for r in peers if r.model.startswith("mlforecast")), rows[-1])
    lines = [
        f"### {case.name}", "",
        f"{case.source}; {case.history['unique_id'].nunique()} series{note}, origin {case.cutoff.date()}.", "",
        f"`{command}` — {date.today().isoformat()}", "",
        "| model | WAPE | MASE | scaled quantile loss | p10-p90 coverage | fit+predict s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [f"{r.metrics[k]:.3f} ({r.metrics[k] / best[k]:.2f}x)" for k in best]
        name = f"**{r.model}**" if r.model == NEEDCAST else r.model
        lines.append(f"| {name} | {' | '.join(cells)} | {r.metrics['coverage']:.2f} | "
                     f"{r.seconds:.1f} ({r.seconds / mlf.seconds:.1f}x) |")
    ours = rows[-1]
    lines += ["", f"needcast training (backtest + calibration + final fit) took {ours.fit_seconds:.1f} s, "
              f"{ours.fit_seconds / mlf.fit_seconds:.1f}x mlforecast's fit with its conformal windows "
              f"({mlf.fit_seconds:.1f} s).", ""]
    return "\n".join(lines)


def levels_table(case: Case, result: CaseResult, command: str, note: str = "") -> str:
    """The markdown subsection of one case in the section of totals: levels, reconciliation, volume bins."""
    head = [f"### {case.name}", "",
            f"{case.source}; {case.history['unique_id'].nunique()} series{note}, origin {case.cutoff.date()}.", "",
            f"`{command}` — {date.today().isoformat()}", ""]
    return "\n".join(head + _level_lines(result) + _reconcile_lines(result) + _interval_lines(result)
                     + _bin_lines(result))


def _interval_lines(result: CaseResult) -> list[str]:
    if not result.intervals:
        return []
    lines = [f"Probabilistic reconciliation (`--intervals`, {result.intervals_seconds:.0f} s): needcast's bottom-level "
             "forecasts summed bottom-up, with the served bands (dependence fitted on the backtest's totals) or "
             "hierarchicalforecast's BottomUp with " + ", ".join(INTERVAL_METHODS) + " intervals over the same "
             "backtest rows (PERMBU: strict chains of levels only); held out: WAPE of p50 | SQL | cov | width; "
             "backtest cov: each window with the other windows' rows, pooled.", "",
             "| level | method | WAPE | SQL | cov | width | backtest cov |", "|---" * 7 + "|"]
    for level, by_method in result.intervals.items():
        for method, m in by_method.items():
            lines.append(f"| {level} | {method} | {_cells(m)} | {m['backtest_coverage']:.2f} |")
    return [*lines, ""]


def _reconcile_lines(result: CaseResult) -> list[str]:
    if not result.reconciled:
        return []
    lines = [f"Reconciliation (`--reconcile`, {result.reconcile_seconds:.0f} s): WAPE of the held-out mean per level.",
             "", "| level | " + " | ".join(METHODS) + " |", "|---" * (len(METHODS) + 1) + "|"]
    for level, by_method in result.reconciled.items():
        lines.append(f"| {level} | " + " | ".join(f"{by_method[m]:.3f}" for m in METHODS) + " |")
    return [*lines, ""]


def _cells(m: dict[str, float]) -> str:
    return f"{m['wape']:.3f} | {m['scaled_quantile_loss']:.3f} | {m['coverage']:.2f} | {m['width']:.1f}"


def _level_lines(result: CaseResult) -> list[str]:
    """Per level of totals: the best peer fitted on the totals, needcast's sums before and now."""
    if not result.levels:
        return []
    lines = ["WAPE | scaled quantile loss (SQL) | p10-p90 coverage of the held-out periods | mean band width; "
             "backtest cov: cross-conformal coverage of the level's totals over the backtest windows (each "
             "window's dependence fitted on the other windows; in brackets the lowest and highest single window). "
             "needcast's held-out cov is followed by the shares of actuals below p10 / above p90 (nominal 0.10 "
             "each; a count total that is 0 on over 10% of periods has p10 = 0 and no miss below).", "",
             "| level | series | best peer on WAPE | WAPE | SQL | cov | width | needcast, independent errors "
             "(before): cov | width | backtest cov | **needcast**: WAPE (x best peer) | SQL | cov | width | "
             "backtest cov |", "|---" * 15 + "|"]
    for level, rows in result.levels.items():
        peers = [r for r in rows if r.model not in (NEEDCAST, INDEPENDENT)]
        before = next(r for r in rows if r.model == INDEPENDENT).metrics
        now = next(r for r in rows if r.model == NEEDCAST).metrics
        best = min(peers, key=lambda r: r.metrics["wape"]) if peers else None
        peer_cells = f"{best.model} | {_cells(best.metrics)}" if best else "- | - | - | - | -"
        ratio = f" ({now['wape'] / best.metrics['wape']:.2f}x)" if best else ""
        lines.append(f"| {level} | {int(now['series'])} | {peer_cells} | "
                     f"{before['coverage']:.2f} | {before['width']:.1f} | {before['backtest_coverage']:.2f} | "
                     f"{now['wape']:.3f}{ratio} | "
                     f"{now['scaled_quantile_loss']:.3f} | {now['coverage']:.2f} "
                     f"({now['below']:.2f} / {now['above']:.2f}) | {now['width']:.1f} | "
                     f"{now['backtest_coverage']:.2f} ({now['backtest_low']:.2f}-{now['backtest_high']:.2f}) |")
    return [*lines, ""]


def _bin_lines(result: CaseResult) -> list[str]:
    if result.bins is None:
        return []
    lines = ["needcast's series by mean volume per period over the history, then by their share of periods "
             "with 0 over the last year (held out; backtest: cross-conformal over the backtest windows):", "",
             "| bin | series | p10-p90 coverage | backtest coverage | WAPE |", "|---|---|---|---|---|"]
    for b in result.bins.itertuples(index=False):
        if b.series:
            lines.append(f"| {b.bin} | {b.series} | {b.coverage:.2f} | {b.backtest_coverage:.2f} | {b.wape:.3f} |")
    return [*lines, ""]


def _subsections(body: str) -> tuple[list[str], dict[str, str]]:
    """The `### name` subsections of a section body, in order."""
    order, parts, current = [], {}, None
    for line in body.splitlines():
        if line.startswith("### "):
            current = line[4:].strip()
            order.append(current)
            parts[current] = []
        if current is not None:
            parts[current].append(line)
    return order, {k: "\n".join(v).rstrip() + "\n" for k, v in parts.items()}


def write_section(tables: dict[str, str], path: Path = DOCS, heading: str = SECTION, intro: str = INTRO) -> None:
    """Replace the given cases' subsections in a section; keep the rest of the file and of the section."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = text.find(f"\n{heading}\n")
    if start < 0:
        before, body, after = text.rstrip() + "\n", "", ""
    else:
        before = text[: start + 1]
        rest = text[start + 1 + len(heading) + 1:]
        end = rest.find("\n## ")
        body, after = (rest, "") if end < 0 else (rest[: end + 1], rest[end + 1:])
    order, parts = _subsections(body)
    parts.update(tables)
    names = [n for n in CASES if n in parts] + [n for n in dict.fromkeys(order) if n not in CASES]
    section = "\n".join([heading, "", intro, "", *[parts[n] for n in names]])
    path.parent.mkdir(parents=True, exist_ok=True)
    text = f"{before.rstrip()}\n\n{section.rstrip()}\n" + (f"\n{after.lstrip()}" if after else "")
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated: " + ", ".join(CASES))
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SERIES} largest series per case; print only")
    parser.add_argument("--threads", type=int, default=1,
                        help="LightGBM threads of every model (more thrash on a shared machine)")
    parser.add_argument("--series", type=int, default=0, help="a random sample of this many series per case (0: all)")
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated (none: needcast alone): "
                        + ", ".join(PEERS))
    parser.add_argument("--reconcile", action="store_true",
                        help="also bottom-up vs MinT shrink and ERM (hierarchicalforecast) on every level")
    parser.add_argument("--intervals", action="store_true", help="also the served bands of totals vs "
                        "hierarchicalforecast's bootstrap, conformal and PERMBU reconciliation")
    parser.add_argument("--print-only", action="store_true", help="print the tables, leave docs/benchmarks.md")
    parser.add_argument("--predictions", type=Path, help="write every model's held-out predictions of every node "
                        "here; fits kept there from an earlier run on the same history are read, not refitted")
    args = parser.parse_args(argv)
    peers = [p.strip() for p in args.peers.split(",") if p.strip() and p.strip() != "none"]
    if unknown := [p for p in peers if p not in PEERS]:
        parser.error(f"unknown peer(s) {', '.join(unknown)}")
    command = ".venv/bin/python -m bench.forecast_peers " + shlex.join(argv if argv is not None else sys.argv[1:])
    try:
        names = case_names(args.cases)
    except ValueError as exc:
        parser.error(str(exc))
    tables, totals = {}, {}
    for case in available_cases(names):
        name = case.name
        note = ""
        if args.quick:
            case = _subset(case, QUICK_SERIES)
        elif args.series and case.history["unique_id"].nunique() > args.series:
            note = f" (a random sample of {args.series} of {case.history['unique_id'].nunique()}, seed 0)"
            case = sample_series(case, args.series)
        print(f"{name}: {case.history['unique_id'].nunique()} series, h={case.h}", file=sys.stderr)
        config = needcast_config(case, threads=args.threads)
        result = run_case(case, config, args.threads, peers, args.predictions, args.intervals)
        if args.reconcile:
            result.reconciled, result.reconcile_seconds = stored_reconcile(case, config,
                                                                           fit_store(args.predictions, case))
        if peers:  # the section of peers keeps its tables where this run fitted none
            tables[name] = table(case, result, command.strip(), note)
            print(tables[name])
        totals[name] = levels_table(case, result, command.strip(), note)
        print(totals[name])
    if not args.quick and not args.print_only:
        if tables:
            write_section(tables)
        if totals:
            write_section(totals, heading=LEVELS_SECTION, intro=LEVELS_INTRO)
        print(f"wrote {len(tables) + len(totals)} table(s) to {DOCS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
