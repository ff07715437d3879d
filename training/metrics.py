"""Backtest metrics (utilsforecast): WAPE, MASE, scaled quantile loss and p10-p90 coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
from utilsforecast import losses

__all__ = ["forecast_metrics"]


def forecast_metrics(cv: pd.DataFrame, train: pd.DataFrame, season: int, model: str = "p50") -> dict[str, float]:
    """Metrics of one model's backtest rows (`unique_id, ds, cutoff, y, <model>` and optional p10/p90).

    WAPE is pooled over all series and windows (one planner-facing number); MASE is the mean over
    series of MAE scaled by the in-sample seasonal-naive MAE of the training history.
    """
    rows = cv.dropna(subset=["y", model])
    total = float(np.abs(rows["y"]).sum())
    out = {"wape": float(np.abs(rows["y"] - rows[model]).sum() / total) if total else float("nan")}
    per_series = losses.mase(
        rows[["unique_id", "ds", "cutoff", "y", model]], models=[model], seasonality=season,
        train_df=train[["unique_id", "ds", "y"]],
    )
    mase = per_series[model].replace([np.inf, -np.inf], np.nan)
    out["mase"] = float(mase.mean())
    if {"p10", "p90"} <= set(rows.columns):
        out["coverage"] = float(((rows["y"] >= rows["p10"]) & (rows["y"] <= rows["p90"])).mean())
        sql = []
        for q, col in ((0.1, "p10"), (0.5, model), (0.9, "p90")):
            part = losses.scaled_quantile_loss(
                rows[["unique_id", "ds", "cutoff", "y", col]], models={col: col}, seasonality=season,
                train_df=train[["unique_id", "ds", "y"]], q=q,
            )
            sql.append(part[col].replace([np.inf, -np.inf], np.nan).mean())
        out["scaled_quantile_loss"] = float(np.nanmean(sql))
    return out
