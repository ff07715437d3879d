"""One needs training run: embed, cluster, label, detect emerging needs, log to MLflow and register.

Champion rule: the `champion` alias moves unless the new topics' silhouette on this run's texts is
more than `champion_tolerance` (10%) below the champion's topics' silhouette on the same texts (the
champion's centroids assign them; both are scored in the same centred space and sample). A first
model, or one whose encoder differs from the champion's, is promoted: silhouettes of different
embeddings cannot be compared. The snapshot returned is always built with the champion's topics, so
what is served is the champion applied to the latest feedback.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature

from needcast.settings import DEFAULT_EMBEDDING_MODEL
from training.emergence import UNSEGMENTED, EmergenceConfig, emerging_topics, topic_volumes, windows
from training.needs_pyfunc import NeedsPyfunc, save_topic_set
from training.needs_snapshot import NeedsSnapshot
from training.registry import NEEDS_MODEL, champion_info, ensure_experiment, set_champion
from training.surges import SurgeConfig, surging_groups
from training.topic_labels import topic_labels
from training.topics import TopicConfig, TopicFit, TopicSet, fit_topics, nearest_topics, topic_silhouette

__all__ = ["NeedsConfig", "NeedsFit", "NeedsRun", "NeedsSnapshot", "build_snapshot", "fit_needs", "prepare_feedback",
           "train_needs"]

log = logging.getLogger(__name__)
Encode = Callable[[list[str]], np.ndarray]
Step = Callable[[str], None]


@dataclass(frozen=True)
class NeedsConfig:
    """Everything a needs run decides with."""

    topics: TopicConfig = field(default_factory=TopicConfig)
    emergence: EmergenceConfig = field(default_factory=EmergenceConfig)
    history_days: int = 365  # volumes over time cover this many days; older feedback is not embedded
    max_fit_texts: int = 4000  # clustering sample; the rest is assigned by nearest centroid
    surges: SurgeConfig = field(default_factory=SurgeConfig)
    max_label_texts: int = 1000  # texts per topic its keywords are counted on (a seeded sample above)
    # The champion moves unless the new silhouette is this fraction below the champion's on the same
    # texts: daily refits differ by up to ±8% (sample world) and a strict rule kept a champion without
    # the new need for 10 days; a collapse to a few topics loses far more (0.15 -> 0.05).
    champion_tolerance: float = 0.1
    freq: str = "W"

    @property
    def surge_from_recent_texts(self) -> int:
        """Recent texts above which surges are searched: the recent clustering's resolution no longer reaches
        a need of a few dozen texts (its clusters average more than `recent_texts_per_topic` texts)."""
        return self.topics.recent_texts_per_topic * self.topics.max_k_floor

    @property
    def days_used(self) -> int:
        """Days of feedback read: the history, and never less than the two test windows."""
        return max(self.history_days, self.emergence.recent_days + self.emergence.baseline_days)

    def as_params(self) -> dict[str, str]:
        t, e = self.topics, self.emergence
        params = {"method": t.method, "k_candidates": ",".join(map(str, t.k_candidates)),
                  "min_topic_size": t.min_topic_size, "match_similarity": t.match_similarity,
                  "recent_days": e.recent_days, "baseline_days": e.baseline_days, "alpha": e.alpha,
                  "min_recent": e.min_recent, "min_growth": e.min_growth, "history_days": self.history_days,
                  "max_fit_texts": self.max_fit_texts, "freq": self.freq,
                  "surge_neighbours": self.surges.neighbours, "surge_max_p": self.surges.max_p,
                  "surge_from_recent_texts": self.surge_from_recent_texts}
        return {k: str(v) for k, v in params.items()}


@dataclass
class NeedsRun:
    """What a needs run produced and decided."""

    run_id: str
    version: str
    promoted: bool
    metrics: dict[str, float]
    champion_before: str | None
    champion_silhouette: float | None
    snapshot: NeedsSnapshot


def prepare_feedback(feedback: pd.DataFrame, as_of: pd.Timestamp | None, history_days: int) -> pd.DataFrame:
    """Feedback up to `as_of` and within `history_days` of it: id, created_at, text, segment, rating."""
    frame = feedback.copy()
    frame["created_at"] = pd.to_datetime(frame["created_at"])
    frame = frame[frame["text"].fillna("").astype(str).str.strip() != ""]
    if frame.empty:
        return frame.assign(segment=[], rating=[])
    as_of = pd.Timestamp(as_of if as_of is not None else frame["created_at"].max()).normalize()
    end = as_of + pd.Timedelta(days=1)
    start = end - pd.Timedelta(days=history_days)
    frame = frame[(frame["created_at"] < end) & (frame["created_at"] >= start)]
    segment = frame["segment"] if "segment" in frame else pd.Series(None, index=frame.index, dtype=object)
    rating = frame["rating"] if "rating" in frame else pd.Series(np.nan, index=frame.index)
    ids = frame["id"].astype(str) if "id" in frame else frame.index.astype(str)
    return pd.DataFrame({"id": ids, "created_at": frame["created_at"], "text": frame["text"].astype(str),
                         "segment": segment.fillna(UNSEGMENTED).astype(str),
                         "rating": pd.to_numeric(rating, errors="coerce")}).reset_index(drop=True)


def _fit_rows(docs: pd.DataFrame, as_of: pd.Timestamp, config: NeedsConfig) -> np.ndarray:
    """Rows to cluster: all if few; else the recent window first (emerging topics must form clusters)."""
    n = len(docs)
    if n <= config.max_fit_texts:
        return np.arange(n)
    rng = np.random.default_rng(config.topics.seed)
    _, recent_start, _ = windows(as_of, config.emergence)
    recent = np.flatnonzero(docs["created_at"].to_numpy() >= recent_start.to_datetime64())
    recent = rng.permutation(recent)[: config.max_fit_texts // 2]
    older = np.setdiff1d(np.arange(n), recent)
    older = rng.choice(older, config.max_fit_texts - len(recent), replace=False)
    return np.sort(np.concatenate([recent, older]))


def _label_rows(ids: np.ndarray, per_topic: int, seed: int) -> np.ndarray:
    """Rows to label topics from: every text of a topic up to `per_topic`, a seeded sample of larger ones."""
    if len(ids) == 0 or np.bincount(ids - ids.min()).max() <= per_topic:
        return np.arange(len(ids))
    rng = np.random.default_rng(seed)
    rows = [r if len(r) <= per_topic else rng.choice(r, per_topic, replace=False)
            for r in (np.flatnonzero(ids == t) for t in np.unique(ids))]
    return np.sort(np.concatenate(rows))


def build_snapshot(docs: pd.DataFrame, x: np.ndarray, topics: TopicSet, as_of: pd.Timestamp,
                   config: NeedsConfig, model: dict) -> NeedsSnapshot:
    """Assign, label, count and test every topic of `topics` on `docs` (rows aligned with `x`)."""
    ids, centrality = nearest_topics(x, topics)
    labelled = docs.assign(topic_id=ids, centrality=centrality)
    # Keywords from at most `max_label_texts` texts per topic: lemmatising is ~1 ms a text, and a
    # thousand texts name a topic as well as a hundred thousand.
    sample = _label_rows(ids, config.max_label_texts, config.topics.seed)
    labels = topic_labels(labelled["text"].iloc[sample].tolist(), ids[sample])
    sizes = labelled["topic_id"].value_counts()
    summary = []
    for t in map(int, topics.ids):
        label = labels.get(t)
        summary.append({"topic_id": t, "label": label.label if label else f"тема {t}",
                        "keywords": label.keywords if label else [], "count": int(sizes.get(t, 0))})
    return NeedsSnapshot(
        model=model, as_of=as_of.date().isoformat(),
        data_until=labelled["created_at"].max().date().isoformat(), freq=config.freq,
        topics=summary, volumes=topic_volumes(labelled, config.freq),
        emerging=emerging_topics(labelled, labels, as_of, config.emergence), topic_set=topics,
        settings={"recent_days": config.emergence.recent_days,
                  "baseline_days": config.emergence.baseline_days},
    )


class NeedsFit(NamedTuple):
    """Topics fitted on `docs[rows]` and the snapshot they give on all of `docs`."""

    topics: TopicFit
    rows: np.ndarray
    snapshot: NeedsSnapshot


def fit_needs(docs: pd.DataFrame, x: np.ndarray, as_of: pd.Timestamp, config: NeedsConfig,
              previous: TopicSet | None = None) -> NeedsFit:
    """Cluster (the recent window also on its own), label and test: the whole pipeline without I/O.

    `docs` from `prepare_feedback` with rows aligned to the embeddings `x`; nothing after `as_of`. When the
    recent window holds more texts than its clustering resolves (`surge_from_recent_texts`), groups of
    surging recent texts over the whole window become candidate topics too (`training.surges`).
    """
    rows = _fit_rows(docs, as_of, config)
    start, recent_start, _ = windows(as_of, config.emergence)
    created = docs["created_at"].to_numpy()
    recent_all = created >= recent_start.to_datetime64()
    surges = None
    if recent_all.sum() > config.surge_from_recent_texts:
        window = created >= start.to_datetime64()
        surges = surging_groups(x[window], recent_all[window], config.surges)
    fit = fit_topics(x[rows], previous, config.topics, recent_all[rows], surges)
    return NeedsFit(fit, rows, build_snapshot(docs, x, fit.topics, as_of, config, model={}))


def _champion_topics(client: MlflowClient) -> tuple[str, TopicSet, str] | None:
    """The champion's version, topics and encoder name, loaded through the pyfunc flavour."""
    info = champion_info(client, NEEDS_MODEL)
    if info is None:
        return None
    model = mlflow.pyfunc.load_model(f"models:/{NEEDS_MODEL}/{info.version}").unwrap_python_model()
    return info.version, model.topics, model.encoder_name


