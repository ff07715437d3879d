"""Segment summaries and portal suggestions, computed once per refresh and held for serving."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, select

from forecast.segments import segment_summaries
from forecast.suggestions import segment_suggestions
from store import tables

__all__ = ["build_insights", "load_insights", "store_insights", "topic_service_matches"]

Encode = Callable[[list[str]], np.ndarray]
_KEY = "insights"


def topic_service_matches(topic_ids: np.ndarray, centroids: np.ndarray, services: pd.DataFrame,
                          encode: Encode, top: int = 2) -> pd.DataFrame:
    """The `top` services whose description is closest to each topic: cosine and lift over the topic's mean.

    The lift, not the raw cosine, decides: e5 cosines sit in a narrow band, so what matters is how much
    a service stands out from the others for the same topic.
    """
    if services.empty or len(topic_ids) == 0:
        return pd.DataFrame(columns=["topic_id", "service", "similarity", "lift"])
    texts = (services["name"].fillna("") + ". " + services["description"].fillna("")).tolist()
    vectors = np.asarray(encode(texts), dtype=np.float32)
    sims = centroids @ vectors.T
    rows = []
    for i, topic in enumerate(topic_ids):
        mean = float(sims[i].mean())
        for j in np.argsort(-sims[i])[:top]:
            rows.append({"topic_id": int(topic), "service": services["service"].iloc[j],
                         "similarity": float(sims[i, j]), "lift": float(sims[i, j] - mean)})
    return pd.DataFrame(rows)


def build_insights(usage: pd.DataFrame, feedback: pd.DataFrame, forecasts: pd.DataFrame, services: pd.DataFrame,
                   emerging: list[dict], matches: pd.DataFrame | None, min_cell: int = 10) -> dict:
    """{"segments": [...], "suggestions": {segment: [...]}} ready to store and serve.

    An emerging need of fewer than `min_cell` feedback texts gives no reason (its label would name a handful
    of people); answers apply the live setting again (`forecast.small_cells`).
    """
    emerging = [i for i in emerging
                if int(i.get("recent_count") or 0) + int(i.get("baseline_count") or 0) >= min_cell]
    suggestions = {
        segment: segment_suggestions(segment, forecasts, usage, services, emerging, matches)
        for segment in sorted(usage["segment"].unique())
    }
    return {"segments": segment_summaries(usage, feedback, forecasts), "suggestions": suggestions}


def store_insights(engine: Engine, version: str, doc: dict) -> None:
    m = tables.served_meta
    with engine.begin() as conn:
        conn.execute(delete(m).where(m.c.key == f"{_KEY}:{version}"))
        conn.execute(m.insert().values(key=f"{_KEY}:{version}", value=doc))


def load_insights(engine: Engine, version: str) -> dict | None:
    m = tables.served_meta
    with engine.connect() as conn:
        return conn.execute(select(m.c.value).where(m.c.key == f"{_KEY}:{version}")).scalar()
