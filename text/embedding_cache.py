"""The embedding cache: vectors in the `embeddings` table, keyed by model and text hash, never by raw text.

Texts not yet cached are embedded in batches of `commit_texts`, each stored in its own transactions as
soon as it is done: a run killed half way keeps every finished batch, and the next run embeds only the
rest (resumable without any state besides the table).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence

import numpy as np
from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError

from text.encoders import Encoder

__all__ = ["COMMIT_TEXTS", "CachedEncoder", "text_hash"]

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]

SQL_CHUNK = 500
"""Rows per SELECT ... IN / INSERT: under SQLite's bound-parameter limit and PostgreSQL's comfort zone."""
COMMIT_TEXTS = 512
"""Texts embedded between commits: a crash loses at most this many (~5 s at 100 texts/s on 2 CPU cores),
while the commit itself (one INSERT of 500 rows) costs well under 1% of the embedding time."""


def text_hash(text: str) -> str:
    """sha256 hex of the UTF-8 text: the cache key, so no raw text is stored next to its vector."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CachedEncoder:
    """An `Encoder` backed by the `embeddings` table: only texts never seen by this model are embedded.

    `hits` / `misses` count distinct texts served from the table / embedded (and stored), over the object's
    lifetime. `progress(done, todo)` is called after each committed batch. Plain SQLAlchemy Core, so SQLite
    and PostgreSQL behave alike; rows written by a concurrent process between our lookup and our insert are
    detected and kept.
    """

    def __init__(self, encoder: Encoder, engine: Engine, model_id: str | None = None, *,
                 commit_texts: int = COMMIT_TEXTS, progress: Progress | None = None) -> None:
        from store.tables import embeddings  # only the cache needs the schema

        self.table = embeddings
        self.encoder = encoder
        self.engine = engine
        self.model_id = model_id or encoder.model_id
        self.dim = encoder.dim
        self.commit_texts = max(1, commit_texts)
        self.progress = progress
        self.hits = 0
        self.misses = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` -> (len(texts), dim) float32, reading the cache and filling it batch by batch."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        hashes = [text_hash(t) for t in texts]
        first_text = dict(zip(hashes, texts, strict=True))  # distinct hash -> one of its texts
        found = self._lookup(list(first_text))
        todo = [h for h in first_text if h not in found]
        self.hits += len(first_text) - len(todo)
        todo.sort(key=lambda h: len(first_text[h]))  # batches of similar lengths pad less
        started = time.perf_counter()
        for start in range(0, len(todo), self.commit_texts):
            batch = todo[start : start + self.commit_texts]
            new = dict(zip(batch, self.encoder.encode([first_text[h] for h in batch]), strict=True))
            self._store(new)  # committed before the next batch starts: a crash keeps it
            found.update(new)
            self.misses += len(batch)
            if self.progress is not None:
                self.progress(start + len(batch), len(todo))
        if todo:
            seconds = time.perf_counter() - started
            log.info("embedded %d texts in %.1f s (%.1f texts/s), %d from the cache", len(todo), seconds,
                     len(todo) / max(seconds, 1e-9), len(first_text) - len(todo))
        return np.stack([found[h] for h in hashes]).astype(np.float32, copy=False)

    def _lookup(self, hashes: list[str]) -> dict[str, np.ndarray]:
        t = self.table
        out: dict[str, np.ndarray] = {}
        stale: list[str] = []
        with self.engine.connect() as conn:
            for i in range(0, len(hashes), SQL_CHUNK):
                rows = conn.execute(
                    select(t.c.text_hash, t.c.dim, t.c.vector).where(
                        t.c.model_id == self.model_id, t.c.text_hash.in_(hashes[i : i + SQL_CHUNK])
                    )
                )
                for h, dim, blob in rows:
                    if dim != self.dim or len(blob) != 4 * dim:
                        stale.append(h)  # written by a different model under this id: re-embed it
                        continue
                    out[h] = np.frombuffer(blob, dtype="<f4")
        if stale:
            with self.engine.begin() as conn:
                for i in range(0, len(stale), SQL_CHUNK):
                    conn.execute(delete(t).where(
                        t.c.model_id == self.model_id, t.c.text_hash.in_(stale[i : i + SQL_CHUNK])
                    ))
        return out

    def _store(self, vectors: dict[str, np.ndarray]) -> None:
        t = self.table
        rows = [
            {"model_id": self.model_id, "text_hash": h, "dim": self.dim,
             "vector": np.asarray(v, dtype="<f4").tobytes()}
            for h, v in vectors.items()
        ]
        for i in range(0, len(rows), SQL_CHUNK):
            chunk = rows[i : i + SQL_CHUNK]
            try:
                with self.engine.begin() as conn:
                    conn.execute(t.insert(), chunk)
            except IntegrityError:
                # Another process cached some of these meanwhile; theirs are equal, insert only the rest.
                have = set(self._lookup([r["text_hash"] for r in chunk]))
                rest = [r for r in chunk if r["text_hash"] not in have]
                if rest:
                    with self.engine.begin() as conn:
                        conn.execute(t.insert(), rest)
