"""Generated sample worlds: a Russian region's service usage, citizen feedback and service catalogue.

`generate_world` writes `usage.csv`, `feedback.csv`, `services.csv` (CONTRACT §1), `feedback_topics.csv`
(id, topic) and `truth.json` (what was planted: emerging topics with their ids, campaign events, texts with
personal data), so forecasts and emerging-needs detection can be judged against a known answer.

Worlds: `sample` (MFC services, one emerging topic, what `needcast demo` shows), `alt` (housing, transport
and social support with other topics and wording, three emerging topics in three segments), `events`
(`sample` plus past notification campaigns that lift one service in one segment for two weeks), `leads`
(`sample` plus waves of complaints about three services, each followed five weeks later by a rise in their
demand: feedback that leads demand) and `rare` (a national-scale stream: the sample's topics and five more at
`feedback_texts` texts a year, 100,000 by default, with two planted needs each `need_share` of the recent
stream, 0.2% by default).
Everything is drawn from `numpy.random.default_rng(seed)`, so a seed gives the same files.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import holidays
import numpy as np
import pandas as pd

from features.contract import FEEDBACK, SERVICES, USAGE
from needcast.sample_catalogues import write_catalogues
from needcast.sample_texts import (
    ALT_SERVICES,
    PHRASES,
    SAMPLE_SERVICES,
    ServiceText,
    compose_text,
    personal_data,
)

__all__ = ["DEFAULT_END", "WORLDS", "WorldFiles", "generate_world"]

WORLDS = ("sample", "alt", "events", "leads", "rare")
DEFAULT_END = date(2026, 10, 31)
RECENT_DAYS = 21
"""The recent window of needs training (its default): a planted need's `share` is of these days' texts."""

# P(rating = 1..5) by the tone of a topic.
ANGRY = (0.55, 0.28, 0.1, 0.05, 0.02)
COMPLAINT = (0.4, 0.3, 0.17, 0.09, 0.04)
QUESTION = (0.15, 0.2, 0.35, 0.2, 0.1)
PRAISE = (0.01, 0.01, 0.05, 0.23, 0.7)
# Where texts come from; hours are the channel's working day.
ANY = {"portal": 2, "app": 1.5, "hotline": 1, "mfc": 1.5, "survey": 1, "social": 1}
OFFICE = {"mfc": 3, "survey": 2, "hotline": 1, "social": 1.5, "portal": 0.5}
ONLINE = {"portal": 4, "app": 3, "hotline": 1, "social": 1.5}
HOURS = {"mfc": (8, 20), "survey": (9, 21), "hotline": (8, 20), "portal": (6, 24), "app": (6, 24),
         "social": (7, 24)}
WEEKDAY = np.array([1.08, 1.05, 1.0, 1.02, 0.95, 0.42, 0.04])  # MFC offices: short Saturday, Sunday closed


@dataclass(frozen=True)
class TopicPlan:
    """How often a feedback topic is written, by whom, about what, with which ratings and channels."""

    topic: str
    daily: float  # texts on an ordinary weekday, all segments together
    segments: dict[str, float]
    services: tuple[str, ...] | None  # None: any service the writer's segment uses
    ratings: tuple[float, ...]
    channels: dict[str, float]


@dataclass(frozen=True)
class Emergence:
    """A topic that barely existed, rising in one segment over the last `days` days to `peak` texts a day.

    With `share` > 0 the peak follows the world's volume instead: the topic's texts of the last `RECENT_DAYS`
    days are `share` of all texts written in those days.
    """

    topic: str
    segment: str
    days: int
    peak: float = 0.0
    share: float = 0.0


@dataclass(frozen=True)
class Campaign:
    """A past proactive notification campaign lifting one service in one segment."""

    name: str
    days_before_end: int
    service: str
    segment: str
    lift: float = 1.4
    length: int = 14


@dataclass(frozen=True)
class Lead:
    """Waves of complaints about one service in one segment, each followed `lead_days` later by a demand rise.

    The lead is longer than the 28-day horizon by which feedback features are lagged, so a model can see it.
    """

    topic: str
    service: str
    segment: str
    starts: tuple[int, ...]  # days before the end at which each wave of complaints starts
    lead_days: int = 35
    daily: float = 4.0  # extra texts on an ordinary weekday during a wave, all regions together
    lift: float = 1.6  # demand multiplier during a rise
    length: int = 42  # days of a wave, and of the rise that follows it

    @property
    def plan(self) -> TopicPlan:
        return TopicPlan(self.topic, self.daily, {self.segment: 1.0}, (self.service,), ANGRY, ANY)


@dataclass(frozen=True)
class WorldSpec:
    """Everything that differs between worlds; the generator below is shared."""

    catalogue: tuple[ServiceText, ...]
    regions: dict[str, float]  # region id -> volume relative to the largest
    mix: dict[str, dict[str, float]]  # segment -> service -> mean daily requests in the largest region
    seasons: dict[str, tuple[tuple[int, int, float], ...]]  # service -> bumps (day of year, width, amplitude)
    trends: dict[str, float]  # service -> yearly log growth
    topics: tuple[TopicPlan, ...]
    emerging: tuple[Emergence, ...]
    steady: tuple[str, ...]  # high-volume topics that must never be reported as emerging
    campaigns: tuple[Campaign, ...] = ()
    english_share: float = 0.07
    leads: tuple[Lead, ...] = ()
    feedback_texts: int | None = None  # texts of the steady topics in the last 365 days; None: their `daily`
    feedback_days: int | None = None  # feedback only in the last this many days (None: the whole history)


@dataclass(frozen=True)
class WorldFiles:
    """Paths of a generated world and what was planted in it (the content of `truth.json`)."""

    usage: Path
    feedback: Path
    services: Path
    truth_file: Path
    topics_file: Path
    truth: dict[str, Any]

    @property
    def planted(self) -> list[dict[str, Any]]:
        return self.truth["planted"]


SAMPLE = WorldSpec(
    catalogue=SAMPLE_SERVICES,
    regions={"center": 1.0, "north": 0.55, "south": 0.3},
    mix={
        "pensioners": {"pension_assignment": 8, "pension_recalculation": 10, "housing_subsidy": 6,
                       "medical_appointment": 25, "property_registration": 3, "foreign_passport": 2,
                       "passport_issue": 1.5, "tax_deduction": 1.5, "disability_rehab_means": 3,
                       "vehicle_registration": 0.5},
        "youth": {"passport_issue": 14, "foreign_passport": 9, "vehicle_registration": 4,
                  "medical_appointment": 5, "tax_deduction": 2, "business_registration": 1,
                  "property_registration": 1.5},
        "families": {"birth_registration": 5, "child_benefit": 18, "kindergarten_enrollment": 6,
                     "school_enrollment": 4, "foreign_passport": 6, "housing_subsidy": 4,
                     "medical_appointment": 15, "property_registration": 4, "tax_deduction": 4,
                     "vehicle_registration": 2, "passport_issue": 2},
        "business": {"business_registration": 7, "tax_deduction": 3, "property_registration": 3,
                     "vehicle_registration": 2},
        "students": {"passport_issue": 4, "student_transport_card": 8, "foreign_passport": 3,
                     "medical_appointment": 3, "tax_deduction": 0.5},
        "disabled": {"disability_rehab_means": 5, "medical_appointment": 8, "housing_subsidy": 2,
                     "pension_recalculation": 3, "pension_assignment": 1.2, "passport_issue": 0.4},
    },
    seasons={
        "foreign_passport": ((135, 35, 1.3), (350, 15, 0.3)),  # before summer holidays and New Year trips
        "kindergarten_enrollment": ((105, 30, 1.2), (240, 15, 0.5)),
        "school_enrollment": ((93, 5, 6.0), (188, 6, 2.0), (200, 60, -0.6)),  # 1 April and 6 July openings
        "child_benefit": ((20, 20, 0.6), (245, 20, 0.5)),
        "tax_deduction": ((75, 35, 1.0), (118, 6, 1.2)),  # the 3-НДФЛ deadline is 30 April
        "housing_subsidy": ((15, 60, 0.5), (290, 25, 0.4)),
        "vehicle_registration": ((150, 50, 0.5),),
        "medical_appointment": ((30, 40, 0.4), (310, 30, 0.3), (200, 30, -0.3)),
        "property_registration": ((170, 60, 0.35),),
        "pension_recalculation": ((25, 15, 0.8), (220, 15, 0.3)),  # January indexation, August recalculation
        "business_registration": ((20, 15, 0.6), (200, 40, -0.2)),
        "student_transport_card": ((245, 12, 2.0), (38, 10, 0.6)),
        "passport_issue": ((200, 40, 0.2),),
        "birth_registration": ((200, 60, 0.15),),
        "disability_rehab_means": ((100, 60, 0.15),),
    },
    trends={"medical_appointment": 0.05, "passport_issue": -0.05, "business_registration": 0.12,
            "child_benefit": 0.1, "pension_recalculation": 0.04, "foreign_passport": 0.08,
            "tax_deduction": 0.06},
    topics=(
        TopicPlan("mfc_queues", 4.5, {"pensioners": 3, "families": 2, "youth": 1, "business": 0.7,
                                      "students": 0.5, "disabled": 1.2}, None, COMPLAINT, OFFICE),
        TopicPlan("portal_errors", 4.0, {"youth": 3, "students": 2.5, "business": 2, "families": 2,
                                         "pensioners": 0.6, "disabled": 0.5}, None, ANGRY, ONLINE),
        TopicPlan("staff_praise", 3.5, {"pensioners": 2.5, "families": 1.5, "youth": 1, "business": 0.8,
                                        "students": 0.6, "disabled": 1.5}, None, PRAISE, OFFICE),
        TopicPlan("staff_rudeness", 1.2, {"pensioners": 1.5, "families": 1, "youth": 1, "business": 0.5,
                                          "students": 0.5, "disabled": 1}, None, ANGRY, OFFICE),
        TopicPlan("processing_delays", 2.5, {"youth": 2, "families": 1.5, "business": 1.5, "pensioners": 1,
                                             "students": 1, "disabled": 0.5},
                  ("passport_issue", "foreign_passport", "property_registration", "vehicle_registration",
                   "housing_subsidy"), COMPLAINT, ANY),
        TopicPlan("parking_access", 1.2, {"disabled": 3, "pensioners": 1.5, "families": 1.5, "business": 0.5},
                  (), COMPLAINT, OFFICE),
        TopicPlan("pension_recalc", 2.0, {"pensioners": 5, "disabled": 1},
                  ("pension_recalculation", "pension_assignment"), QUESTION, ANY),
        TopicPlan("child_benefits", 2.2, {"families": 5, "youth": 0.5, "students": 0.3},
                  ("child_benefit", "birth_registration"), QUESTION, ANY),
        TopicPlan("business_taxes", 1.6, {"business": 5, "youth": 0.6},
                  ("business_registration", "tax_deduction"), QUESTION, ANY),
        TopicPlan("kindergarten_queue", 1.0, {"families": 5, "youth": 0.3},
                  ("kindergarten_enrollment", "school_enrollment"), COMPLAINT, ANY),
        TopicPlan("medical_booking", 2.0, {"pensioners": 3, "families": 2, "disabled": 2, "youth": 0.7,
                                           "students": 0.5},
                  ("medical_appointment",), COMPLAINT, ONLINE | {"hotline": 2}),
        # The emerging topic: its volume comes from `emerging`, not from `daily`.
        TopicPlan("electronic_certificate", 0.0, {"pensioners": 1}, ("disability_rehab_means",), ANGRY,
                  ANY | {"hotline": 2.5}),
    ),
    emerging=(Emergence("electronic_certificate", "pensioners", 24, 5.0),),
    steady=("mfc_queues", "portal_errors", "staff_praise"),
)

EVENTS = replace(
    SAMPLE,
    campaigns=(
        Campaign("СМС-информирование о едином пособии", 610, "child_benefit", "families"),
        Campaign("Рассылка о перерасчёте пенсии после 80 лет", 430, "pension_recalculation", "pensioners"),
        Campaign("Приглашения на диспансеризацию через Госуслуги", 260, "medical_appointment", "pensioners"),
        Campaign("Напоминание о налоговом вычете за лечение и обучение", 110, "tax_deduction", "families"),
    ),
)

ALT = WorldSpec(
    catalogue=ALT_SERVICES,
    regions={"city": 1.0, "east": 0.5, "west": 0.4},
    mix={
        "seniors": {"transport_card": 6, "utility_subsidy": 8, "home_care_services": 4,
                    "social_support_card": 5, "heating_repair_request": 2, "waste_removal_request": 1.5,
                    "library_card": 1},
        "parents": {"school_meals_compensation": 7, "sports_section_enrollment": 5, "utility_subsidy": 3,
                    "social_support_card": 2, "waste_removal_request": 1, "parking_permit": 1},
        "commuters": {"transport_card": 10, "parking_permit": 4, "road_repair_request": 1.5},
        "disabled": {"social_taxi": 6, "home_care_services": 3, "transport_card": 2, "utility_subsidy": 2},
        "students": {"transport_card": 8, "library_card": 5, "sports_section_enrollment": 2},
        "rural": {"heating_repair_request": 2.5, "waste_removal_request": 2, "road_repair_request": 1.5,
                  "utility_subsidy": 3, "social_support_card": 1},
    },
    seasons={
        "school_meals_compensation": ((245, 15, 2.5), (200, 35, -0.95)),  # September; nothing in summer
        "sports_section_enrollment": ((250, 20, 1.5), (15, 15, 0.4)),
        "heating_repair_request": ((20, 45, 0.8), (290, 12, 1.5)),  # cold snaps and the heating-season start
        "transport_card": ((245, 10, 1.0), (15, 8, 0.5)),
        "library_card": ((265, 25, 0.8),),
        "road_repair_request": ((100, 30, 1.0),),
        "waste_removal_request": ((130, 45, 0.6),),
        "home_care_services": ((20, 50, 0.2),),
    },
    trends={"social_taxi": 0.08, "home_care_services": 0.06, "parking_permit": 0.1, "library_card": -0.05},
    topics=(
        TopicPlan("garbage_collection", 5.0, {"seniors": 1, "parents": 1, "commuters": 1, "disabled": 1,
                                              "students": 1, "rural": 1},
                  ("waste_removal_request",), COMPLAINT, ANY),
        TopicPlan("office_queues", 3.5, {"seniors": 3, "parents": 1.5, "disabled": 2, "rural": 1}, None,
                  COMPLAINT, OFFICE),
        TopicPlan("staff_gratitude", 3.0, {"seniors": 2, "parents": 1, "commuters": 0.5, "disabled": 1.5,
                                           "students": 0.7, "rural": 1}, None, PRAISE,
                  OFFICE | {"survey": 3}),
        TopicPlan("bus_punctuality", 2.5, {"commuters": 4, "students": 3, "seniors": 1, "rural": 2},
                  ("transport_card",), COMPLAINT, ANY),
        TopicPlan("street_lighting", 1.5, {"seniors": 1, "parents": 1, "commuters": 1, "rural": 2}, (),
                  COMPLAINT, ANY),
        TopicPlan("road_potholes", 2.0, {"commuters": 3, "rural": 3, "parents": 1}, ("road_repair_request",),
                  COMPLAINT, ANY),
        TopicPlan("stray_dogs", 1.0, {"parents": 2, "seniors": 2, "rural": 1}, (), COMPLAINT, ANY),
        TopicPlan("library_wifi", 1.0, {"students": 4, "seniors": 1}, ("library_card",), COMPLAINT, ANY),
        # Led by a service without seasonality, so the heating season does not pass for an emerging need.
        TopicPlan("heating_hot_water", 2.0, {"seniors": 2, "rural": 2, "parents": 1},
                  ("utility_subsidy", "heating_repair_request"), ANGRY, ANY),
        TopicPlan("school_meals_quality", 1.2, {"parents": 5}, ("school_meals_compensation",), COMPLAINT,
                  ANY),
        TopicPlan("playgrounds", 1.0, {"parents": 3, "seniors": 0.5}, (), COMPLAINT, ANY),
        TopicPlan("social_taxi_booking", 0.0, {"disabled": 1}, ("social_taxi",), ANGRY,
                  ANY | {"hotline": 3}),
        TopicPlan("school_meal_card", 0.0, {"parents": 1}, ("school_meals_compensation",), ANGRY, ANY),
        TopicPlan("route_network_reform", 0.0, {"commuters": 1}, ("transport_card",), ANGRY,
                  ANY | {"social": 3}),
    ),
    emerging=(Emergence("social_taxi_booking", "disabled", 34, 3.0),
              Emergence("school_meal_card", "parents", 24, 4.0),
              Emergence("route_network_reform", "commuters", 15, 6.0)),
    steady=("garbage_collection", "office_queues", "staff_gratitude"),
    english_share=0.06,
)

LEADS = replace(
    SAMPLE,
    leads=(
        Lead("child_benefits", "child_benefit", "families", (700, 530, 390, 240, 56)),
        Lead("pension_recalc", "pension_recalculation", "pensioners", (650, 470, 330, 190, 70)),
        Lead("processing_delays", "foreign_passport", "youth", (610, 450, 300, 160, 63)),
    ),
)

EVERYONE = {"pensioners": 1.0, "youth": 1.0, "families": 1.0, "business": 0.5, "students": 0.8, "disabled": 0.6}
RARE = replace(
    SAMPLE,
    topics=(
        *SAMPLE.topics,
        # Five more everyday topics (the alt world's wording) make the background less easy to split.
        TopicPlan("garbage_collection", 3.0, EVERYONE, (), COMPLAINT, ANY),
        TopicPlan("street_lighting", 1.5, EVERYONE, (), COMPLAINT, ANY),
        TopicPlan("road_potholes", 2.0, EVERYONE, (), COMPLAINT, ANY),
        TopicPlan("heating_hot_water", 2.0, EVERYONE, ("housing_subsidy",), ANGRY, ANY),
        TopicPlan("bus_punctuality", 2.0, EVERYONE | {"students": 3.0}, ("student_transport_card",), COMPLAINT,
                  ANY),
        TopicPlan("social_taxi_booking", 0.0, {"disabled": 1}, (), ANGRY, ANY | {"hotline": 3}),
    ),
    emerging=(Emergence("electronic_certificate", "pensioners", 24, share=0.002),
              Emergence("social_taxi_booking", "disabled", 30, share=0.002)),
    feedback_texts=100_000,
    feedback_days=400,  # a year of training and the weeks before: keeps a big world quick to write
)

SPECS = {"sample": SAMPLE, "alt": ALT, "events": EVENTS, "leads": LEADS, "rare": RARE}


def _calendar(days: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Per day: whether it is a public holiday, and the bounce factor of the working days after a break.

    A break is a run of >= 3 days off; the first working days after it get extra demand that grows with
    the break's length (the New Year break gives the largest) and fades over four working days.
    """
    table = holidays.Russia(years=range(days[0].year, days[-1].year + 1))
    is_holiday = np.array([d.date() in table for d in days])
    is_off = is_holiday | (days.dayofweek >= 5)
    bounce = np.ones(len(days))
    run, k, strength = 0, 99, 0.0
    fade = (1.0, 0.55, 0.3, 0.12)
    for i, off in enumerate(is_off):
        if off:
            run += 1
            continue
        if run >= 3:
            k, strength = 0, 0.15 + 0.05 * min(run, 10)
        run = 0
        if k < len(fade):
            bounce[i] += strength * fade[k]
            k += 1
    return is_holiday, bounce