def _model_ref(client: MlflowClient, version: str) -> dict:
    mv = client.get_model_version(NEEDS_MODEL, version)
    trained_at = datetime.fromtimestamp(int(mv.creation_timestamp) / 1000, UTC).isoformat(timespec="seconds")
    return {"name": NEEDS_MODEL, "version": str(version), "trained_at": trained_at}


def train_needs(
    feedback: pd.DataFrame,
    encode: Encode,
    client: MlflowClient,
    artifact_root: str,
    previous: NeedsSnapshot | None = None,
    as_of: pd.Timestamp | str | None = None,
    *,
    encoder_name: str = DEFAULT_EMBEDDING_MODEL,
    config: NeedsConfig | None = None,
    step: Step = lambda _msg: None,
) -> NeedsRun:
    """Find topics (ids carried over from `previous`), detect emerging needs, log, register, decide champion.

    `encode` maps texts to unit float32 rows; `encoder_name` is what the registered pyfunc loads to embed
    texts itself (`text.encoders.TextEncoder.load`).
    """
    config = config or NeedsConfig()
    docs = prepare_feedback(feedback, pd.Timestamp(as_of) if as_of is not None else None, config.days_used)
    if len(docs) < 2:
        raise ValueError("needs training needs at least two feedback texts")
    as_of_day = pd.Timestamp(as_of if as_of is not None else docs["created_at"].max()).normalize()
    step(f"embedding {len(docs)} feedback texts")
    x = np.asarray(encode(docs["text"].tolist()), dtype=np.float32)
    step("clustering texts into topics")
    fit, rows, candidate = fit_needs(docs, x, as_of_day, config, previous.topic_set if previous else None)

    champion = _champion_topics(client)
    champ_sil = None
    if champion is not None and champion[2] == encoder_name and champion[1].centroids.shape[1] == x.shape[1]:
        champ_ids = nearest_topics(x[rows], champion[1])[0]
        champ_sil = topic_silhouette(x[rows], champ_ids, fit.topics.center, config.topics.silhouette_sample,
                                     config.topics.seed)
    promoted = (champ_sil is None or np.isnan(champ_sil)
                or fit.silhouette >= champ_sil - config.champion_tolerance * abs(champ_sil))
    metrics = {"silhouette": fit.silhouette, "topics": float(len(fit.topics.ids)),
               "topics_carried": float(fit.carried), "topics_new": float(fit.created),
               "texts": float(len(docs)), "fit_texts": float(len(rows)),
               "emerging": float(len(candidate.emerging))}

    step("logging and registering the needs model")
    experiment_id = ensure_experiment(client, NEEDS_MODEL, artifact_root)
    with mlflow.start_run(experiment_id=experiment_id) as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params({**config.as_params(), "encoder": encoder_name,
                           "k_chosen": str(len(np.unique(fit.assignments)))})
        mlflow.log_metrics({k: v for k, v in metrics.items() if not np.isnan(v)})
        mlflow.log_metrics({f"silhouette_k{k}": v for k, v in fit.candidates.items() if not np.isnan(v)})
        mlflow.set_tags({"data_from": docs["created_at"].min().date().isoformat(),
                         "data_until": candidate.data_until, "as_of": candidate.as_of,
                         "encoder": encoder_name,
                         "decision": "promoted" if promoted else "challenger",
                         "champion_before": champion[0] if champion else "",
                         "champion_silhouette_same_data": "" if champ_sil is None else f"{champ_sil:.6f}"})
        folder = Path(tmp)
        pd.DataFrame(candidate.topics).assign(keywords=lambda f: f["keywords"].str.join(", ")).to_csv(
            folder / "topics.csv", index=False)
        # Emerging items without their example texts: run artifacts outlive the feedback's retention.
        emerging = [{k: v for k, v in item.items() if k != "examples"}
                    | {"example_ids": [e["id"] for e in item["examples"]]} for item in candidate.emerging]
        (folder / "emerging.json").write_text(json.dumps(emerging, ensure_ascii=False, indent=1), "utf-8")
        mlflow.log_artifacts(tmp, artifact_path="reports")
        model_dir = folder / "model"
        model_dir.mkdir()
        labels = {t["topic_id"]: t["label"] for t in candidate.topics}
        artifacts = save_topic_set(fit.topics, labels, model_dir)
        signature = infer_signature(pd.DataFrame({"text": ["текст"]}),
                                    pd.DataFrame({"topic_id": [0], "label": ["метка"]}))
        info = mlflow.pyfunc.log_model(name="model", python_model=NeedsPyfunc(), artifacts=artifacts,
                                       model_config={"encoder": encoder_name}, pip_requirements=[],
                                       registered_model_name=NEEDS_MODEL, signature=signature)
        version = str(info.registered_model_version)
    client.set_model_version_tag(NEEDS_MODEL, version, "role", "challenger")
    if promoted:
        set_champion(client, NEEDS_MODEL, version)
        snapshot = candidate
        snapshot.model = _model_ref(client, version)
    else:
        assert champion is not None
        snapshot = build_snapshot(docs, x, champion[1], as_of_day, config, _model_ref(client, champion[0]))
    log.info("needs run %s: version %s %s (silhouette %.4f vs champion %s), %d topics, %d emerging",
             run.info.run_id, version, "promoted" if promoted else "challenger", fit.silhouette, champ_sil,
             len(fit.topics.ids), len(snapshot.emerging))
    return NeedsRun(run.info.run_id, version, promoted, metrics, champion[0] if champion else None, champ_sil,
                    snapshot)
