"""Surges: groups of recent texts whose nearest neighbours are recent too, as candidate topics.

A need at 0.2% of a large stream is a dozen texts among thousands: a clustering of a sample, or of the
recent window at the resolution a year of topics needs, cannot give it a cluster of its own. Here every
recent text's `neighbours` nearest texts of the emergence window (recent and baseline, centred cosine) are
found. Without a change, a neighbour is recent with probability p0 = the window's share of recent texts, so
a text with r recent neighbours out of k whose binomial tail P(X >= r) is at most `max_p` sits in a region
of the embedding space that filled up lately. Surging texts that list each other as neighbours (both ways:
one-way links chain two nearby needs into one) form a group; a group of at least `min_size` texts becomes
a candidate topic (its unit mean embedding), tested like
every other topic by the emergence test, so a surge that is not a need costs a topic, not a false item.

Neighbours are exact (brute-force BLAS in row blocks, O(recent x window) time, O(block x window) memory);
`max_pool` caps the window texts searched by a uniform sample, which keeps p0 and scales every group alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.stats import binom

__all__ = ["SurgeConfig", "surging_groups"]


@dataclass(frozen=True)
class SurgeConfig:
    """How surging texts are found and grouped."""

    # Below the smallest topic, so a need of under a dozen texts can fill its members' lists; measured on
    # the rare world at 100,000 texts (bench/scale_needs.py): 6-8 neighbours missed a need of 8 recent texts.
    neighbours: int = 4
    max_p: float = 0.03  # per-text tail probability; at p0 = 0.2 and 4 neighbours: 3 or more recent
    min_size: int = 5
    max_pool: int = 60_000  # window texts searched at most (uniform sample above)
    block: int = 512  # query rows per matrix product: ~16 bytes x block x window texts of memory
    seed: int = 0


def _unit(a: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=-1, keepdims=True)
    return (a / np.where(norms == 0, 1.0, norms)).astype(np.float32)


def surging_groups(x: np.ndarray, recent: np.ndarray, config: SurgeConfig | None = None) -> np.ndarray:
    """Unit mean embeddings (raw space) of the groups of surging recent texts, largest group first.

    `x`: unit embeddings of the emergence window's texts; `recent`: bool per row, in the recent window.
    """
    config = config or SurgeConfig()
    x = np.asarray(x, dtype=np.float32)
    recent = np.asarray(recent, dtype=bool)
    empty = np.empty((0, x.shape[1] if x.ndim == 2 else 0), dtype=np.float32)
    if len(x) > config.max_pool:
        keep = np.sort(np.random.default_rng(config.seed).choice(len(x), config.max_pool, replace=False))
        x, recent = x[keep], recent[keep]
    n, k = len(x), config.neighbours
    queries = np.flatnonzero(recent)
    if len(queries) < config.min_size or n <= k or recent.all():
        return empty
    p0 = len(queries) / n
    z = _unit(x - x.mean(axis=0))
    # The fewest recent neighbours that make a text surge: the smallest r with P(X >= r) <= max_p.
    tail = binom.sf(np.arange(k + 1) - 1, k, p0)
    need = int(np.argmax(tail <= config.max_p)) if (tail <= config.max_p).any() else k + 1
    if need > k:
        return empty
    neighbours = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), config.block):
        rows = queries[start : start + config.block]
        distance = np.negative(z[rows] @ z.T)
        distance[np.arange(len(rows)), rows] = np.inf  # a text is not its own neighbour
        neighbours[start : start + len(rows)] = np.argpartition(distance, k, axis=1)[:, :k]
    surging = recent[neighbours].sum(axis=1) >= need
    members = queries[surging]
    if len(members) < config.min_size:
        return empty
    # Links between surging texts that list each other as neighbours, both ways.
    position = np.full(n, -1, dtype=np.int64)
    position[members] = np.arange(len(members))
    src = np.repeat(np.arange(len(members)), k)
    dst = position[neighbours[surging].ravel()]
    linked = dst >= 0
    graph = sparse.csr_matrix((np.ones(linked.sum()), (src[linked], dst[linked])),
                              shape=(len(members), len(members)))
    _, label = connected_components(graph.minimum(graph.T), directed=False)
    sizes = np.bincount(label)
    groups = [g for g in np.argsort(-sizes, kind="stable") if sizes[g] >= config.min_size]
    if not groups:
        return empty
    return _unit(np.vstack([x[members[label == g]].mean(axis=0) for g in groups]))