def _season(days: pd.DatetimeIndex, bumps: tuple[tuple[int, int, float], ...]) -> np.ndarray:
    """A yearly profile with mean 1: Gaussian bumps (or dips) on the circular day of year."""
    doy = np.arange(1, 367)
    prof = np.ones(366)
    for centre, width, amp in bumps:
        dist = np.minimum(np.abs(doy - centre), 366 - np.abs(doy - centre))
        prof += amp * np.exp(-0.5 * (dist / width) ** 2)
    prof = np.clip(prof, 0.03, None)
    prof /= prof.mean()
    return prof[days.dayofyear.to_numpy() - 1]


def _usage(spec: WorldSpec, days: pd.DatetimeIndex, rng: np.random.Generator, is_holiday: np.ndarray,
           bounce: np.ndarray) -> pd.DataFrame:
    """Daily counts per (service, segment, region), negative-binomial around a seasonal, trending mean."""
    t_years = np.arange(len(days)) / 365.25
    # Offices close on holidays (a duty window stays open); the day before a holiday is a little busier.
    calendar = np.where(is_holiday, 0.06, WEEKDAY[days.dayofweek.to_numpy()]) * bounce
    calendar[:-1] *= np.where(is_holiday[1:] & ~is_holiday[:-1], 1.1, 1.0)
    campaigns = {(c.service, c.segment): c for c in spec.campaigns}
    frames = []
    keys = [(g, s, r) for g, services in spec.mix.items() for s in services for r in spec.regions]
    # One generator per series, so a campaign in one series leaves every other series' draws unchanged.
    for (segment, service, region), series_rng in zip(keys, rng.spawn(len(keys)), strict=True):
        base, scale = spec.mix[segment][service], spec.regions[region]
        season = _season(days, spec.seasons.get(service, ()))
        growth = spec.trends.get(service, 0.0) + series_rng.normal(0, 0.04)
        wiggle = 1 + 0.06 * np.sin(2 * np.pi * np.arange(len(days)) / series_rng.uniform(120, 300)
                                   + series_rng.uniform(0, 2 * np.pi))
        mean = base * scale * season * calendar * np.exp(growth * t_years) * wiggle
        campaign = campaigns.get((service, segment))
        if campaign is not None and campaign.days_before_end <= len(days):
            start = len(days) - campaign.days_before_end
            mean[start:start + campaign.length] *= campaign.lift
        for lead in spec.leads:
            if (lead.service, lead.segment) == (service, segment):
                mean *= np.where(_waves(len(days), lead.starts, lead.length, shift=lead.lead_days), lead.lift, 1.0)
        r = series_rng.uniform(4, 20)  # lower r, wider noise
        counts = series_rng.negative_binomial(r, r / (r + mean))
        # Zero days are mostly left out, as an extract of request logs would; a few are written.
        keep = (counts > 0) | (series_rng.random(len(days)) < 0.02)
        frames.append(pd.DataFrame({"date": days[keep].strftime("%Y-%m-%d"), "service": service,
                                    "segment": segment, "region": region, "count": counts[keep]}))
    usage = pd.concat(frames, ignore_index=True).sort_values(["date", "service", "segment", "region"])
    return usage[USAGE.names].reset_index(drop=True)


