"""What a needs run leaves to be served: topics, their volumes over time, emerging needs and centroids.

Plain data with a JSON form (`to_doc` / `from_doc`), so the serving side stores it as one document and
the next run reads it back to keep topic ids stable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.topics import TopicSet

__all__ = ["NeedsSnapshot"]

_VOLUME_COLUMNS = ["topic_id", "segment", "period", "count"]


@dataclass
class NeedsSnapshot:
    """Topics and emerging needs as of one day, with the model that found them."""

    model: dict  # name, version, trained_at
    as_of: str  # ISO date: the last day of the recent window
    data_until: str  # ISO date of the newest feedback used
    freq: str  # period of `volumes`: "W" (weeks from Monday) or "D"
    topics: list[dict]  # topic_id, label, keywords, count
    volumes: pd.DataFrame  # topic_id, segment, period (Timestamp), count
    emerging: list[dict]  # CONTRACT §3 items, most significant first
    topic_set: TopicSet
    settings: dict  # the windows used, for the reader

    @property
    def segments(self) -> list[str]:
        return sorted(self.volumes["segment"].unique().tolist()) if len(self.volumes) else []

    def to_doc(self) -> dict:
        """A JSON-ready dict (centroids rounded to 6 decimals: cosines move by < 1e-5)."""
        volumes = self.volumes[_VOLUME_COLUMNS]
        ts = self.topic_set
        return {
            "model": self.model, "as_of": self.as_of, "data_until": self.data_until, "freq": self.freq,
            "topics": self.topics, "emerging": self.emerging, "settings": self.settings,
            "volumes": [[int(t), str(s), pd.Timestamp(p).date().isoformat(), int(c)]
                        for t, s, p, c in volumes.itertuples(index=False)],
            "topic_set": {"ids": ts.ids.tolist(), "centroids": np.round(ts.centroids, 6).tolist(),
                          "center": np.round(ts.center, 6).tolist(), "next_id": int(ts.next_id)},
        }

    @classmethod
    def from_doc(cls, doc: dict) -> NeedsSnapshot:
        volumes = pd.DataFrame(doc.get("volumes") or [], columns=_VOLUME_COLUMNS)
        volumes["period"] = pd.to_datetime(volumes["period"])
        volumes = volumes.astype({"topic_id": "int64", "segment": str, "count": "int64"})
        ts = doc["topic_set"]
        topic_set = TopicSet(np.asarray(ts["ids"], dtype=np.int64),
                             np.asarray(ts["centroids"], dtype=np.float32),
                             np.asarray(ts["center"], dtype=np.float32), int(ts["next_id"]))
        return cls(doc.get("model") or {}, doc["as_of"], doc["data_until"], doc.get("freq", "W"),
                   doc["topics"], volumes, doc.get("emerging") or [], topic_set, doc.get("settings") or {})
