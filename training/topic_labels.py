"""Keyword labels of topics by class-based TF-IDF (c-TF-IDF, as in BERTopic) over lemmas and bigrams.

All texts of a topic form one document; a term's weight in topic c is
`tf(t, c) / |c| * log(1 + A / f(t))`, with `|c|` the topic's term count, `A` the mean term count per
topic and `f(t)` the term's count over all topics: frequent in this topic and rare elsewhere. Terms
are lemmas and lemma bigrams (shown in their most common readable form, «запись к врачу»), kept only
when at least `min_docs` texts of the topic use them, so one long text cannot name a topic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer

from text.tokens import bigrams, lemmas

__all__ = ["TopicLabel", "c_tf_idf", "topic_labels"]

SEPARATOR = " · "


@dataclass(frozen=True)
class TopicLabel:
    """A topic's readable label and its keywords, best first."""

    topic_id: int
    label: str
    keywords: list[str]


def c_tf_idf(counts: sparse.csr_matrix) -> sparse.csr_matrix:
    """c-TF-IDF weights of a (topics x terms) count matrix."""
    counts = sparse.csr_matrix(counts, dtype=np.float64)
    per_topic = np.asarray(counts.sum(axis=1)).ravel()
    tf = sparse.diags(1.0 / np.where(per_topic == 0, 1.0, per_topic)) @ counts
    per_term = np.asarray(counts.sum(axis=0)).ravel()
    mean_words = per_topic.mean() if len(per_topic) else 0.0
    idf = np.log(1.0 + mean_words / np.where(per_term == 0, 1.0, per_term))
    return sparse.csr_matrix(tf @ sparse.diags(idf))


def _readable_terms(ranked: list[tuple[str, float]], display: dict[str, str], label_terms: int) -> list[str]:
    """The label's terms: best first, no lemma said twice.

    A bigram replaces a chosen word it contains when it carries two thirds of the word's weight (most
    uses of «врач» are «запись к врачу»), so a rare phrase does not displace a common word. Only the top
    `3 * label_terms` terms are considered.
    """
    chosen: list[tuple[set[str], str, float]] = []
    for term, weight in ranked[: 3 * label_terms]:
        parts = set(term.split())
        inside = [c for c in chosen if c[0] < parts]
        others = [c for c in chosen if c not in inside]
        if any(parts & c[0] for c in others):
            continue  # would say a chosen lemma twice
        if inside:
            if all(weight >= 2 / 3 * c[2] for c in inside):
                at = chosen.index(inside[0])
                chosen = [c for c in chosen if c not in inside]
                chosen.insert(at, (parts, term, weight))
        elif len(chosen) < label_terms:
            chosen.append((parts, term, weight))
    return [display.get(term, term) for _, term, _ in chosen]


def topic_labels(texts: Sequence[str], topic_ids: np.ndarray, top_n: int = 8, label_terms: int = 3,
                 min_docs: int = 2) -> dict[int, TopicLabel]:
    """Label and keywords of every topic in `topic_ids` from the texts assigned to it."""
    topic_ids = np.asarray(topic_ids)
    display_votes: dict[str, Counter[str]] = {}
    docs: list[list[str]] = []
    for text in texts:
        grams = bigrams(text)
        for g in grams:
            display_votes.setdefault(g.key, Counter())[g.display] += 1
        # A term counts once per text: a topic's keywords are what many texts say, not one long text.
        docs.append(list(dict.fromkeys([*lemmas(text), *(g.key for g in grams)])))
    display = {key: votes.most_common(1)[0][0] for key, votes in display_votes.items()}
    topics = np.unique(topic_ids)
    if not docs or not any(docs):
        return {int(t): TopicLabel(int(t), f"тема {int(t)}", []) for t in topics}
    vectorizer = CountVectorizer(analyzer=lambda doc: doc, binary=True)
    doc_terms = vectorizer.fit_transform(docs)
    terms = vectorizer.get_feature_names_out()
    membership = sparse.csr_matrix((np.ones(len(topic_ids)), (np.searchsorted(topics, topic_ids),
                                                               np.arange(len(topic_ids)))),
                                   shape=(len(topics), len(topic_ids)))
    counts = sparse.csr_matrix(membership @ doc_terms)
    weights = c_tf_idf(counts).toarray()
    weights[counts.toarray() < min_docs] = 0.0
    out: dict[int, TopicLabel] = {}
    for row, topic in enumerate(topics):
        order = [i for i in np.argsort(-weights[row], kind="stable") if weights[row, i] > 0]
        ranked = [(str(terms[i]), float(weights[row, i])) for i in order[: 4 * top_n]]
        keywords = [display.get(t, t) for t, _ in ranked[:top_n]]
        label_parts = _readable_terms(ranked, display, label_terms)
        label = SEPARATOR.join(label_parts) if label_parts else f"тема {int(topic)}"
        out[int(topic)] = TopicLabel(int(topic), label, keywords)
    return out