def _feedback(spec: WorldSpec, days: pd.DatetimeIndex, rng: np.random.Generator, is_holiday: np.ndarray,
              bounce: np.ndarray) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Feedback rows (with a `topic` and `pii` column) and the planted emerging topics."""
    rnd = random.Random(int(rng.integers(2**63)))  # stdlib Random composes texts fast; seeded from rng
    n = len(days)
    weekly = np.array([1.0, 1.0, 1.0, 1.0, 0.95, 0.75, 0.6])  # portals and apps work on weekends too
    day_factor = np.where(is_holiday, 0.55, weekly[days.dayofweek.to_numpy()]) * (1 + 0.5 * (bounce - 1))
    if spec.feedback_days is not None:
        day_factor[: max(n - spec.feedback_days, 0)] = 0.0
    emerging = {e.topic: e for e in spec.emerging}
    rates: dict[str, np.ndarray] = {}
    for plan in spec.topics:
        if plan.topic not in emerging:
            # A topic about a seasonal service follows that season, damped: people write less than they ask.
            main = plan.services[0] if plan.services else ""
            rates[plan.topic] = plan.daily * (0.6 + 0.4 * _season(days, spec.seasons.get(main, ())))
    if spec.feedback_texts is not None:
        # Texts a year at these rates, from the last year (or all of a shorter history).
        year = 365 * sum((r * day_factor)[-365:].mean() for r in rates.values())
        rates = {t: r * (spec.feedback_texts / year) for t, r in rates.items()}
    for e in spec.emerging:
        k = np.arange(n) - (n - e.days)
        ramp = np.clip((k + 1) / (0.6 * e.days), 0.1, 1.0)
        if e.share > 0:
            # The same shape with a trickle of 0.24% of the peak before the start, scaled to the share.
            shape = np.where(k < 0, 0.0024, ramp)
            stream = sum((r * day_factor)[-RECENT_DAYS:].sum() for r in rates.values())
            rates[e.topic] = shape * e.share * stream / (shape * day_factor)[-RECENT_DAYS:].sum()
        else:
            # Before the start a rare trickle; then a ramp over the first 60% of the window to the peak.
            rates[e.topic] = np.where(k < 0, 0.012, e.peak * ramp)
    rows: list[dict[str, Any]] = []
    for plan in spec.topics:
        rows += _texts(spec, plan, rng.poisson(rates[plan.topic] * day_factor), days, rng, rnd)
    for lead in spec.leads:
        rate = np.where(_waves(n, lead.starts, lead.length), lead.daily, 0.0)
        rows += _texts(spec, lead.plan, rng.poisson(rate * day_factor), days, rng, rnd)
    frame = pd.DataFrame(rows).sort_values("created_at", kind="stable").reset_index(drop=True)
    frame["id"] = [f"fb-{i:06d}" for i in range(1, len(frame) + 1)]
    frame["rating"] = frame["rating"].astype("Int64")
    planted = []
    for e in spec.emerging:
        start = days[n - e.days]
        mask = (frame["topic"] == e.topic) & (frame["segment"] == e.segment) & (frame["created_at"] >= start)
        planted.append({"segment": e.segment, "topic": e.topic, "label": PHRASES[e.topic].label,
                        "start": start.date().isoformat(), "ids": frame.loc[mask, "id"].tolist()})
        if e.share > 0:  # what the draw gave: the topic's share of the last RECENT_DAYS days' texts
            recent = frame["created_at"] >= days[n - RECENT_DAYS]
            mine = recent & (frame["topic"] == e.topic) & (frame["segment"] == e.segment)
            planted[-1]["recent_share"] = round(float(mine.sum() / recent.sum()), 5)
    frame["created_at"] = frame["created_at"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    return frame, planted


def _waves(n: int, starts: tuple[int, ...], length: int, shift: int = 0) -> np.ndarray:
    """Whether each of `n` days is inside a wave; waves start `starts` days before the end, plus `shift`."""
    inside = np.zeros(n, bool)
    for before in starts:
        first = n - before + shift
        inside[max(first, 0):max(first + length, 0)] = True
    return inside


def _texts(spec: WorldSpec, plan: TopicPlan, counts: np.ndarray, days: pd.DatetimeIndex, rng: np.random.Generator,
           rnd: random.Random) -> list[dict[str, Any]]:
    """`counts[i]` feedback rows of `plan` on day i: writer, channel, region, rating, language, time, text."""
    regions, region_p = list(spec.regions), np.array(list(spec.regions.values()))
    rows: list[dict[str, Any]] = []
    total = int(counts.sum())
    day_idx = np.repeat(np.arange(len(days)), counts)
    segs, seg_w = list(plan.segments), np.array(list(plan.segments.values()), dtype=float)
    segment = rng.choice(segs, size=total, p=seg_w / seg_w.sum())
    chans, chan_w = list(plan.channels), np.array(list(plan.channels.values()), dtype=float)
    channel = rng.choice(chans, size=total, p=chan_w / chan_w.sum())
    region = rng.choice(regions, size=total, p=region_p / region_p.sum())
    rating = rng.choice(np.arange(1, 6), size=total, p=np.array(plan.ratings) / sum(plan.ratings))
    english = rng.random(total) < spec.english_share
    pii = rng.random(total) < 0.03
    lo = np.array([HOURS[c][0] for c in channel])
    hi = np.array([HOURS[c][1] for c in channel])
    seconds = ((lo + rng.random(total) * (hi - lo)) * 3600).astype(np.int64).clip(0, 86399)
    created = days.to_numpy()[day_idx] + seconds.astype("timedelta64[s]")
    for i in range(total):
        text = compose_text(plan.topic, rnd, english=bool(english[i]))
        if pii[i]:
            text = f"{text} {personal_data(rnd, english=bool(english[i]))}"
        rows.append({"created_at": created[i], "text": text, "segment": segment[i],
                     "service": _service_for(spec, plan, segment[i], rnd), "region": region[i],
                     "rating": None if channel[i] == "social" else int(rating[i]), "channel": channel[i],
                     "topic": plan.topic, "pii": bool(pii[i])})
    return rows


def _service_for(spec: WorldSpec, plan: TopicPlan, segment: str, rnd: random.Random) -> str:
    """The service a text is about: one its writer's segment uses where the topic allows, else often none."""
    used = spec.mix[segment]
    if plan.services is None:
        if rnd.random() < 0.6:
            return rnd.choices(list(used), weights=list(used.values()))[0]
        return ""
    fitting = [s for s in plan.services if s in used] or (list(plan.services) if rnd.random() < 0.5 else [])
    return rnd.choice(fitting) if fitting else ""


