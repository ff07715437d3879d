"""Per-series feedback aggregates known at the forecast origin: volume, mean rating, share of ratings <= 2,
and the shares of chosen needs topics (`fb_topic_share_<rank>`, from a `topic` column of topic ids).

Leakage rule: the value for period `ds` summarises feedback of the `window_days` days ending
`horizon` periods before the end of `ds`, so every value needed up to `origin + horizon` is known
at the origin. A test proves that changing feedback after the origin changes none of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["FEEDBACK_COLUMNS", "feedback_features", "frequent_topics", "topic_share_columns"]

FEEDBACK_COLUMNS = ["fb_volume", "fb_mean_rating", "fb_negative_share", "fb_segment_volume"]
_PERIOD_DAYS = {"D": 1, "W": 7}
_SUMS = ["n", "rating_sum", "rated", "negative"]


def topic_share_columns(n_topics: int) -> list[str]:
    """Names of the topic-share features, by the rank of the topic in the config's `feedback_topics`."""
    return [f"fb_topic_share_{rank}" for rank in range(n_topics)]


def frequent_topics(feedback: pd.DataFrame | None, k: int = 5) -> tuple[int, ...]:
    """The `k` topic ids with most feedback in the `topic` column (none if the column is missing or empty)."""
    if feedback is None or "topic" not in feedback:
        return ()
    counts = feedback["topic"].dropna().astype(int).value_counts(sort=False)
    ranked = sorted(counts.items(), key=lambda tc: (-tc[1], tc[0]))  # ties by id, so the choice is stable
    return tuple(int(t) for t, _ in ranked[:k])


def _rolling_daily(frame: pd.DataFrame, keys: list[str], start: pd.Timestamp, end: pd.Timestamp,
                   window_days: int, extra: list[str] | None = None) -> pd.DataFrame:
    """Rolling sums over `window_days` of volume, rating sum, rated count, negative count (and `extra`
    count columns of `frame`) per key and day."""
    rating = pd.to_numeric(frame["rating"], errors="coerce").astype(float)
    frame = frame.assign(
        rating=rating,
        day=frame["created_at"].dt.normalize(),
        n=1.0,
        rating_sum=frame["rating"].fillna(0).astype(float),
        rated=frame["rating"].notna().astype(float),
        negative=(frame["rating"] <= 2).fillna(False).astype(float),
    )
    sums = _SUMS + (extra or [])
    daily = frame.groupby([*keys, "day"])[sums].sum()
    days = pd.date_range(start, end, freq="D")
    out = []
    levels = list(range(len(keys))) if len(keys) > 1 else 0
    for key, part in daily.groupby(level=levels):
        part = part.droplevel(levels).reindex(days, fill_value=0.0)
        rolled = part.rolling(window_days, min_periods=1).sum()
        rolled[keys] = list(key) if isinstance(key, tuple) else [key]
        out.append(rolled.rename_axis("day").reset_index())
    if not out:
        return pd.DataFrame(columns=[*keys, "day", *sums])
    return pd.concat(out, ignore_index=True)


def _topic_counts(feedback: pd.DataFrame, topics: tuple[int, ...]) -> pd.DataFrame:
    """`feedback` with a 0/1 column per chosen topic and `labelled` (rows that have a topic id)."""
    topic = pd.to_numeric(feedback.get("topic", pd.Series(np.nan, index=feedback.index)), errors="coerce")
    cols = {"labelled": topic.notna(), **{f"topic_{rank}": topic == t for rank, t in enumerate(topics)}}
    return feedback.assign(**{k: v.astype(float) for k, v in cols.items()})


def feedback_features(
    series: pd.DataFrame, feedback: pd.DataFrame | None, horizon: int, freq: str = "D", window_days: int = 28,
    topics: tuple[int, ...] = (),
) -> pd.DataFrame:
    """`unique_id, ds`, FEEDBACK_COLUMNS and the shares of `topics` for every row of `series`.

    Zeros/NaN where no feedback; a topic share is NaN where the window holds no feedback with a `topic` id
    (feedback outside what the needs model labelled, or no `topic` column at all).
    """
    period = _PERIOD_DAYS[freq]
    base = series[["unique_id", "ds", "service", "segment"]].copy()
    # The last day whose feedback the value for `ds` may use.
    base["day"] = base["ds"] + pd.Timedelta(days=period - 1) - pd.Timedelta(days=horizon * period)
    result = base[["unique_id", "ds"]].copy()
    if feedback is None or feedback.empty:
        result["fb_volume"] = 0.0
        result["fb_mean_rating"] = np.nan
        result["fb_negative_share"] = np.nan
        result["fb_segment_volume"] = 0.0
        for col in topic_share_columns(len(topics)):
            result[col] = np.nan
        return result
    start = min(base["day"].min(), feedback["created_at"].min()).normalize()
    end = max(base["day"].max(), feedback["created_at"].max()).normalize()
    fb = feedback[feedback["created_at"].dt.normalize() <= end]
    extra = ["labelled", *(f"topic_{rank}" for rank in range(len(topics)))] if topics else None
    if topics:
        fb = _topic_counts(fb, topics)
    by_service = _rolling_daily(fb.dropna(subset=["service", "segment"]), ["service", "segment"], start, end,
                                window_days, extra)
    by_segment = _rolling_daily(fb.dropna(subset=["segment"]), ["segment"], start, end, window_days)
    merged = base.merge(by_service, on=["service", "segment", "day"], how="left")
    merged = merged.merge(by_segment[["segment", "day", "n"]].rename(columns={"n": "segment_n"}),
                          on=["segment", "day"], how="left")
    result["fb_volume"] = merged["n"].fillna(0.0).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        rated = merged["rated"].astype(float).replace(0, np.nan)
        result["fb_mean_rating"] = (merged["rating_sum"].astype(float) / rated).to_numpy()
        result["fb_negative_share"] = (merged["negative"].astype(float) / rated).to_numpy()
    result["fb_volume"] = result["fb_volume"].astype(float)
    result["fb_segment_volume"] = merged["segment_n"].astype(float).fillna(0.0).to_numpy()
    if topics:
        labelled = merged["labelled"].astype(float).replace(0, np.nan)
        for rank, col in enumerate(topic_share_columns(len(topics))):
            result[col] = (merged[f"topic_{rank}"].astype(float) / labelled).to_numpy()
    return result
