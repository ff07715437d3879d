"""Per-segment summary for planners: series, recent volume, trend and satisfaction."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["RECENT_DAYS", "segment_summaries"]

RECENT_DAYS = 28
"""Days of recent demand that segments and suggestions compare with the forecast (and the days before them)."""


def segment_summaries(usage: pd.DataFrame, feedback: pd.DataFrame, forecasts: pd.DataFrame,
                      recent_days: int = RECENT_DAYS) -> list[dict]:
    """One dict per segment: series count, services, regions, recent volume, trend and mean rating.

    `trend` is the forecast daily mean over the horizon against the recent daily mean (-0.1 = 10% down).
    """
    last_day = usage["date"].max()
    recent = usage[usage["date"] > last_day - pd.Timedelta(days=recent_days)]
    previous = usage[(usage["date"] <= last_day - pd.Timedelta(days=recent_days))
                     & (usage["date"] > last_day - pd.Timedelta(days=2 * recent_days))]
    fb_recent = feedback[feedback["created_at"] > last_day - pd.Timedelta(days=recent_days)] \
        if not feedback.empty else feedback
    out = []
    for segment, part in usage.groupby("segment"):
        volume = float(recent.loc[recent["segment"] == segment, "count"].sum())
        before = float(previous.loc[previous["segment"] == segment, "count"].sum())
        fc = forecasts[forecasts["segment"] == segment]
        ahead_per_day = float(fc.groupby("date")["mean"].sum().mean()) if not fc.empty else float("nan")
        per_day = volume / recent_days
        ratings = feedback.loc[feedback["segment"] == segment, "rating"] if not feedback.empty else pd.Series([])
        recent_ratings = fb_recent.loc[fb_recent["segment"] == segment, "rating"] if not feedback.empty \
            else pd.Series([])
        out.append({
            "segment": segment,
            "series": int(part.groupby(["service", "region"]).ngroups),
            "services": sorted(part["service"].unique().tolist()),
            "regions": sorted(part["region"].unique().tolist()),
            "recent_volume": volume,
            "previous_volume": before,
            "trend": None if np.isnan(ahead_per_day) or per_day == 0 else round(ahead_per_day / per_day - 1, 4),
            "mean_rating": None if ratings.dropna().empty else round(float(ratings.mean()), 3),
            "recent_mean_rating": None if recent_ratings.dropna().empty else round(float(recent_ratings.mean()), 3),
            "feedback_count": int(ratings.size),
            "recent_feedback_count": int(recent_ratings.size),
        })
    return sorted(out, key=lambda s: s["recent_volume"], reverse=True)