def generate_world(out_dir: Path, *, world: str = "sample", seed: int = 7, end: date | None = None,
                   days: int = 760, feedback_texts: int | None = None, need_share: float | None = None) -> WorldFiles:
    """Write one generated world's CSV files and its truth into `out_dir` (created if missing).

    `end` is the last day of data (default `DEFAULT_END`, so a seed always gives the same files); the
    history covers `days` days up to it. Planted topics start a few weeks before `end`. `feedback_texts`
    (steady topics' texts in the last 365 days) and `need_share` (each planted topic's share of the last
    `RECENT_DAYS` days) override the world's volume and its planted topics' strength.
    """
    if world not in SPECS:
        raise ValueError(f"unknown world {world!r}; choose one of {', '.join(WORLDS)}")
    if days < 60:
        raise ValueError("days must be at least 60: planted topics start up to five weeks before the end")
    spec = SPECS[world]
    if feedback_texts is not None:
        spec = replace(spec, feedback_texts=feedback_texts)
    if need_share is not None:
        spec = replace(spec, emerging=tuple(replace(e, share=need_share) for e in spec.emerging))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    last = pd.Timestamp(end or DEFAULT_END)
    dates = pd.date_range(end=last, periods=days, freq="D")
    is_holiday, bounce = _calendar(dates)

    usage_rng, feedback_rng = rng.spawn(2)
    usage = _usage(spec, dates, usage_rng, is_holiday, bounce)
    feedback, planted = _feedback(spec, dates, feedback_rng, is_holiday, bounce)
    services = pd.DataFrame(list(spec.catalogue), columns=SERVICES.names)

    paths = {name: out_dir / f"{name}.csv" for name in ("usage", "feedback", "services", "feedback_topics")}
    usage.to_csv(paths["usage"], index=False)
    feedback[["id", *[c for c in FEEDBACK.names if c != "id"]]].to_csv(paths["feedback"], index=False)
    services.to_csv(paths["services"], index=False)
    feedback[["id", "topic"]].to_csv(paths["feedback_topics"], index=False)
    write_catalogues(out_dir, spec.mix, spec.regions)  # segments.csv, regions.csv: names of the codes

    topic_names = [p.topic for p in spec.topics]
    truth = {
        "world": world, "seed": seed, "start": dates[0].date().isoformat(), "end": last.date().isoformat(),
        "segments": list(spec.mix), "regions": list(spec.regions), "services": [s[0] for s in spec.catalogue],
        "series": int(usage.groupby(["service", "segment", "region"]).ngroups), "usage_rows": len(usage),
        "feedback_rows": len(feedback),
        "topics": {t: PHRASES[t].label for t in topic_names},
        "topic_counts": {t: int((feedback["topic"] == t).sum()) for t in topic_names},
        "steady": list(spec.steady),
        "planted": planted,
        "events": [{"name": c.name,
                    "start": (last - pd.Timedelta(days=c.days_before_end - 1)).date().isoformat(),
                    "end": (last - pd.Timedelta(days=c.days_before_end - c.length)).date().isoformat(),
                    "services": [c.service], "segments": [c.segment], "lift": c.lift}
                   for c in spec.campaigns],
        "pii_ids": feedback.loc[feedback["pii"], "id"].tolist(),
        "feedback_topics": paths["feedback_topics"].name,
    }
    if spec.leads:  # only in worlds with leads, so the other worlds' truth stays as it was
        def day(before: int, offset: int = 0) -> str:
            return (last - pd.Timedelta(days=before - 1 - offset)).date().isoformat()

        truth["leads"] = [{"topic": lead.topic, "service": lead.service, "segment": lead.segment,
                           "complaints_start": day(b), "complaints_end": day(b, lead.length - 1),
                           "demand_start": day(b, lead.lead_days),
                           "demand_end": day(b, lead.lead_days + lead.length - 1), "lift": lead.lift}
                          for lead in spec.leads for b in lead.starts]
    truth_file = out_dir / "truth.json"
    truth_file.write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
    return WorldFiles(usage=paths["usage"], feedback=paths["feedback"], services=paths["services"],
                      truth_file=truth_file, topics_file=paths["feedback_topics"], truth=truth)
