"""Held-out accuracy and p10-p90 coverage at every level, pooled over successive forecast origins.

Usage: `.venv/bin/python -m bench rolling_origins [--cases ...] [--origins 8] [--peers ...] [--predictions DIR]`.
One held-out window is a small sample of a total: 28 days move its coverage in steps of 0.036, 8 weeks in
steps of 0.125 (no count of 8 lies in [0.76, 0.86]). Here each case is cut at its origin and at `--origins - 1`
earlier ones, `h` periods apart (`bench.peer_cases.earlier`), so the held-out windows follow each other
without overlap; needcast (and any `--peers`) fits on the history before each origin only and predicts its
window, exactly as in `bench.forecast_peers`. Per level: WAPE and coverage pooled over all windows, the
scaled quantile loss as the mean of the windows', and the lowest and highest single window's coverage.
Writes the section `## Totals over successive origins` of `docs/benchmarks.md` (`--print-only`: print only).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from bench.forecast_peers import DOCS, NEEDCAST, needcast_config, stored_needcast, write_section
from bench.levels import (
    bin_summary,
    binned_rows,
    case_levels,
    history_bin_of,
    level_case,
    node_case,
    score_level,
    sum_forecast,
    volume_bin_of,
    zero_share_bin_of,
)
from bench.peer_cases import CASES, Case, available_cases, case_names, earlier, shortened
from bench.peers import PEERS, FitStore, run_peer
from training.config import DemandConfig

__all__ = ["RollingResult", "level_figures", "rolling_case"]

BINS = {"volume": volume_bin_of, "zeros": zero_share_bin_of, "history": history_bin_of}

SECTION = "## Totals over successive origins"
INTRO = (
    "`bench/rolling_origins.py`: each case's origin and the earlier ones `h` periods apart, so the held-out "
    "windows follow each other without overlap (the last one is the window of the tables above); needcast "
    "fits on the history before each origin only (its backtest, calibration and dependence of totals included) "
    "and serves every level as `aggregate=true` does (bottom-up, bands with the fitted dependence). Coverage "
    "and WAPE are pooled over all held-out periods of all windows, SQL (scaled quantile loss) is the mean of "
    "the windows'; the range is the lowest and highest single window's coverage; below / above: the shares of "
    "actuals under p10 and over p90 (nominal 0.10 each). Peers, where the run had them, fit on every node at "
    "each origin (or at the latest `--peer-origins`) as in the section of peers; their WAPE is pooled the same "
    "way, and the ratio is needcast's WAPE over the peers' origins to the best peer's."
)


@dataclass
class RollingResult:
    """Per level, needcast's and each peer's held-out rows of every origin; the origins; seconds."""

    origins: list[pd.Timestamp]
    levels: dict[str, dict[str, list[pd.DataFrame]]] = field(default_factory=dict)  # level -> model -> rows
    sql: dict[str, list[float]] = field(default_factory=dict)  # level -> needcast's SQL per origin
    bins: dict[str, list[pd.DataFrame]] = field(default_factory=dict)  # kind -> needcast's bottom rows, binned
    seconds: float = 0.0  # needcast's fits and predictions over all origins (as fitted, where read back)


def rolling_case(case: Case, origins: int, threads: int = 1, peers: list[str] | None = None,
                 predictions: Path | None = None, base: DemandConfig | None = None,
                 peer_origins: int | None = None) -> RollingResult:
    """needcast at `origins` successive origins of the case, latest first, and `peers` at the first
    `peer_origins` of them (default: all); `base`: needcast's config."""
    config = needcast_config(case, base, threads=threads)
    levels = case_levels(case)
    out = RollingResult([])
    for k in range(origins):
        at = earlier(case, k * case.h)
        out.origins.append(at.cutoff)
        store = FitStore(predictions / case.name / f"origin-{k}") if predictions is not None else None
        ours = stored_needcast(at, config, store)
        out.seconds += ours.seconds
        held = at.actual.merge(ours.pred, on=["unique_id", "ds"])
        for kind, of in BINS.items():
            out.bins.setdefault(kind, []).append(binned_rows(held, of(at)))
        with_peers = bool(peers) and k < (origins if peer_origins is None else peer_origins)
        nodes, node_ids = node_case(at, levels) if with_peers else (None, {})
        fitted = {name: run_peer(name, nodes, threads, store) for name in peers or []} if with_peers else {}
        for level in levels:
            on_level = level_case(at, level)
            summed = sum_forecast(at, ours.pred, level, ours.dependence)
            rows = out.levels.setdefault(level.name, {})
            rows.setdefault(NEEDCAST, []).append(_held(on_level, summed))
            out.sql.setdefault(level.name, []).append(score_level(on_level, summed)["scaled_quantile_loss"])
            for name, result in fitted.items():
                pred = result.pred[result.pred["unique_id"].isin(node_ids[level.name])]
                rows.setdefault(name, []).append(_held(on_level, pred))
        cov = {name: _coverage(rows[NEEDCAST][-1]) for name, rows in out.levels.items()}
        print(f"  origin {at.cutoff.date()}: " + ", ".join(f"{n} {c:.2f}" for n, c in cov.items()), file=sys.stderr)
    return out


def _held(on_level: Case, pred: pd.DataFrame) -> pd.DataFrame:
    rows = on_level.actual.merge(pred, on=["unique_id", "ds"], how="left")
    if rows["p50"].isna().any():
        raise ValueError(f"{on_level.name}: {int(rows['p50'].isna().sum())} held-out periods have no prediction")
    return rows[["unique_id", "ds", "y", "p10", "p50", "p90"]]


def _coverage(rows: pd.DataFrame) -> float:
    return float(((rows["y"] >= rows["p10"]) & (rows["y"] <= rows["p90"])).mean())


