"""Segments for planners and proactive suggestions for portals, answered from memory."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel, Field

from api.deps import LiveDep, PlannerDep, PortalDep, SettingsDep
from api.routes.needs import NeedsDep
from api.schemas import AUTH_ERRORS, NO_CHAMPION, error
from forecast.small_cells import hidden_need_labels, suppress_segments

router = APIRouter(prefix="/v1", tags=["segments"], responses=AUTH_ERRORS)


class SegmentOut(BaseModel):
    segment: str
    series: int
    services: list[str]
    regions: list[str]
    recent_volume: float
    previous_volume: float
    trend: float | None
    mean_rating: float | None
    recent_mean_rating: float | None
    feedback_count: int | None
    recent_feedback_count: int | None = None
    suppressed: bool = Field(False, description="fewer feedback texts than NEEDCAST_MIN_CELL: ratings are null")


class SegmentsResponse(BaseModel):
    model_version: str
    items: list[SegmentOut]

    model_config = {"json_schema_extra": {"examples": [{
        "model_version": "3",
        "items": [{"segment": "pensioners", "series": 12, "services": ["passport_issue", "pension_assign"],
                   "regions": ["center", "north"], "recent_volume": 1840.0, "previous_volume": 1712.0,
                   "trend": 0.07, "mean_rating": 3.9, "recent_mean_rating": 3.6, "feedback_count": 412}],
    }]}}


class SuggestionOut(BaseModel):
    service: str
    name: str
    score: float
    reasons: list[str]


class SuggestionsResponse(BaseModel):
    segment: str
    items: list[SuggestionOut]

    model_config = {"json_schema_extra": {"examples": [{
        "segment": "pensioners",
        "items": [{"service": "disability_rehab_means", "name": "Обеспечение техническими средствами реабилитации",
                   "score": 0.41, "reasons": ["растёт новая потребность «электронный сертификат · тср» (рост ×6.2)"]}],
    }]}}


def _insights(live: LiveDep) -> dict:
    if live.forecasts is None or live.insights is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no champion model loaded yet: train first")
    return live.insights


@router.get("/segments", response_model=SegmentsResponse, responses=NO_CHAMPION)
async def get_segments(_: PlannerDep, live: LiveDep, settings: SettingsDep) -> dict:
    """Each segment with its series, recent volume, trend (forecast vs recent) and mean satisfaction.

    Ratings of fewer than NEEDCAST_MIN_CELL feedback texts are withheld (null, `suppressed: true`).
    """
    insights = _insights(live)
    return {"model_version": live.forecasts.version,
            "items": suppress_segments(insights["segments"], settings.min_cell)}


@router.get("/segments/{segment}/suggestions", response_model=SuggestionsResponse,
            responses={404: error("unknown segment", "segment: unknown segment 'pensioner'"), **NO_CHAMPION})
async def get_suggestions(
    _: PortalDep,
    live: LiveDep,
    settings: SettingsDep,
    needs: NeedsDep,
    segment: Annotated[str, Path(max_length=200, examples=["pensioners"])],
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
    lang: Annotated[Literal["ru", "en"], Query()] = "ru",
) -> dict:
    """Services to propose to a segment, best first, each with the reasons behind it (ru or en)."""
    suggestions = _insights(live)["suggestions"]
    if segment not in suggestions:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"segment: unknown segment {segment!r}")
    # A reason must not name an emerging need of fewer than NEEDCAST_MIN_CELL texts.
    hidden = hidden_need_labels(needs.snapshot.emerging, segment, settings.min_cell) if needs is not None else set()
    items = [{"service": i["service"], "name": i["name"], "score": i["score"],
              "reasons": [r for r in i["reasons"][lang] if not any(label in r for label in hidden)]}
             for i in suggestions[segment][:limit]]
    return {"segment": segment, "items": items}
