"""Issue 11, finding 5: a segment with one feedback showed its rating, count and topic label; now they are withheld."""

from __future__ import annotations

import pandas as pd

from forecast.insights import build_insights
from forecast.small_cells import hidden_need_labels, suppress_emerging, suppress_segments, suppress_topics

NEED = {"topic_id": 7, "label": "сотрудница окна · нахамить", "keywords": ["сотрудница окна", "нахамить"],
        "segment": "seg0", "recent_count": 1, "baseline_count": 0, "growth": 9.0, "score": 3.0,
        "first_seen": "2026-06-20", "mean_rating": 1.0, "p_value": 0.01, "q_value": 0.02,
        "examples": [{"id": "fb-1", "text": "Сотрудница окна мне нахамила", "created_at": "2026-06-20T10:00:00"}]}


def test_an_emerging_need_of_one_feedback_shows_nothing_of_it() -> None:
    small, big = suppress_emerging([NEED, {**NEED, "topic_id": 8, "recent_count": 30, "baseline_count": 5}], 10)
    assert small["suppressed"] is True and small["min_cell"] == 10
    for field in ("label", "keywords", "recent_count", "baseline_count", "mean_rating", "examples", "growth"):
        assert small[field] is None
    assert small["topic_id"] == 7 and small["segment"] == "seg0"
    assert big["suppressed"] is False and big["label"] == NEED["label"] and big["examples"]
    assert suppress_emerging([NEED], 1)[0]["label"] == NEED["label"]  # the threshold is the setting's


def test_topics_withhold_small_topics_segments_and_periods() -> None:
    topics = [
        {"topic_id": 1, "label": "очередь", "keywords": ["очередь"], "count": 40, "segments": {"seg0": 37, "seg1": 3},
         "volume": [{"period": "2026-06-01", "count": 35}, {"period": "2026-06-08", "count": 5}]},
        {"topic_id": 2, "label": "нахамить", "keywords": ["нахамить"], "count": 2, "segments": {"seg1": 2},
         "volume": [{"period": "2026-06-08", "count": 2}]},
    ]
    big, small = suppress_topics(topics, 10)
    assert big["count"] == 40 and big["segments"] == {"seg0": 37, "seg1": None} and big["suppressed"] is True
    assert big["volume"][1] == {"period": "2026-06-08", "count": None, "suppressed": True}
    assert small["label"] is None and small["count"] is None and small["volume"] is None and small["suppressed"]


def test_segments_withhold_ratings_of_few_respondents() -> None:
    one, recent_few, many = suppress_segments([
        {"segment": "a", "mean_rating": 1.0, "recent_mean_rating": 1.0, "feedback_count": 1,
         "recent_feedback_count": 1},
        {"segment": "b", "mean_rating": 3.0, "recent_mean_rating": 2.0, "feedback_count": 50,
         "recent_feedback_count": 3},
        {"segment": "c", "mean_rating": 4.0, "recent_mean_rating": 4.1, "feedback_count": 50,
         "recent_feedback_count": 20},
    ], 10)
    assert one["suppressed"] and one["mean_rating"] is None and one["feedback_count"] is None
    assert recent_few["suppressed"] and recent_few["mean_rating"] == 3.0 and recent_few["recent_mean_rating"] is None
    assert not many["suppressed"] and many["recent_mean_rating"] == 4.1


def test_suggestions_never_name_a_small_need() -> None:
    usage = pd.DataFrame({"date": pd.date_range("2026-05-01", periods=60, freq="D"), "service": "svc0",
                          "segment": "seg0", "region": "all", "count": 5})
    forecasts = pd.DataFrame({"service": "svc0", "segment": "seg0", "region": "all",
                              "date": pd.date_range("2026-07-01", periods=7, freq="D"), "mean": 9.0})
    services = pd.DataFrame({"service": ["svc0"], "name": ["Паспорт"], "description": [""], "life_event": [None]})
    matches = pd.DataFrame({"topic_id": [7], "service": ["svc0"], "similarity": [0.9], "lift": [0.5]})
    feedback = pd.DataFrame(columns=["created_at", "segment", "service", "rating"])
    doc = build_insights(usage, feedback, forecasts, services, [NEED], matches, min_cell=10)
    reasons = [r for item in doc["suggestions"]["seg0"] for r in item["reasons"]["ru"]]
    assert not [r for r in reasons if "нахамить" in r]
    doc = build_insights(usage, feedback, forecasts, services, [NEED], matches, min_cell=1)
    assert [r for item in doc["suggestions"]["seg0"] for r in item["reasons"]["ru"] if "нахамить" in r]
    assert hidden_need_labels([NEED], "seg0", 10) == {NEED["label"]} and not hidden_need_labels([NEED], "seg1", 10)