def _wape(rows: pd.DataFrame) -> float:
    return float((rows["y"] - rows["p50"]).abs().sum() / rows["y"].abs().sum())


def level_figures(result: RollingResult) -> pd.DataFrame:
    """One row per level: needcast's pooled figures; the best peer's pooled WAPE and needcast's on its origins."""
    out = []
    for level, by_model in result.levels.items():
        ours = pd.concat(by_model[NEEDCAST], ignore_index=True)
        windows = [_coverage(rows) for rows in by_model[NEEDCAST]]
        peers = {name: _wape(pd.concat(parts)) for name, parts in by_model.items() if name != NEEDCAST}
        best = min(peers, key=peers.get) if peers else None
        peer_windows = len(by_model[best]) if best else 0
        out.append({"level": level, "series": by_model[NEEDCAST][0]["unique_id"].nunique(), "periods": len(ours),
                    "wape": _wape(ours), "sql": float(np.mean(result.sql[level])), "coverage": _coverage(ours),
                    "below": float((ours["y"] < ours["p10"]).mean()), "above": float((ours["y"] > ours["p90"]).mean()),
                    "low": min(windows), "high": max(windows), "width": float((ours["p90"] - ours["p10"]).mean()),
                    "best_peer": best, "peer_wape": peers.get(best, np.nan), "peer_origins": peer_windows,
                    "wape_on_peer_origins": _wape(pd.concat(by_model[NEEDCAST][:peer_windows])) if best else np.nan})
    return pd.DataFrame(out)


def table(case: Case, result: RollingResult, command: str) -> str:
    """The markdown subsection of one case: levels, then the bottom level's bins."""
    figures = level_figures(result)
    first, last = min(result.origins), max(result.origins)
    lines = [f"### {case.name}", "",
             f"{case.source}; {len(result.origins)} origins {first.date()} .. {last.date()}, {case.h} periods each "
             f"(needcast's {len(result.origins)} fits: {result.seconds:.0f} s).", "",
             f"`{command}` — {date.today().isoformat()}", "",
             "| level | series | periods | WAPE | SQL | p10-p90 coverage (below / above) | windows' range | width "
             "| best peer: WAPE (needcast x) |", "|---" * 9 + "|"]
    for r in figures.itertuples(index=False):
        peer = "-"
        if r.best_peer:
            ratio = f"{r.wape_on_peer_origins / r.peer_wape:.2f}x"
            if r.peer_origins < len(result.origins):  # needcast's WAPE on the same origins as the peers'
                ratio = f"needcast on the same {r.peer_origins} origins: {r.wape_on_peer_origins:.3f}, {ratio}"
            peer = f"{r.best_peer}: {r.peer_wape:.3f} ({ratio})"
        lines.append(f"| {r.level} | {r.series} | {r.periods} | {r.wape:.3f} | {r.sql:.3f} | {r.coverage:.2f} "
                     f"({r.below:.2f} / {r.above:.2f}) | {r.low:.2f}-{r.high:.2f} | {r.width:.1f} | {peer} |")
    lines += ["", "Bottom level by the series' mean volume per period, share of zeros over the last year and length "
              "of history (each origin's), pooled:", "", "| bin | series (any origin) | p10-p90 coverage | WAPE |",
              "|---|---|---|---|"]
    for parts in result.bins.values():
        summary = bin_summary(pd.concat(parts, ignore_index=True))
        for label, b in summary.iterrows():
            if b["series"]:
                lines.append(f"| {label} | {int(b['series'])} | {b['coverage']:.2f} | {b['wape']:.3f} |")
    return "\n".join([*lines, ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated: " + ", ".join(CASES))
    parser.add_argument("--origins", type=int, default=8, help="successive origins per case, h periods apart")
    parser.add_argument("--threads", type=int, default=1, help="LightGBM threads")
    parser.add_argument("--peers", default="none", help="comma-separated (default none): " + ", ".join(PEERS))
    parser.add_argument("--short", type=float, default=0.0, help="share of series made young (new services)")
    parser.add_argument("--short-periods", type=int, default=180,
                        help="with --short: their history starts this many periods before the latest origin")
    parser.add_argument("--peer-origins", type=int, help="fit the peers at the latest N origins only (default: all)")
    parser.add_argument("--backtest-windows", type=int, help="needcast's backtest windows (default: its own choice)")
    parser.add_argument("--predictions", type=Path, help="keep each origin's fits here and read them back")
    parser.add_argument("--print-only", action="store_true", help="print the tables, leave docs/benchmarks.md")
    args = parser.parse_args(argv)
    peers = [p.strip() for p in args.peers.split(",") if p.strip() and p.strip() != "none"]
    if unknown := [p for p in peers if p not in PEERS]:
        parser.error(f"unknown peer(s) {', '.join(unknown)}")
    try:
        names = case_names(args.cases)
    except ValueError as exc:
        parser.error(str(exc))
    if args.origins < 1:
        parser.error("--origins must be at least 1")
    command = ".venv/bin/python -m bench rolling_origins " + shlex.join(argv if argv is not None else sys.argv[1:])
    tables = {}
    for case in available_cases(names):
        if args.short:
            case = shortened(case, args.short, args.short_periods)
        print(f"{case.name}: {case.history['unique_id'].nunique()} series, h={case.h}", file=sys.stderr)
        base = DemandConfig(backtest_windows=args.backtest_windows)
        result = rolling_case(case, args.origins, args.threads, peers, args.predictions, base, args.peer_origins)
        tables[case.name] = table(case, result, command.strip())
        print(tables[case.name])
    if tables and not args.print_only:
        write_section(tables, heading=SECTION, intro=INTRO)
        print(f"wrote {len(tables)} table(s) to {DOCS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
