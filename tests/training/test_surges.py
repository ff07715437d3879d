"""Surges on built vectors: a small group of recent-only texts is found, steady topics give nothing."""

from __future__ import annotations

import numpy as np

from training.surges import SurgeConfig, surging_groups

DIM = 64


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def _window(rng: np.random.Generator, topics: int = 12, per_topic: int = 400, p_recent: float = 0.2,
            spread: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """Steady topics: texts around a few directions, recent with the same probability everywhere."""
    centres = _unit(rng.normal(size=(topics, DIM)))
    x = _unit(np.repeat(centres, per_topic, axis=0) + spread * rng.normal(size=(topics * per_topic, DIM)) / 8)
    return x.astype(np.float32), rng.random(len(x)) < p_recent


def test_a_dozen_recent_texts_of_a_new_kind_form_one_group() -> None:
    rng = np.random.default_rng(0)
    x, recent = _window(rng)
    need = _unit(rng.normal(size=DIM))
    planted = _unit(need + 0.35 * rng.normal(size=(12, DIM)) / 8).astype(np.float32)
    groups = surging_groups(np.vstack([x, planted]), np.concatenate([recent, np.ones(12, bool)]))
    assert len(groups) == 1
    assert float(groups[0] @ need) > 0.95 and abs(np.linalg.norm(groups[0]) - 1) < 1e-5


def test_steady_topics_and_an_old_group_give_no_surge() -> None:
    rng = np.random.default_rng(1)
    x, recent = _window(rng)
    assert len(surging_groups(x, recent)) == 0
    # The same tight group, written before the recent window: dense, but not lately.
    old = _unit(_unit(rng.normal(size=DIM)) + 0.35 * rng.normal(size=(12, DIM)) / 8).astype(np.float32)
    assert len(surging_groups(np.vstack([x, old]), np.concatenate([recent, np.zeros(12, bool)]))) == 0


def test_a_group_smaller_than_the_smallest_topic_is_not_a_surge_and_sampling_keeps_big_ones() -> None:
    rng = np.random.default_rng(2)
    x, recent = _window(rng)
    need = _unit(rng.normal(size=DIM))
    few = _unit(need + 0.35 * rng.normal(size=(3, DIM)) / 8).astype(np.float32)
    assert len(surging_groups(np.vstack([x, few]), np.concatenate([recent, np.ones(3, bool)]))) == 0
    many = _unit(need + 0.35 * rng.normal(size=(60, DIM)) / 8).astype(np.float32)
    sampled = SurgeConfig(max_pool=2500)  # half the window searched: the group still shows
    groups = surging_groups(np.vstack([x, many]), np.concatenate([recent, np.ones(60, bool)]), sampled)
    assert len(groups) == 1 and float(groups[0] @ need) > 0.95
