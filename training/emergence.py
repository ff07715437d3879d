"""Emerging needs: topics whose share of a segment's feedback rose in the recent window.

For segment s and topic t let x, y be the topic's counts in the recent window and in the baseline
window before it, and N_r, N_b the segment's total counts there. If the topic's share of the segment
did not change, then given x + y the recent count is x ~ Binomial(x + y, p0) with p0 = N_r / (N_r + N_b):
a conditional (exact) rate-ratio test, so a segment whose whole volume doubled raises p0, not the
evidence. The one-sided p-value P(X >= x) is corrected by Benjamini-Hochberg over every segment x topic
pair with at least min_recent texts in the two windows together (independent filtering: the others can
never be reported). A pair is reported when q <= alpha, x >= min_recent and the smoothed growth
>= min_growth; a topic new to the segment (y = 0) is tested the same way.

growth = ((x + k p0) / N_r) / ((y + k (1 - p0)) / N_b): the rate ratio with k pseudo-counts split by
exposure, so it is 1 without data and small counts cannot claim a huge ratio.
score = -log10(q) * log2(growth): evidence times effect, the sort key (most significant first).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binom

from training.topic_labels import TopicLabel

__all__ = ["UNSEGMENTED", "EmergenceConfig", "emergence_tests", "emerging_topics", "topic_volumes",
           "windows"]

UNSEGMENTED = "unknown"
"""The segment of feedback that names none."""


@dataclass(frozen=True)
class EmergenceConfig:
    """Windows and thresholds of the emergence test."""

    recent_days: int = 21
    baseline_days: int = 84
    alpha: float = 0.05  # false discovery rate over all segment x topic tests
    min_recent: int = 5  # fewer recent texts are never a reportable need, whatever the p-value
    min_growth: float = 1.5
    prior_counts: float = 2.0
    examples: int = 5


def windows(as_of: pd.Timestamp, config: EmergenceConfig) -> tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]:
    """Baseline start, recent start and end (exclusive): recent = the `recent_days` days ending on `as_of`."""
    end = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    recent_start = end - pd.Timedelta(days=config.recent_days)
    return recent_start - pd.Timedelta(days=config.baseline_days), recent_start, end


def _benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """BH q-values (monotone, capped at 1)."""
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


def emergence_tests(docs: pd.DataFrame, as_of: pd.Timestamp, config: EmergenceConfig) -> pd.DataFrame:
    """One row per segment x topic seen in the two windows: counts, p0, p, q, growth, score, emerging.

    `docs`: created_at, segment, topic_id (one row per feedback text).
    """
    start, recent_start, end = windows(as_of, config)
    docs = docs[(docs["created_at"] >= start) & (docs["created_at"] < end)]
    period = np.where(docs["created_at"] >= recent_start, "recent", "baseline")
    counts = (docs.assign(period=period).groupby(["segment", "topic_id", "period"]).size()
              .unstack("period", fill_value=0).reindex(columns=["recent", "baseline"], fill_value=0))
    counts.columns = ["recent_count", "baseline_count"]
    out = counts.reset_index()
    totals = out.groupby("segment")[["recent_count", "baseline_count"]].transform("sum")
    n_r, n_b = totals["recent_count"].to_numpy(float), totals["baseline_count"].to_numpy(float)
    x, y = out["recent_count"].to_numpy(), out["baseline_count"].to_numpy()
    p0 = n_r / np.maximum(n_r + n_b, 1.0)
    out["p0"] = p0
    # P(X >= x) for X ~ Binomial(x + y, p0); a segment with no baseline at all gives p0 = 1, p = 1.
    out["p_value"] = np.where(x > 0, binom.sf(x - 1, x + y, p0), 1.0)
    # Independent filtering: a pair with fewer than min_recent texts in both windows together can never
    # be reported, and under the null its total x + y says nothing about the conditional test, so leaving
    # it out of the correction keeps the false discovery rate and stops rare pairs diluting real ones.
    testable = x + y >= config.min_recent
    q = np.ones(len(out))
    q[testable] = _benjamini_hochberg(out["p_value"].to_numpy()[testable])
    out["q_value"] = q
    k = config.prior_counts
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = ((x + k * p0) / n_r) / ((y + k * (1 - p0)) / n_b)
    out["growth"] = np.where((n_r > 0) & (n_b > 0), growth, np.nan)
    log_growth = np.log2(np.clip(out["growth"].fillna(1.0), 1.0, None))
    out["score"] = -np.log10(np.clip(out["q_value"], 1e-300, 1.0)) * log_growth
    out["emerging"] = ((out["q_value"] <= config.alpha) & (out["recent_count"] >= config.min_recent)
                       & (out["growth"] >= config.min_growth))
    return out.sort_values(["emerging", "score"], ascending=False, ignore_index=True)


def _first_seen(created: pd.Series, gap_days: int) -> pd.Timestamp:
    """Start of the current wave: the earliest text after which no gap between texts exceeds `gap_days`."""
    times = created.sort_values().to_numpy()
    breaks = np.flatnonzero(np.diff(times) > np.timedelta64(gap_days, "D"))
    return pd.Timestamp(times[breaks[-1] + 1] if len(breaks) else times[0])


def _examples(recent: pd.DataFrame, n: int) -> list[dict]:
    """The `n` recent texts closest to the topic centroid, one per distinct text."""
    best = recent.sort_values("centrality", ascending=False).drop_duplicates("text").head(n)
    return [{"id": str(i), "text": t, "created_at": pd.Timestamp(c).isoformat()}
            for i, t, c in best[["id", "text", "created_at"]].itertuples(index=False)]


def emerging_topics(docs: pd.DataFrame, labels: Mapping[int, TopicLabel], as_of: pd.Timestamp | None = None,
                    config: EmergenceConfig | None = None) -> list[dict]:
    """The emerging needs as CONTRACT §3 items (plus mean_rating, p_value, q_value), most significant first.

    `docs`: id, created_at, text, segment, topic_id, rating, centrality (cosine to the topic's centroid).
    Only feedback up to `as_of` (default: the last day in `docs`) is used.
    """
    config = config or EmergenceConfig()
    if docs.empty:
        return []
    as_of = pd.Timestamp(as_of if as_of is not None else docs["created_at"].max()).normalize()
    docs = docs[docs["created_at"] < as_of + pd.Timedelta(days=1)]
    tests = emergence_tests(docs, as_of, config)
    _, recent_start, _ = windows(as_of, config)
    items = []
    for row in tests[tests["emerging"]].itertuples(index=False):
        mine = docs[(docs["segment"] == row.segment) & (docs["topic_id"] == row.topic_id)]
        recent = mine[mine["created_at"] >= recent_start]
        label = labels.get(int(row.topic_id))
        rating = recent["rating"].dropna()
        items.append({
            "topic_id": int(row.topic_id),
            "label": label.label if label else f"тема {int(row.topic_id)}",
            "keywords": list(label.keywords) if label else [],
            "segment": str(row.segment),
            "recent_count": int(row.recent_count),
            "baseline_count": int(row.baseline_count),
            "growth": round(float(row.growth), 3),
            "score": round(float(row.score), 3),
            "p_value": float(row.p_value),
            "q_value": float(row.q_value),
            "first_seen": _first_seen(mine["created_at"], config.recent_days).date().isoformat(),
            "mean_rating": round(float(rating.mean()), 2) if len(rating) else None,
            "examples": _examples(recent, config.examples),
        })
    return items


def topic_volumes(docs: pd.DataFrame, freq: str = "W") -> pd.DataFrame:
    """Counts per topic, segment and period (`period`: the period's first day; weeks start on Monday)."""
    if docs.empty:
        return pd.DataFrame(columns=["topic_id", "segment", "period", "count"])
    period = docs["created_at"].dt.to_period("W-SUN" if freq == "W" else "D").dt.start_time
    return (docs.assign(period=period).groupby(["topic_id", "segment", "period"]).size()
            .rename("count").reset_index())
