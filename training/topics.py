"""Topics of feedback: clusters of text embeddings with ids that stay the same across retrains.

Embeddings of one encoder share a common direction (multilingual-e5 puts any two texts at cosine
0.7-0.9, and any two topic centroids at 0.95-0.99), so every similarity here is taken after subtracting
the training data's mean embedding (`TopicSet.center`). In that centred space distinct Kursk topic
centroids sit below ~0.6 cosine and the same topic refitted on a subsample above ~0.8, which is what
makes one similarity threshold usable for matching topics between retrains.

Default (measured in `bench/needs_quality.py`, see docs/benchmarks.md): Ward agglomerative clustering,
k the best silhouette among candidates of at least one topic per 50 texts (up to 30; silhouette alone
picks 2 topics on real appeals), then the recent window's texts clustered on their own and any cluster
unlike every topic found added as a new one (a new need is a small share of a year, not of 3 weeks).

At scale the caller clusters a sample (`training.needs_training`: at most `max_fit_texts`, the recent window
over-sampled), passes the groups of surging recent texts found over the whole window (`training.surges`) as
extra candidate centroids, and every text is then assigned to its nearest centroid, in blocks.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import HDBSCAN, AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

__all__ = ["TopicConfig", "TopicFit", "TopicSet", "assign_topics", "cluster_labels", "fit_topics",
           "match_topics", "nearest_topics", "silhouette", "topic_silhouette"]

Method = Literal["kmeans", "agglomerative", "hdbscan"]


@dataclass(frozen=True)
class TopicConfig:
    """How topics are found and carried over between retrains."""

    method: Method = "agglomerative"  # Ward: Kursk NMI 0.353 vs k-means 0.300, fewer false items on both worlds
    k_candidates: tuple[int, ...] = (2, 3, 4, 5, 6, 8, 10, 12, 15, 18, 22, 26, 30)
    # At least one topic per this many texts (up to `max_k_floor`): on real appeals the silhouette is flat
    # and peaks at 3 topics (Kursk NMI 0.12), and coarse topics bury a new need inside a large old one.
    texts_per_topic: int = 50
    max_k_floor: int = 30
    min_topic_size: int = 5  # smaller clusters are dissolved into their nearest neighbours
    match_similarity: float = 0.7  # centred cosine above which a new cluster keeps an old topic's id
    # A cluster of the recent texts alone whose centroid is below this centred cosine to every topic of
    # the whole sample is a topic of its own (planted needs: 0.43-0.70; refits of one topic: > 0.8).
    novel_similarity: float = 0.6
    # A surge group (`training.surges`) at or above this centred cosine to a topic found is that topic.
    duplicate_similarity: float = 0.8
    recent_texts_per_topic: int = 25  # finer for the recent texts: a need starts small (alt world: -6 days)
    silhouette_sample: int = 2000
    seed: int = 0


@dataclass(frozen=True)
class TopicSet:
    """Topic ids with their centroids (unit mean embeddings, raw space) and the centring vector."""

    ids: np.ndarray  # int64, (k,)
    centroids: np.ndarray  # float32, (k, d)
    center: np.ndarray  # float32, (d,)
    next_id: int  # never reused: a retired topic's id does not come back for another topic


@dataclass
class TopicFit:
    """A clustering of the training texts, as topic ids per text, with its quality."""

    topics: TopicSet
    assignments: np.ndarray  # topic id per training row
    silhouette: float
    carried: int  # topics matched to a previous id
    created: int  # topics with a new id
    candidates: dict[int, float] = field(default_factory=dict)  # k -> silhouette, for the run's log


def _unit(a: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=-1, keepdims=True)
    return (a / np.where(norms == 0, 1.0, norms)).astype(np.float32)


def _centred(a: np.ndarray, center: np.ndarray) -> np.ndarray:
    return _unit(a - center)


def silhouette(z: np.ndarray, labels: np.ndarray, sample: int = 2000, seed: int = 0) -> float:
    """Cosine silhouette on at most `sample` rows (NaN with fewer than two clusters)."""
    if len(np.unique(labels)) < 2 or len(labels) < 3:
        return float("nan")
    size = min(sample, len(labels))
    return float(silhouette_score(z, labels, metric="cosine", sample_size=size, random_state=seed))


def cluster_labels(z: np.ndarray, config: TopicConfig) -> tuple[np.ndarray, dict[int, float]]:
    """Raw cluster labels 0..k-1 of centred unit vectors `z` (-1: HDBSCAN noise) and k -> silhouette tried."""
    n = len(z)
    if config.method == "hdbscan":
        # HDBSCAN calls everything noise in 384 dimensions (Kursk); 20 PCA dimensions keep a density signal.
        reduced = PCA(min(20, n - 1, z.shape[1]), random_state=config.seed).fit_transform(z)
        hdbscan = HDBSCAN(min_cluster_size=config.min_topic_size, min_samples=3, copy=True)
        return hdbscan.fit_predict(reduced), {}
    floor = min(max(2, n // config.texts_per_topic), config.max_k_floor)
    ks = [k for k in config.k_candidates if floor <= k <= max(2, n // config.min_topic_size)] or [2]
    tried: dict[int, float] = {}
    best: tuple[float, np.ndarray] | None = None
    for k in ks:
        if config.method == "kmeans":
            labels = KMeans(k, n_init=3, random_state=config.seed).fit_predict(z)
        else:
            labels = AgglomerativeClustering(k, linkage="ward").fit_predict(z)
        tried[k] = silhouette(z, labels, config.silhouette_sample, config.seed)
        if best is None or tried[k] > best[0]:
            best = (tried[k], labels)
    assert best is not None
    return best[1], tried


def _cluster_means(x: np.ndarray, labels: np.ndarray, min_size: int) -> np.ndarray:
    """Unit mean embeddings of the clusters with at least `min_size` members (noise label -1 skipped)."""
    kept = [c for c, size in zip(*np.unique(labels[labels >= 0], return_counts=True), strict=True)
            if size >= min_size]
    if not kept:  # too few texts for any topic: all of them form one
        return _unit(x.mean(axis=0, keepdims=True))
    return _unit(np.vstack([x[labels == c].mean(axis=0) for c in kept]))


def match_topics(centroids: np.ndarray, previous: TopicSet | None,
                 threshold: float) -> tuple[np.ndarray, int]:
    """Ids for new centroids: an old topic's id when the one-to-one best match is similar enough, else new.

    Hungarian assignment maximises total centred cosine; pairs below `threshold` are not matched. Returns
    the ids and the next free id.
    """
    k = len(centroids)
    if previous is None or len(previous.ids) == 0:
        return np.arange(k, dtype=np.int64), k
    sim = _centred(centroids, previous.center) @ _centred(previous.centroids, previous.center).T
    rows, cols = linear_sum_assignment(-sim)
    ids = np.full(k, -1, dtype=np.int64)
    for r, c in zip(rows, cols, strict=True):
        if sim[r, c] >= threshold:
            ids[r] = previous.ids[c]
    next_id = max(previous.next_id, int(previous.ids.max()) + 1)
    for r in np.flatnonzero(ids < 0):
        ids[r], next_id = next_id, next_id + 1
    return ids, next_id


ASSIGN_BLOCK = 65_536
"""Rows centred at a time when assigning: memory stays ~25 MB per block however many texts there are."""


def nearest_topics(x: np.ndarray, topics: TopicSet) -> tuple[np.ndarray, np.ndarray]:
    """The nearest topic id of each embedding row by centred cosine, and that cosine."""
    ids = np.empty(len(x), dtype=np.int64)
    best_sim = np.empty(len(x), dtype=np.float32)
    centroids = _centred(topics.centroids, topics.center).T
    for start in range(0, len(x), ASSIGN_BLOCK):
        z = _centred(np.asarray(x[start : start + ASSIGN_BLOCK], dtype=np.float32), topics.center)
        sim = z @ centroids
        best = sim.argmax(axis=1)
        ids[start : start + len(z)] = topics.ids[best]
        best_sim[start : start + len(z)] = sim[np.arange(len(z)), best]
    return ids, best_sim


def assign_topics(x: np.ndarray, topics: TopicSet) -> np.ndarray:
    """The topic id of each embedding row: its nearest centroid by centred cosine."""
    return nearest_topics(x, topics)[0]


def topic_silhouette(x: np.ndarray, assignments: np.ndarray, center: np.ndarray, sample: int = 2000,
                     seed: int = 0) -> float:
    """Cosine silhouette of a topic assignment of `x` in the space centred on `center` (for comparisons)."""
    return silhouette(_centred(np.asarray(x, dtype=np.float32), center), assignments, sample, seed)


def _novel_centroids(x: np.ndarray, z: np.ndarray, centroids: np.ndarray, center: np.ndarray,
                     config: TopicConfig) -> np.ndarray:
    """Centroids of clusters of the recent texts (`x`, `z` rows) unlike every topic in `centroids`."""
    if len(x) < 2 * config.min_topic_size:
        return np.empty((0, x.shape[1]), dtype=np.float32)
    labels, _ = cluster_labels(z, replace(config, texts_per_topic=config.recent_texts_per_topic))
    recent = _cluster_means(x, labels, config.min_topic_size)
    best = (_centred(recent, center) @ _centred(centroids, center).T).max(axis=1)
    return recent[best < config.novel_similarity]


def _new_surges(surges: np.ndarray, centroids: np.ndarray, center: np.ndarray, threshold: float) -> np.ndarray:
    """The surge centroids not already a topic: below `threshold` centred cosine to every centroid."""
    if len(surges) == 0:
        return surges.reshape(0, centroids.shape[1]).astype(np.float32)
    best = (_centred(surges, center) @ _centred(centroids, center).T).max(axis=1)
    return surges[best < threshold].astype(np.float32)


def fit_topics(x: np.ndarray, previous: TopicSet | None = None, config: TopicConfig | None = None,
               recent: np.ndarray | None = None, surges: np.ndarray | None = None) -> TopicFit:
    """Cluster unit embeddings `x` into topics, keeping the ids of `previous` topics that reappear.

    `surges` (unit centroids of surging recent texts, `training.surges`) are added unless a topic found
    already is one. `recent` (bool per row) marks the texts of the recent window: they are clustered once
    more on their own, and clusters unlike every topic (and surge) found are added as topics. Clusters below
    `min_topic_size` (and HDBSCAN noise) are dissolved: every text then goes to its nearest kept centroid,
    the same rule that assigns texts after training, so counts agree.
    """
    config = config or TopicConfig()
    x = np.asarray(x, dtype=np.float32)
    center = x.mean(axis=0).astype(np.float32)
    z = _centred(x, center)
    # One thread: OpenBLAS threads inside sklearn's OpenMP k-means oversubscribe a busy machine
    # (4000 x 384, k=20: 10 s with 2 threads on 2 shared cores, 0.4 s with one).
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", category=FutureWarning)
        labels, tried = cluster_labels(z, config)
        centroids = _cluster_means(x, labels, config.min_topic_size)
        if surges is not None:
            # Before the recent clustering: its coarser clusters can merge two small needs into one, which
            # then resembles each surge too little to be dropped as a duplicate, and both would be lost.
            centroids = np.vstack([centroids, _new_surges(np.asarray(surges, dtype=np.float32), centroids,
                                                          center, config.duplicate_similarity)])
        if recent is not None:
            mask = np.asarray(recent, dtype=bool)
            novel = _novel_centroids(x[mask], z[mask], centroids, center, config)
            centroids = np.vstack([centroids, novel])
    ids, next_id = match_topics(centroids, previous, config.match_similarity)
    topics = TopicSet(ids, centroids, center, next_id)
    assignments = assign_topics(x, topics)
    carried = 0 if previous is None else int(np.isin(ids, previous.ids).sum())
    return TopicFit(topics, assignments, silhouette(z, assignments, config.silhouette_sample, config.seed),
                    carried, len(ids) - carried, tried)
