"""Reconciliation measured: bottom-up against MinT (shrink) and ERM from hierarchicalforecast, per level.

needcast's global model is fitted on every node of the case's hierarchy (the bottom series and their sums,
summed keys shown as `*`), so each node has a base forecast; its backtest residuals are the in-sample errors
MinT's covariance is estimated from. The held-out means are then reconciled three ways, and bottom-up is also
taken from the model fitted on the bottom series alone (what needcast serves). Scored by WAPE of the mean.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from bench.levels import Level, backtest_coverage, case_levels, level_case, score_level, sum_forecast
from bench.peer_cases import Case
from features.contract import SERIES_KEY
from features.series import series_frame
from training.backtest import run_backtest
from training.config import DemandConfig
from training.demand_model import fit_forecaster, model_frame, with_events_in_history

__all__ = ["INTERVAL_METHODS", "METHODS", "compare_intervals", "reconcile_case", "reconciled_bands"]

METHODS = ("bottom-up (served)", "bottom-up, all-node model", "base forecasts", "MinT shrink", "ERM")


def _nodes(case: Case, levels: list[Level]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
    """History and actuals of every node, and the tags (level -> node ids) hierarchicalforecast reads."""
    histories, actuals, tags = [], [], {}
    for level in reversed(levels):  # total first: hierarchicalforecast lists the top first
        on_level = level_case(case, level)
        histories.append(on_level.history[["unique_id", "ds", "y", *SERIES_KEY]])
        actuals.append(on_level.actual)
        tags[level.name] = on_level.history["unique_id"].drop_duplicates().to_numpy()
    return pd.concat(histories, ignore_index=True), pd.concat(actuals, ignore_index=True), tags


def _summing_matrix(tags: dict[str, np.ndarray], bottom: np.ndarray, history: pd.DataFrame) -> pd.DataFrame:
    keys = history.drop_duplicates("unique_id").set_index("unique_id")[SERIES_KEY]
    bottom_keys = keys.loc[bottom]
    rows = []
    for ids in tags.values():
        for uid in ids:
            node = keys.loc[uid]
            match = np.ones(len(bottom), dtype=bool)
            for k in SERIES_KEY:
                if node[k] != "*":
                    match &= (bottom_keys[k] == node[k]).to_numpy()
            rows.append(match.astype(float))
    order = [uid for ids in tags.values() for uid in ids]
    return pd.DataFrame(rows, columns=bottom).assign(unique_id=order)[["unique_id", *bottom]]


def _fit_predict(case: Case, history: pd.DataFrame, config: DemandConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Held-out means and backtest rows of needcast's model fitted on `history` (the case's events known)."""
    config = with_events_in_history(config, history, case.events)
    frame = model_frame(history, None, config, case.events)
    backtest = run_backtest(frame, config)
    forecaster = fit_forecaster(frame, config, backtest.calibration)
    return forecaster.predict(history, None, case.h, case.events), backtest.cv


