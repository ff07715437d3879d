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

from bench.levels import Level, case_levels, level_case
from bench.peer_cases import Case
from features.contract import SERIES_KEY
from features.series import series_frame
from training.backtest import run_backtest
from training.config import DemandConfig
from training.demand_model import fit_forecaster, model_frame, with_events_in_history

__all__ = ["METHODS", "reconcile_case"]

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
