"""The needs topic model as an MLflow pyfunc: feedback texts in, topic id and label out (nearest centroid)."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

from training.topics import TopicSet, assign_topics

__all__ = ["NeedsPyfunc", "load_topic_set", "save_topic_set"]


def save_topic_set(topics: TopicSet, labels: dict[int, str], folder: Path) -> dict[str, str]:
    """Write centroids (`topics.npz`) and labels (`topic_labels.json`); returns the pyfunc's artifacts."""
    np.savez(folder / "topics.npz", ids=topics.ids, centroids=topics.centroids, center=topics.center,
             next_id=np.int64(topics.next_id))
    (folder / "topic_labels.json").write_text(json.dumps({str(k): v for k, v in labels.items()},
                                                         ensure_ascii=False), encoding="utf-8")
    return {"topics": str(folder / "topics.npz"), "labels": str(folder / "topic_labels.json")}


def load_topic_set(path: str | Path) -> TopicSet:
    """The TopicSet saved by `save_topic_set`."""
    with np.load(path) as npz:
        return TopicSet(npz["ids"].astype(np.int64), npz["centroids"].astype(np.float32),
                        npz["center"].astype(np.float32), int(npz["next_id"]))


class NeedsPyfunc(mlflow.pyfunc.PythonModel):
    """Maps texts to topics by nearest centroid; the encoder named in model_config is loaded on first use.

    Input: a frame with a `text` column (already redacted). Output: `topic_id`, `label`.
    """

    def __init__(self) -> None:
        self.topics: TopicSet | None = None
        self.labels: dict[int, str] = {}
        self.encoder_name = ""
        self._encoder = None

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.topics = load_topic_set(context.artifacts["topics"])
        raw = json.loads(Path(context.artifacts["labels"]).read_text(encoding="utf-8"))
        self.labels = {int(k): v for k, v in raw.items()}
        self.encoder_name = str((context.model_config or {}).get("encoder", ""))

    def encode(self, texts: list[str]) -> np.ndarray:
        if self._encoder is None:
            from needcast.settings import get_settings
            from text.encoders import TextEncoder

            self._encoder = TextEncoder.load(self.encoder_name, get_settings().models_dir)
        return self._encoder.encode(texts)

    def predict(self, context: object, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        assert self.topics is not None
        ids = assign_topics(self.encode([str(t) for t in model_input["text"]]), self.topics)
        return pd.DataFrame({"topic_id": ids, "label": [self.labels.get(int(i), "") for i in ids]})