def reconcile_case(case: Case, config: DemandConfig) -> tuple[dict[str, dict[str, float]], float]:
    """WAPE of the held-out mean per level (rows) and method (columns); and the seconds it took."""
    from hierarchicalforecast.core import HierarchicalReconciliation
    from hierarchicalforecast.methods import ERM, BottomUp, MinTrace

    started = time.perf_counter()
    levels = case_levels(case)
    history, actual, tags = _nodes(case, levels)
    bottom = tags[levels[0].name]
    s_df = _summing_matrix(tags, bottom, history)
    base, cv = _fit_predict(case, history, config)
    served_history = case.history if case.usage is None else series_frame(case.usage, config.freq)
    served, _ = _fit_predict(case, served_history, config)

    y_hat = base[["unique_id", "ds", "mean"]]
    insample = cv[["unique_id", "ds", "y", "mean"]].drop_duplicates(["unique_id", "ds"])
    reconcilers = [BottomUp(), MinTrace(method="mint_shrink"), ERM(method="closed")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = HierarchicalReconciliation(reconcilers=reconcilers).reconcile(
            Y_hat_df=y_hat, Y_df=insample, S_df=s_df, tags=tags)
    names = {"BottomUp": "bottom-up, all-node model", "MinTrace_method-mint_shrink": "MinT shrink", "ERM": "ERM"}
    columns = {"base forecasts": "mean"}
    for col in rec.columns:
        for key, name in names.items():
            if col.startswith(f"mean/{key}"):
                columns[name] = col
    served_nodes = pd.concat([_sum_to(served, case, level) for level in levels], ignore_index=True)
    scores: dict[str, dict[str, float]] = {}
    for level in levels:
        ids = set(tags[level.name])
        rows = actual[actual["unique_id"].isin(ids)].merge(rec, on=["unique_id", "ds"])
        rows = rows.merge(served_nodes.rename(columns={"mean": "served"}), on=["unique_id", "ds"])
        total = rows["y"].abs().sum()
        scores[level.name] = {"bottom-up (served)": float((rows["y"] - rows["served"]).abs().sum() / total)}
        for name, col in columns.items():
            scores[level.name][name] = float((rows["y"] - rows[col].clip(lower=0)).abs().sum() / total)
    return scores, time.perf_counter() - started


def _sum_to(pred: pd.DataFrame, case: Case, level: Level) -> pd.DataFrame:
    from features.series import series_id

    keys = case.history.drop_duplicates("unique_id")[["unique_id", *SERIES_KEY]]
    rows = pred.merge(keys, on="unique_id")
    out = rows.groupby([*level.keep, "ds"], as_index=False)["mean"].sum()
    for k in SERIES_KEY:
        if k not in level.keep:
            out[k] = "*"
    out["unique_id"] = series_id(out)
    return out[["unique_id", "ds", "mean"]]


INTERVAL_METHODS = ("bootstrap", "conformal", "permbu")
"""hierarchicalforecast's probabilistic reconciliation, each on BottomUp (the served means) and the backtest rows."""


def _node_sums(s_df: pd.DataFrame, bottom: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Bottom rows (unique_id, ds, columns) summed to every node of the summing matrix `s_df`."""
    matrix = s_df.drop(columns="unique_id").to_numpy()
    parts = []
    for col in columns:
        wide = bottom.pivot(index="unique_id", columns="ds", values=col).loc[s_df.columns[1:]]
        nodes = pd.DataFrame(matrix @ wide.to_numpy(), index=pd.Index(s_df["unique_id"], name="unique_id"),
                             columns=wide.columns)
        parts.append(nodes.stack().rename(col))
    return pd.concat(parts, axis=1).reset_index()


def _chain(levels: list[Level]) -> list[Level]:
    """The longest strict hierarchy from the bottom (each level's keys within the one below): PERMBU needs one."""
    out = [levels[0]]
    for level in levels[1:]:
        if set(level.keep) < set(out[-1].keep):
            out.append(level)
    return out


def reconciled_bands(s_df: pd.DataFrame, tags: dict[str, np.ndarray], pred: pd.DataFrame, insample: pd.DataFrame,
                     method: str) -> pd.DataFrame:
    """Every node's p10, p50, p90 from BottomUp with `method` intervals over the bottom-level `pred`.

    `pred`: bottom rows (unique_id, ds, mean, p10, p90) to reconcile; `insample`: bottom rows (unique_id, ds, y,
    mean) whose errors the method resamples (backtest rows: out-of-sample errors, the same dates for all series,
    so their dependence is kept). p50 is the median of the method's distribution; p10 and p50 clipped at 0.
    """
    from hierarchicalforecast.core import HierarchicalReconciliation
    from hierarchicalforecast.methods import BottomUp

    y_hat = _node_sums(s_df, pred, ["mean", "p10", "p90"]).rename(columns={"p10": "mean-lo-80", "p90": "mean-hi-80"})
    insample = insample.drop_duplicates(["unique_id", "ds"], keep="last")  # overlapping windows: the latest
    y_df = _node_sums(s_df, insample, ["y", "mean"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = HierarchicalReconciliation(reconcilers=[BottomUp()]).reconcile(
            Y_hat_df=y_hat, Y_df=y_df, S_df=s_df, tags=tags, level=[0, 80], intervals_method=method)
    out = pd.DataFrame({"unique_id": rec["unique_id"], "ds": rec["ds"],
                        "p10": rec["mean/BottomUp-lo-80"].clip(lower=0), "p50": rec["mean/BottomUp-lo-0"].clip(lower=0),
                        "p90": rec["mean/BottomUp-hi-80"]})
    out[["p10", "p50", "p90"]] = np.sort(out[["p10", "p50", "p90"]].to_numpy(), axis=1)
    return out


def compare_intervals(case: Case, pred: pd.DataFrame, cv: pd.DataFrame, dependence: list | None,
                      interval: tuple[float, float]) -> tuple[dict[str, dict[str, dict[str, float]]], float]:
    """Per level and method: held-out WAPE, scaled quantile loss, coverage, width, and cross-window backtest coverage.

    Methods: the served bands (bottom-up with the dependence fitted on the backtest's totals) and
    hierarchicalforecast's bootstrap, conformal and PERMBU (PERMBU on a strict chain of levels only). Backtest
    coverage: each backtest window reconciled with the other windows' rows as in-sample errors (the served
    method: its dependence fitted on them), pooled over the windows.
    """
    started = time.perf_counter()
    levels = case_levels(case)
    history, _, tags = _nodes(case, levels)
    s_df = _summing_matrix(tags, tags[levels[0].name], history)
    chain = {level.name for level in _chain(levels)}
    on_level = {level.name: level_case(case, level) for level in levels}
    out: dict[str, dict[str, dict[str, float]]] = {level.name: {} for level in levels}
    for level in levels:
        held = score_level(on_level[level.name], sum_forecast(case, pred, level, dependence))
        back = backtest_coverage(case, cv, level, interval)[1]["pooled"]
        out[level.name]["served"] = {**held, "backtest_coverage": back}
    for method in INTERVAL_METHODS:
        names = [lv.name for lv in levels if method != "permbu" or lv.name in chain]
        keep = np.concatenate([tags[n] for n in reversed(names)])
        sub_tags = {n: tags[n] for n in reversed(names)}
        sub_s = s_df[s_df["unique_id"].isin(keep)].reset_index(drop=True)
        bands = reconciled_bands(sub_s, sub_tags, pred, cv, method)
        inside = []
        for cutoff in cv["cutoff"].unique():
            window = cv[cv["cutoff"] == cutoff]
            rows = reconciled_bands(sub_s, sub_tags, window, cv[cv["cutoff"] != cutoff], method)
            truth = _node_sums(sub_s, window, ["y"])
            inside.append(rows.merge(truth, on=["unique_id", "ds"]))
        inside = pd.concat(inside, ignore_index=True)
        inside["inside"] = (inside["y"] >= inside["p10"]) & (inside["y"] <= inside["p90"])
        for name in names:
            nodes = bands[bands["unique_id"].isin(tags[name])]
            held = score_level(on_level[name], nodes)
            back = float(inside.loc[inside["unique_id"].isin(tags[name]), "inside"].mean())
            out[name][method] = {**held, "backtest_coverage": back}
    return out, time.perf_counter() - started
