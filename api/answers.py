"""Encoded answers kept per served snapshot, so a repeated query is a dictionary lookup, not pandas and JSON."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

__all__ = ["Answer", "AnswerCache"]


@dataclass(frozen=True)
class Answer:
    body: bytes
    media_type: str


@dataclass
class AnswerCache:
    """Least-recently-used answers of one snapshot, bounded in bytes; a new snapshot starts an empty cache.

    Used from the event loop only (no locks): routes look up and store here and compute misses in a thread.
    """

    max_bytes: int = 64 * 1024 * 1024
    _snapshot: object | None = None
    _answers: dict[Hashable, Answer] = field(default_factory=dict)
    _bytes: int = 0

    def get(self, snapshot: object, key: Hashable) -> Answer | None:
        if snapshot is not self._snapshot:
            self._snapshot, self._answers, self._bytes = snapshot, {}, 0
            return None
        answer = self._answers.pop(key, None)
        if answer is not None:
            self._answers[key] = answer  # most recently used last
        return answer

    def put(self, snapshot: object, key: Hashable, answer: Answer) -> None:
        if snapshot is not self._snapshot or len(answer.body) > self.max_bytes:
            return
        old = self._answers.pop(key, None)
        self._bytes += len(answer.body) - (len(old.body) if old else 0)
        self._answers[key] = answer
        while self._bytes > self.max_bytes:
            self._bytes -= len(self._answers.pop(next(iter(self._answers))).body)
