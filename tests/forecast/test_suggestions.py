"""Suggestions rank services by forecast growth, matched emerging needs and life events, with reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.insights import build_insights, topic_service_matches
from forecast.segments import segment_summaries
from forecast.suggestions import segment_suggestions

DAYS = pd.date_range("2026-09-01", "2026-10-31")
SERVICES = pd.DataFrame({
    "service": ["birth", "benefit", "passport", "rehab"],
    "name": ["Регистрация рождения", "Пособие на детей", "Паспорт", "Средства реабилитации"],
    "description": ["", "", "", ""],
    "life_event": ["birth_of_child", "birth_of_child", None, None],
    "handle_minutes": [15.0] * 4,
})


def _usage() -> pd.DataFrame:
    rows = []
    for day in DAYS:
        rows += [(day, "birth", "families", "all", 10), (day, "benefit", "families", "all", 1),
                 (day, "passport", "families", "all", 5), (day, "rehab", "pensioners", "all", 2)]
    return pd.DataFrame(rows, columns=["date", "service", "segment", "region", "count"]).astype({"count": float})


def _forecasts(passport_level: float) -> pd.DataFrame:
    ahead = pd.date_range("2026-11-01", periods=28)
    rows = [(s, "families", "all", d, 0.0, level, level * 1.2)
            for d in ahead for s, level in (("birth", 10.0), ("benefit", 1.0), ("passport", passport_level))]
    rows += [("rehab", "pensioners", "all", d, 0.0, 2.0, 3.0) for d in ahead]
    table = pd.DataFrame(rows, columns=["service", "segment", "region", "date", "p10", "p50", "p90"])
    return table.assign(mean=table["p50"])


def test_growth_and_life_event_signals_with_reasons_in_both_languages() -> None:
    items = segment_suggestions("families", _forecasts(passport_level=15.0), _usage(), SERVICES, [], None)
    ranked = [i["service"] for i in items]
    assert ranked[0] == "passport"  # 5/day -> 15/day forecast
    assert "benefit" in ranked  # same life event as the much-used birth registration
    passport = items[0]
    assert "спрос" in passport["reasons"]["ru"][0] and "demand" in passport["reasons"]["en"][0]
    benefit = next(i for i in items if i["service"] == "benefit")
    assert benefit["signals"]["life_event"] > 0 and "birth of a child" in benefit["reasons"]["en"][0]
    assert "«рождение ребёнка»" in benefit["reasons"]["ru"][0]  # the life event by its name, not its code
    # Steady demand gives no growth signal.
    steady = segment_suggestions("families", _forecasts(passport_level=5.0), _usage(), SERVICES, [], None)
    assert "passport" not in [i["service"] for i in steady]


def test_an_emerging_need_lifts_its_matched_service_only_in_its_segment() -> None:
    emerging = [{"topic_id": 7, "label": "сертификат · реабилитация", "segment": "pensioners", "score": 20.0,
                 "growth": 6.0}]
    matches = pd.DataFrame({"topic_id": [7, 7], "service": ["rehab", "passport"], "similarity": [0.9, 0.8],
                            "lift": [0.08, 0.001]})
    items = segment_suggestions("pensioners", _forecasts(5.0), _usage(), SERVICES, emerging, matches)
    assert [i["service"] for i in items] == ["rehab"]
    assert "сертификат" in items[0]["reasons"]["ru"][0]
    families = segment_suggestions("families", _forecasts(5.0), _usage(), SERVICES, emerging, matches)
    assert all(i["signals"]["needs"] == 0 for i in families)


def test_topic_service_matches_pick_the_closest_description() -> None:
    services = SERVICES.assign(description=["a", "b", "c", "d"])
    vectors = np.eye(4, dtype=np.float32)

    def encode(texts: list[str]) -> np.ndarray:
        return vectors[: len(texts)]

    centroids = np.array([[0.1, 0.1, 0.1, 0.97]], dtype=np.float32)
    matches = topic_service_matches(np.array([3]), centroids, services, encode)
    best = matches.sort_values("similarity").iloc[-1]
    assert best["service"] == "rehab" and best["lift"] > 0.5


def test_segment_summaries_and_insights_document() -> None:
    feedback = pd.DataFrame({"created_at": pd.to_datetime(["2026-10-30", "2026-10-01", "2026-10-30"]),
                             "segment": ["families", "families", "pensioners"], "rating": [2.0, 4.0, 5.0]})
    summary = {s["segment"]: s for s in segment_summaries(_usage(), feedback, _forecasts(15.0))}
    families = summary["families"]
    assert families["series"] == 3 and families["recent_volume"] == 16 * 28
    assert families["mean_rating"] == 3.0 and families["recent_mean_rating"] == 2.0
    assert families["trend"] > 0.5  # 26/day forecast vs 16/day recently
    doc = build_insights(_usage(), feedback, _forecasts(15.0), SERVICES, [], None)
    assert set(doc["suggestions"]) == {"families", "pensioners"} and len(doc["segments"]) == 2
