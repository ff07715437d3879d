"""The answer cache: per snapshot, least recently used out first, bounded in bytes."""

from __future__ import annotations

from api.answers import Answer, AnswerCache


def _answer(size: int) -> Answer:
    return Answer(b"x" * size, "application/json")


def test_answers_are_kept_per_snapshot_and_evicted_least_recently_used_first() -> None:
    cache, snapshot = AnswerCache(max_bytes=30), object()
    assert cache.get(snapshot, "a") is None
    for key in "abc":
        cache.put(snapshot, key, _answer(10))
    assert cache.get(snapshot, "a") is not None  # "a" is now the most recently used
    cache.put(snapshot, "d", _answer(10))
    assert cache.get(snapshot, "b") is None and all(cache.get(snapshot, k) for k in "acd")
    cache.put(snapshot, "big", _answer(31))  # larger than the whole budget: not kept
    assert cache.get(snapshot, "big") is None


def test_a_new_snapshot_starts_empty_and_late_answers_of_the_old_one_are_dropped() -> None:
    cache, old, new = AnswerCache(), object(), object()
    cache.get(old, "k")
    cache.put(old, "k", _answer(3))
    assert cache.get(new, "k") is None
    cache.put(old, "k", _answer(3))  # computed on the old snapshot, finished after the swap
    assert cache.get(new, "k") is None
