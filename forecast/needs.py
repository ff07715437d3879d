"""Served emerging needs: the champion's needs snapshot stored in `served_meta`, queried from memory.

The snapshot is one JSON document under key `needs`; a small `needs_stamp` document changes with every
store, so a serving process re-reads the big one only when it changed (`NeedsCache`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, select

from store import tables
from training.emergence import EmergenceConfig
from training.needs_snapshot import NeedsSnapshot
from training.needs_training import NeedsConfig, build_snapshot, prepare_feedback
from training.topics import assign_topics

__all__ = ["NeedsCache", "ServedNeeds", "assign_feedback_topics", "feedback_with_topics", "load_needs",
           "refresh_needs", "store_needs"]

NEEDS_KEY = "needs"
STAMP_KEY = "needs_stamp"
Encode = Callable[[list[str]], np.ndarray]


@dataclass
class ServedNeeds:
    """Queries over one snapshot; answers are plain dicts ready for JSON."""

    snapshot: NeedsSnapshot
    stamp: str = ""

    @property
    def segments(self) -> list[str]:
        return self.snapshot.segments

    def emerging(self, segment: str | None = None, limit: int = 20) -> list[dict]:
        """Emerging needs, most significant first, optionally of one segment."""
        items = self.snapshot.emerging
        if segment is not None:
            items = [i for i in items if i["segment"] == segment]
        return items[:limit]

    def topics(self, segment: str | None = None) -> list[dict]:
        """Every topic with its count and volume per period (summed over segments, or of one segment)."""
        volumes = self.snapshot.volumes
        if segment is not None:
            volumes = volumes[volumes["segment"] == segment]
        by_topic = {int(t): part for t, part in volumes.groupby("topic_id")}
        out = []
        for topic in self.snapshot.topics:
            part = by_topic.get(int(topic["topic_id"]))
            if part is None:
                if segment is not None:
                    continue  # a topic this segment never wrote about
                part = volumes.iloc[0:0]
            series = part.groupby("period")["count"].sum().sort_index()
            segments = part.groupby("segment")["count"].sum().sort_values(ascending=False)
            out.append({**topic, "count": int(series.sum()),
                        "segments": {str(s): int(c) for s, c in segments.items()},
                        "volume": [{"period": p.date().isoformat(), "count": int(c)}
                                   for p, c in series.items()]})
        return sorted(out, key=lambda t: -t["count"])


def store_needs(engine: Engine, snapshot: NeedsSnapshot) -> str:
    """Replace the served snapshot; returns its stamp."""
    stamp = f"{snapshot.model.get('version', '')}@{datetime.now(UTC).isoformat(timespec='microseconds')}"
    m = tables.served_meta
    with engine.begin() as conn:
        conn.execute(delete(m).where(m.c.key.in_([NEEDS_KEY, STAMP_KEY])))
        conn.execute(m.insert(), [{"key": NEEDS_KEY, "value": {**snapshot.to_doc(), "stamp": stamp}},
                                  {"key": STAMP_KEY, "value": {"stamp": stamp}}])
    return stamp


def _stamp(engine: Engine) -> str | None:
    m = tables.served_meta
    with engine.connect() as conn:
        doc = conn.execute(select(m.c.value).where(m.c.key == STAMP_KEY)).scalar()
    return None if doc is None else str(doc.get("stamp"))


def load_needs(engine: Engine) -> ServedNeeds | None:
    """The stored snapshot, or None before the first needs run."""
    m = tables.served_meta
    with engine.connect() as conn:
        doc = conn.execute(select(m.c.value).where(m.c.key == NEEDS_KEY)).scalar()
    return None if doc is None else ServedNeeds(NeedsSnapshot.from_doc(doc), str(doc.get("stamp", "")))


@dataclass
class NeedsCache:
    """The served snapshot of one process: re-read when its stamp changed, checked at most every `ttl_s`."""

    engine: Engine
    ttl_s: float = 10.0
    _served: ServedNeeds | None = None
    _checked: float = float("-inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self) -> ServedNeeds | None:
        with self._lock:
            now = time.monotonic()
            # Before the first needs run every call looks, so the first snapshot is served at once.
            if self._served is None or now - self._checked >= self.ttl_s:
                self._checked = now
                stamp = _stamp(self.engine)
                if stamp is None:
                    self._served = None
                elif self._served is None or self._served.stamp != stamp:
                    self._served = load_needs(self.engine)
            return self._served


def assign_feedback_topics(feedback: pd.DataFrame, encode: Encode, snapshot: NeedsSnapshot) -> pd.Series:
    """The served topic id of each feedback row (nearest centroid), indexed like `feedback`.

    For topic-share features on the demand side: texts are embedded with the same encoder as in training.
    """
    texts = feedback["text"].fillna("").astype(str).tolist()
    ids = assign_topics(np.asarray(encode(texts), dtype=np.float32), snapshot.topic_set)
    return pd.Series(ids, index=feedback.index, name="topic_id")


def feedback_with_topics(feedback: pd.DataFrame, encode: Encode | None, snapshot: NeedsSnapshot | None,
                         history_days: int) -> pd.DataFrame:
    """`feedback` without its text and with a `topic` column: the served topic id of each text a needs run
    covers (non-empty, within `history_days` of the newest feedback), NaN for the others.

    Without an encoder or a snapshot with topics every `topic` is NaN (the demand model's shares go missing).
    """
    out = feedback.drop(columns=["text"], errors="ignore").assign(topic=np.nan)
    if encode is None or snapshot is None or not len(snapshot.topic_set.ids) or "text" not in feedback \
            or feedback.empty:
        return out
    created = pd.to_datetime(feedback["created_at"])
    start = created.max().normalize() + pd.Timedelta(days=1) - pd.Timedelta(days=history_days)
    covered = (feedback["text"].fillna("").astype(str).str.strip() != "") & (created >= start)
    if covered.any():
        out.loc[covered, "topic"] = assign_feedback_topics(feedback[covered], encode, snapshot).astype(float)
    return out


def refresh_needs(feedback: pd.DataFrame, encode: Encode, snapshot: NeedsSnapshot,
                  as_of: pd.Timestamp | str | None = None,
                  config: NeedsConfig | None = None) -> NeedsSnapshot:
    """The snapshot recomputed on the latest feedback with the served topics (no refit, ids unchanged).

    Without `config` the snapshot's own windows are kept.
    """
    config = config or NeedsConfig(emergence=EmergenceConfig(**{
        k: v for k, v in snapshot.settings.items() if k in ("recent_days", "baseline_days")}))
    docs = prepare_feedback(feedback, pd.Timestamp(as_of) if as_of is not None else None, config.days_used)
    if docs.empty:
        return snapshot
    as_of_day = pd.Timestamp(as_of if as_of is not None else docs["created_at"].max()).normalize()
    x = np.asarray(encode(docs["text"].tolist()), dtype=np.float32)
    return build_snapshot(docs, x, snapshot.topic_set, as_of_day, config, snapshot.model)
