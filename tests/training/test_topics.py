"""Topics from the real bundled encoder on small built corpora: stable ids, new ids, readable labels."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from needcast.settings import DEFAULT_EMBEDDING_MODEL, Settings
from text.encoders import TextEncoder
from text.tokens import bigrams, lemmas
from training.topic_labels import topic_labels
from training.topics import TopicConfig, assign_topics, fit_topics

# Per topic: openings x cores x details, so texts of a topic vary but share their words.
TOPICS: dict[str, tuple[list[str], list[str]]] = {
    "doctor": (["Не могу записаться к врачу через портал", "Запись к врачу на портале не работает",
                "Третий день не получается записаться к терапевту онлайн"],
               ["выдаёт ошибку", "пишет что нет свободных талонов", "зависает на выборе поликлиники"]),
    "queue": (["В МФЦ огромная очередь", "Простоял в очереди в МФЦ два часа",
               "Электронная очередь в МФЦ не движется"],
              ["работает одно окно", "талоны закончились с утра", "сотрудников не хватает"]),
    "kindergarten": (["Нет мест в детском саду", "Ребёнка не берут в детский сад",
                      "Очередь в детский сад не двигается"],
                     ["ждём уже год", "предлагают сад на другом конце города",
                      "в группах по тридцать детей"]),
    "garbage": (["Не вывозят мусор со двора", "Мусорные контейнеры переполнены",
                 "Контейнерная площадка завалена мусором"],
                ["уже неделю", "воняет на весь двор", "крысы бегают у подъезда"]),
    "lighting": (["Не горят фонари на улице", "На нашей улице нет освещения",
                  "Уличное освещение не работает"],
                 ["вечером страшно ходить", "темно у остановки", "столб с фонарём сломан"]),
    "benefit": (["Задерживают выплату пособия на ребёнка", "Не пришло единое пособие за этот месяц",
                 "Пособие на детей перестали платить"],
                ["в соцзащите ничего не объясняют", "заявление одобрено но денег нет",
                 "семья осталась без денег"]),
}
NEW_TOPIC = "heating"
NEW_TEXTS = (["В квартире нет отопления", "Батареи холодные", "Отключили отопление в доме"],
             ["дома плюс пятнадцать", "дети болеют", "управляющая компания не отвечает"])


def _texts(name: str, phrases: tuple[list[str], list[str]], n: int, seed: int) -> list[str]:
    combos = [f"{a}, {b}." for a, b in itertools.product(*phrases)]
    extras = ["", " Примите меры!", " Сколько можно ждать?", " Прошу разобраться.", " [ТЕЛЕФОН]"]
    rnd = random.Random(f"{name}{seed}")
    return [rnd.choice(combos) + rnd.choice(extras) for _ in range(n)]


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    """The real bundled multilingual-e5-small (loaded once per process)."""
    return TextEncoder.load(DEFAULT_EMBEDDING_MODEL, Settings().models_dir)


@pytest.fixture(scope="module")
def corpus(encoder: TextEncoder) -> tuple[list[str], np.ndarray, np.ndarray]:
    texts, groups = [], []
    for g, (name, phrases) in enumerate(TOPICS.items()):
        chunk = _texts(name, phrases, 14, 0)
        texts += chunk
        groups += [g] * len(chunk)
    return texts, np.asarray(groups), encoder.encode(texts)


def _majority(ids: np.ndarray, groups: np.ndarray) -> dict[int, int]:
    return {int(g): int(np.bincount(ids[groups == g]).argmax()) for g in np.unique(groups)}


def test_topics_recover_the_planted_groups(corpus) -> None:
    _, groups, x = corpus
    fit = fit_topics(x)
    majority = _majority(fit.assignments, groups)
    assert len(set(majority.values())) == len(TOPICS)  # each group has its own main topic
    purity = np.mean([np.mean(fit.assignments[groups == g] == t) for g, t in majority.items()])
    assert purity > 0.9
    assert fit.silhouette > 0.05 and fit.created == len(fit.topics.ids) and fit.carried == 0


def test_same_data_reclustered_keeps_every_id(corpus) -> None:
    _, _, x = corpus
    first = fit_topics(x)
    again = fit_topics(x, previous=first.topics)
    assert np.array_equal(first.assignments, again.assignments)
    assert sorted(again.topics.ids) == sorted(first.topics.ids) and again.created == 0
    # A different seed and row order still lands each text in a topic with its old id.
    order = np.random.default_rng(1).permutation(len(x))
    shuffled = fit_topics(x[order], previous=first.topics, config=TopicConfig(seed=7))
    agree = np.mean(shuffled.assignments == first.assignments[order])
    assert agree > 0.9


def test_a_new_cluster_gets_a_new_id_and_old_ones_keep_theirs(corpus, encoder) -> None:
    _, groups, x = corpus
    first = fit_topics(x)
    new_texts = _texts(NEW_TOPIC, NEW_TEXTS, 14, 1)
    x2 = np.vstack([x, encoder.encode(new_texts)])
    groups2 = np.concatenate([groups, np.full(len(new_texts), len(TOPICS))])
    second = fit_topics(x2, previous=first.topics)
    old, new = _majority(first.assignments, groups), _majority(second.assignments, groups2)
    assert all(new[g] == old[g] for g in old)
    assert new[len(TOPICS)] not in first.topics.ids
    assert new[len(TOPICS)] >= int(first.topics.ids.max()) + 1 and second.created >= 1
    # Ids are never reused: the next fit continues after the highest id ever given.
    assert second.topics.next_id > max(second.topics.ids)
    assert np.array_equal(assign_topics(x2, second.topics), second.assignments)


def test_small_clusters_are_dissolved_into_their_neighbours(corpus) -> None:
    _, _, x = corpus
    fit = fit_topics(x, config=TopicConfig(min_topic_size=20, k_candidates=(4, 6)))
    sizes = np.unique(fit.assignments, return_counts=True)[1]
    assert len(sizes) == len(fit.topics.ids) and sizes.sum() == len(x)


def test_labels_are_readable_russian_lemmas(corpus) -> None:
    texts, groups, _ = corpus
    labels = topic_labels(texts, groups)
    names = list(TOPICS)
    by_name = {names[g]: labels[g] for g in labels}
    assert "мфц" in by_name["queue"].label and "очередь" in by_name["queue"].label
    assert "детский сад" in by_name["kindergarten"].keywords
    assert any(k in by_name["doctor"].label for k in ("записаться к врачу", "врач", "запись"))
    assert "пособие" in by_name["benefit"].label
    for label in labels.values():
        parts = label.label.split(" · ")
        assert 1 <= len(parts) <= 3 and len(set(parts)) == len(parts)
        words = [k for k in label.keywords if " " not in k]  # phrases keep their prepositions
        assert not {"не", "в", "на", "телефон", "прошу", "мочь"} & set(words)
        assert all(w.isalpha() and len(w) >= 3 for w in words)


def test_tokens_drop_placeholders_numbers_stop_words_and_lemmatise() -> None:
    assert lemmas("Записи к врачам [ТЕЛЕФОН] 2024 в МФЦ, ок") == ["запись", "врач", "мфц"]
    assert lemmas("The portals were crashing again") == ["portals", "crashing"]
    shown = {b.key: b.display for b in bigrams("Электронной очереди нет. Записаться к врачу нельзя")}
    assert shown == {"электронный очередь": "электронная очередь", "записаться врач": "записаться к врачу"}
