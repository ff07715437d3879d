"""GET /v1/needs/emerging and /v1/needs/topics: emerging needs and topic volumes from citizen feedback.

Before any needs run both answer 200 with no items, or 503 `{"status": "training"}` with `Retry-After` while a
training (which trains the needs) is queued or running, as in the first minutes of `needcast demo`; a segment the
served snapshot has never seen is a 404 naming it (a typo should not look like "nothing is emerging").
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from api.deps import EngineDep, PlannerDep, SettingsDep
from api.routes.catalogues import LangQuery, NamesDep
from api.schemas import AUTH_ERRORS, error
from forecast.need_status import apply_statuses, load_statuses
from forecast.needs import NeedsCache, ServedNeeds
from forecast.small_cells import suppress_emerging, suppress_topics
from jobs.queue import active_job

router = APIRouter(prefix="/v1/needs", tags=["needs"], responses=AUTH_ERRORS)


class NeedsModelRef(BaseModel):
    name: str
    version: str
    trained_at: str


class FeedbackExample(BaseModel):
    id: str
    text: str
    created_at: str


class EmergingNeed(BaseModel):
    """A need of fewer than NEEDCAST_MIN_CELL feedback texts has its label, counts, rating and examples null."""

    topic_id: int
    label: str | None
    keywords: list[str] | None
    segment: str
    segment_name: str | None = None
    status: str = Field("new", description="new, acknowledged, in_work, resolved or dismissed (the needs loop)")
    owner: str | None = None
    regrown: bool = Field(False, description="dismissed, but grown again since")
    recent_count: int | None
    baseline_count: int | None
    growth: float | None
    score: float | None
    first_seen: dt.date
    mean_rating: float | None = None
    p_value: float | None = None
    q_value: float | None = None
    examples: list[FeedbackExample] | None
    suppressed: bool = Field(False, description="too few respondents: the values above are withheld (null)")
    min_cell: int | None = Field(None, description="the smallest cell shown, when suppressed")


class EmergingResponse(BaseModel):
    model: NeedsModelRef | None = None
    as_of: dt.date | None = None
    recent_days: int | None = None
    baseline_days: int | None = None
    items: list[EmergingNeed]

    model_config = {"protected_namespaces": (), "json_schema_extra": {"examples": [{
        "model": {"name": "needcast-needs", "version": "4", "trained_at": "2026-11-01T10:00:00+00:00"},
        "as_of": "2026-10-31", "recent_days": 21, "baseline_days": 84,
        "items": [{"topic_id": 17, "label": "запись к врачу · ошибка · портал",
                   "keywords": ["запись к врачу", "ошибка", "портал", "госуслуги"], "segment": "pensioners",
                   "recent_count": 42, "baseline_count": 9, "growth": 14.1, "score": 41.7,
                   "first_seen": "2026-10-12", "mean_rating": 1.8, "p_value": 1.2e-12, "q_value": 3.1e-11,
                   "examples": [{"id": "fb-1043", "text": "Не могу записаться к врачу через портал, ошибка.",
                                 "created_at": "2026-10-29T09:14:00"}]}],
    }]}}


class TopicVolume(BaseModel):
    period: dt.date
    count: int | None
    suppressed: bool = False


class TopicOut(BaseModel):
    """A topic of fewer than NEEDCAST_MIN_CELL texts is withheld whole; smaller segment or period counts are null."""

    topic_id: int
    label: str | None
    keywords: list[str] | None
    count: int | None
    segments: dict[str, int | None] | None
    volume: list[TopicVolume] | None
    suppressed: bool = False
    min_cell: int | None = None


class TopicsResponse(BaseModel):
    model: NeedsModelRef | None = None
    freq: str | None = None
    data_until: dt.date | None = None
    items: list[TopicOut]

    model_config = {"protected_namespaces": (), "json_schema_extra": {"examples": [{
        "model": {"name": "needcast-needs", "version": "4", "trained_at": "2026-11-01T10:00:00+00:00"},
        "freq": "W", "data_until": "2026-10-31",
        "items": [{"topic_id": 3, "label": "очередь в мфц · ожидание · талон",
                   "keywords": ["очередь в мфц", "ожидание", "талон"], "count": 812,
                   "segments": {"pensioners": 420, "families": 392},
                   "volume": [{"period": "2026-10-19", "count": 61}, {"period": "2026-10-26", "count": 58}]}],
    }]}}


def served_needs(request: Request) -> ServedNeeds | None:
    """The served needs snapshot of this process (None before the first needs run)."""
    cache = getattr(request.app.state, "needs_cache", None)
    if cache is None:
        settings = getattr(request.app.state, "settings", None)
        cache = NeedsCache(request.app.state.engine, ttl_s=getattr(settings, "reload_interval_s", 10.0))
        request.app.state.needs_cache = cache
    return cache.get()


NeedsDep = Annotated[ServedNeeds | None, Depends(served_needs)]
UNKNOWN_SEGMENT = error("the segment has no feedback in the served snapshot",
                        "segment: no feedback from segment 'pensioner'")
SegmentQuery = Annotated[str | None, Query(min_length=1, max_length=200, examples=["pensioners"])]


NEEDS_TRAINING = {"description": "no needs served yet, and a training that makes them is queued or running",
                  "content": {"application/json": {"example": {
                      "status": "training", "detail": "the needs model is still training: retry later",
                      "job_id": "5f0c2a9e41b7d3c8"}}}}
RETRY_TRAINING_S = 15


def needs_training(engine: Engine) -> str | None:
    """The id of the queued or running training that will serve the first needs (every training trains them)."""
    return active_job(engine, "train")


def _no_needs_yet(engine: Engine) -> dict | JSONResponse:
    """The answer before the first needs run: 503 `training` while one is on its way, else no items."""
    job_id = needs_training(engine)
    if job_id is None:
        return {"items": []}
    return JSONResponse({"status": "training", "detail": "the needs model is still training: retry later",
                         "job_id": job_id}, status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": str(RETRY_TRAINING_S)})


def _check_segment(needs: ServedNeeds, segment: str | None) -> None:
    if segment is not None and segment not in needs.segments:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"segment: no feedback from segment {segment!r}")


@router.get("/emerging", response_model=EmergingResponse,
            responses={404: UNKNOWN_SEGMENT, 503: NEEDS_TRAINING})
def get_emerging(
    _: PlannerDep,
    needs: NeedsDep,
    engine: EngineDep,
    names: NamesDep,
    settings: SettingsDep,
    segment: SegmentQuery = None,
    limit: Annotated[int, Query(ge=1, le=200, description="most items returned")] = 20,
    lang: LangQuery = "ru",
) -> dict:
    """Topics whose share of a segment's feedback rose significantly of late, most significant first.

    Each carries where it stands in the needs loop; dismissed needs are left out unless they grew again.
    """
    if needs is None:
        return _no_needs_yet(engine)
    _check_segment(needs, segment)
    snap = needs.snapshot
    items = apply_statuses(needs.emerging(segment, 100_000), load_statuses(engine, segment))[:limit]
    items = [{**i, "segment_name": names.name("segment", i["segment"], lang)}
             for i in suppress_emerging(items, settings.min_cell)]
    return {"model": snap.model or None, "as_of": snap.as_of, "recent_days": snap.settings.get("recent_days"),
            "baseline_days": snap.settings.get("baseline_days"), "items": items}


@router.get("/topics", response_model=TopicsResponse,
            responses={404: UNKNOWN_SEGMENT, 503: NEEDS_TRAINING})
def get_topics(_: PlannerDep, needs: NeedsDep, settings: SettingsDep, engine: EngineDep,
               segment: SegmentQuery = None) -> dict:
    """Every topic with its feedback count per period (all segments, or one), largest first."""
    if needs is None:
        return _no_needs_yet(engine)
    _check_segment(needs, segment)
    snap = needs.snapshot
    return {"model": snap.model or None, "freq": snap.freq, "data_until": snap.data_until,
            "items": suppress_topics(needs.topics(segment), settings.min_cell)}
