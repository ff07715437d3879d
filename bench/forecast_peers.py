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
import sys
import time
import warnings
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import pandas as pd

from bench.peer_cases import CASES, Case, CaseUnavailable, load_case
from bench.peers import PEERS, PeerResult, run_peer
from features.series import series_frame
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
    "(`bench/forecast_peers.py`). WAPE is pooled over series; MASE and the scaled quantile loss (mean of p10, p50, "
    "p90) are means over series, scaled by the in-sample seasonal-naive error. The figure in brackets is the ratio "
    "to the best peer on that column (< 1: needcast is ahead); coverage is the share of actuals inside p10-p90 "
    "(nominal 0.80); seconds are fit + predict (needcast: its backtest, calibration and final fit) with the "
    "ratio to mlforecast + LightGBM."
)
NEEDCAST = "needcast"
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


def run_needcast(case: Case, config: DemandConfig) -> PeerResult:
    """Backtest, calibrate and fit on the history, then predict the held-out periods (the case's events known)."""
    started = time.perf_counter()
    series = series_frame(case.usage, config.freq) if case.usage is not None else case.history
    config = with_events_in_history(config, series, case.events)
    frame = model_frame(series, case.feedback, config, case.events)
    backtest = run_backtest(frame, config)
    forecaster = fit_forecaster(frame, config, backtest.calibration)
    fit_seconds = time.perf_counter() - started
    pred = forecaster.predict(series, case.feedback, case.h, case.events)
    return PeerResult(pred[["unique_id", "ds", "p10", "p50", "p90"]], time.perf_counter() - started, fit_seconds)


def score(case: Case, pred: pd.DataFrame) -> dict[str, float]:
    """WAPE, MASE, scaled quantile loss and coverage of held-out predictions against the actuals."""
    rows = case.actual.merge(pred, on=["unique_id", "ds"], how="left")
    if rows["p50"].isna().any():
        raise ValueError(f"{int(rows['p50'].isna().sum())} held-out periods have no prediction")
    rows["cutoff"] = case.cutoff
    return forecast_metrics(rows, case.history, case.season)


def _subset(case: Case, n: int) -> Case:
    """The case on its `n` largest series (for --quick)."""
    keep = case.history.groupby("unique_id")["y"].sum().nlargest(n).index
    usage = None
    if case.usage is not None:
        ids = case.history.drop_duplicates("unique_id").set_index("unique_id").loc[keep]
        usage = case.usage.merge(ids[["service", "segment", "region"]], on=["service", "segment", "region"])
    return replace(case, history=case.history[case.history["unique_id"].isin(keep)].reset_index(drop=True),
                   actual=case.actual[case.actual["unique_id"].isin(keep)].reset_index(drop=True), usage=usage)


def run_case(case: Case, config: DemandConfig, threads: int = 1) -> list[Row]:
    """Every peer and needcast on one case, in this order."""
    rows = []
    for name in PEERS:
        result = run_peer(name, case, threads)
        rows.append(Row(name, score(case, result.pred), result.seconds, result.fit_seconds))
        print(f"  {name}: {_brief(rows[-1])}", file=sys.stderr)
    result = run_needcast(case, config)
    rows.append(Row(NEEDCAST, score(case, result.pred), result.seconds, result.fit_seconds))
    print(f"  {NEEDCAST}: {_brief(rows[-1])}", file=sys.stderr)
    return rows


def _brief(row: Row) -> str:
    m = row.metrics
    return (f"WAPE {m['wape']:.3f} MASE {m['mase']:.3f} SQL {m['scaled_quantile_loss']:.3f} "
            f"cov {m['coverage']:.2f} {row.seconds:.1f}s")


def table(case: Case, rows: list[Row], command: str) -> str:
    """The markdown subsection of one case."""
    peers = [r for r in rows if r.model != NEEDCAST]
    best = {k: min(r.metrics[k] for r in peers) for k in ("wape", "mase", "scaled_quantile_loss")}
    mlf = next(r for r in peers if r.model.startswith("mlforecast"))
    lines = [
        f"### {case.name}", "",
        f"{case.source}; {case.history['unique_id'].nunique()} series, origin {case.cutoff.date()}.", "",
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


def write_section(tables: dict[str, str], path: Path = DOCS) -> None:
    """Replace the given cases' subsections in our section; keep the rest of the file and of the section."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = text.find(f"\n{SECTION}\n")
    if start < 0:
        before, body, after = text.rstrip() + "\n", "", ""
    else:
        before = text[: start + 1]
        rest = text[start + 1 + len(SECTION) + 1:]
        end = rest.find("\n## ")
        body, after = (rest, "") if end < 0 else (rest[: end + 1], rest[end + 1:])
    order, parts = _subsections(body)
    parts.update(tables)
    names = [n for n in CASES if n in parts] + [n for n in order if n not in CASES]
    section = "\n".join([SECTION, "", INTRO, "", *[parts[n] for n in names]])
    path.parent.mkdir(parents=True, exist_ok=True)
    text = f"{before.rstrip()}\n\n{section.rstrip()}\n" + (f"\n{after.lstrip()}" if after else "")
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated: " + ", ".join(CASES))
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SERIES} largest series per case; print only")
    parser.add_argument("--threads", type=int, default=1,
                        help="LightGBM threads of every model (more thrash on a shared machine)")
    args = parser.parse_args(argv)
    command = ".venv/bin/python -m bench.forecast_peers " + " ".join(argv if argv is not None else sys.argv[1:])
    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    if unknown := [n for n in names if n not in CASES]:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    tables = {}
    for name in names:
        try:
            case = load_case(name)
        except CaseUnavailable as exc:
            print(f"skipping {name}: {exc}", file=sys.stderr)
            continue
        if args.quick:
            case = _subset(case, QUICK_SERIES)
        print(f"{name}: {case.history['unique_id'].nunique()} series, h={case.h}", file=sys.stderr)
        rows = run_case(case, needcast_config(case, threads=args.threads), args.threads)
        tables[name] = table(case, rows, command.strip())
        print(tables[name])
    if tables and not args.quick:
        write_section(tables)
        print(f"wrote {len(tables)} table(s) to {DOCS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
