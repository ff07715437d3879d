"""Proactive service suggestions per segment, precomputed at training/refresh time and served from memory.

Three signals, each scaled to [0, 1] and added with weights:
- demand growth: the segment's forecast for the coming weeks against its recent actual demand;
- emerging needs: the segment's emerging topics matched to services by embedding similarity;
- life events: services sharing a life event with what the segment already uses a lot.
Every item carries the reasons behind its score, in Russian and English.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.segments import RECENT_DAYS

__all__ = ["LIFE_EVENTS", "SuggestionWeights", "life_event_name", "segment_suggestions"]

LIFE_EVENTS = {
    "birth_of_child": ("рождение ребёнка", "birth of a child"),
    "buying_car": ("покупка автомобиля", "buying a car"),
    "buying_home": ("покупка жилья", "buying a home"),
    "child_education": ("учёба ребёнка", "a child's schooling"),
    "coming_of_age": ("совершеннолетие", "coming of age"),
    "commuting": ("поездки на работу и учёбу", "commuting"),
    "disability": ("инвалидность", "disability"),
    "education": ("учёба", "education"),
    "health": ("здоровье", "health"),
    "housing": ("жильё и ЖКХ", "housing"),
    "low_income": ("невысокий доход", "low income"),
    "old_age": ("пожилой возраст", "old age"),
    "retirement": ("выход на пенсию", "retirement"),
    "starting_business": ("открытие своего дела", "starting a business"),
    "tax_return": ("налоговая декларация", "tax return"),
    "travel_abroad": ("поездка за границу", "travel abroad"),
}
"""Names of the common life events (the catalogue's `life_event` codes); another code is shown as it is."""


def life_event_name(code: str, lang: str) -> str:
    names = LIFE_EVENTS.get(code)
    return code.replace("_", " ") if names is None else names[0 if lang == "ru" else 1]


@dataclass(frozen=True)
class SuggestionWeights:
    growth: float = 0.4
    needs: float = 0.4
    life_event: float = 0.2
    min_lift: float = 0.02  # a match's cosine above the topic's mean cosine to all services


def _growth_by_service(segment: str, recent: pd.DataFrame, forecasts: pd.DataFrame, days: int) -> pd.DataFrame:
    """Per service: forecast mean over the horizon vs the same number of recent actual days (per day)."""
    fc = forecasts[forecasts["segment"] == segment]
    ahead = fc.groupby("service")["mean"].sum() / max(fc["date"].nunique(), 1)
    past = recent[recent["segment"] == segment].groupby("service")["count"].sum() / days
    table = pd.DataFrame({"ahead": ahead, "past": past}).fillna(0.0)
    # A prior of one request a day keeps tiny services from topping the list on noise.
    table["growth"] = (table["ahead"] + 1.0) / (table["past"] + 1.0) - 1.0
    return table


def segment_suggestions(
    segment: str,
    forecasts: pd.DataFrame,
    usage: pd.DataFrame,
    services: pd.DataFrame,
    emerging: list[dict],
    similarity: pd.DataFrame | None,
    weights: SuggestionWeights = SuggestionWeights(),
    recent_days: int = RECENT_DAYS,
) -> list[dict]:
    """Ranked suggestions for one segment: service, name, score and reasons {ru: [...], en: [...]}.

    `similarity`: rows topic_id, service, similarity, lift (see `forecast.insights.topic_service_matches`).
    """
    catalogue = services.set_index("service")
    last_day = usage["date"].max()
    recent = usage[usage["date"] > last_day - pd.Timedelta(days=recent_days)]
    growth = _growth_by_service(segment, recent, forecasts, recent_days)
    candidates = set(catalogue.index) | set(growth.index)
    scores = {s: {"growth": 0.0, "needs": 0.0, "life_event": 0.0} for s in candidates}
    reasons: dict[str, dict[str, list[str]]] = {s: {"ru": [], "en": []} for s in candidates}

    rising = growth[growth["growth"] > 0.05]
    for service, row in rising.iterrows():
        scores[service]["growth"] = float(np.tanh(row["growth"] / 0.5))
        pct = round(100 * row["growth"])
        reasons[service]["ru"].append(f"ожидаемый спрос в ближайшие недели выше на {pct}% (≈{row['ahead']:.1f} в день)")
        reasons[service]["en"].append(f"demand expected {pct}% higher in the coming weeks (≈{row['ahead']:.1f}/day)")

    if similarity is not None and not similarity.empty:
        for item in (i for i in emerging if i.get("segment") == segment):
            matches = similarity[(similarity["topic_id"] == item["topic_id"])
                                 & (similarity["lift"] >= weights.min_lift)]
            strength = float(np.tanh(max(item.get("score", 0.0), 0.0) / 10.0))
            for match in matches.itertuples(index=False):
                if match.service not in scores:
                    continue
                value = strength * float(np.clip(match.lift / (4 * weights.min_lift), 0, 1))
                if value > scores[match.service]["needs"]:
                    scores[match.service]["needs"] = value
                reasons[match.service]["ru"].append(f"растёт новая потребность «{item['label']}» "
                                                    f"(рост ×{item.get('growth', 0):.1f})")
                reasons[match.service]["en"].append(f"emerging need “{item['label']}” "
                                                    f"(growth ×{item.get('growth', 0):.1f})")

    if "life_event" in catalogue:
        used = recent[recent["segment"] == segment].groupby("service")["count"].sum()
        events = catalogue["life_event"].dropna()
        for event, members in events.groupby(events).groups.items():
            members = list(members)
            volume = used.reindex(members).fillna(0)
            if volume.sum() <= 0:
                continue
            share = volume / volume.sum()
            for service in members:
                # Suggest the less-used services of a life event the segment is living through.
                gap = float(1.0 - share[service])
                if gap > 0.5:
                    scores[service]["life_event"] = max(scores[service]["life_event"], gap)
                    top = volume.idxmax()
                    reasons[service]["ru"].append(f"жизненная ситуация «{life_event_name(event, 'ru')}»: "
                                                  f"часто вместе с "
                                                  f"«{catalogue.loc[top, 'name']}»")
                    reasons[service]["en"].append(f"life event “{life_event_name(event, 'en')}”: often needed "
                                                  f"together with "
                                                  f"“{catalogue.loc[top, 'name']}”")

    items = []
    for service, parts in scores.items():
        score = weights.growth * parts["growth"] + weights.needs * parts["needs"] + \
            weights.life_event * parts["life_event"]
        if score <= 0:
            continue
        name = catalogue.loc[service, "name"] if service in catalogue.index else service
        items.append({"service": service, "name": name, "score": round(score, 4), "reasons": reasons[service],
                      "signals": {k: round(v, 4) for k, v in parts.items()}})
    return sorted(items, key=lambda i: i["score"], reverse=True)
